import { GeneratorPool } from './generator.pool';
import { BenchOptions } from './options';
import { Progress } from './progress';

/** What every scenario gets from the orchestrator. */
export interface BenchContext {
  opts: BenchOptions;
  pool: GeneratorPool;
  progress: Progress;
  /** Observations for the report (limits hit, errors, generator saturation). */
  notes: string[];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
