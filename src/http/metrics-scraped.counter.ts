import { Counter, Registry } from 'prom-client';

export interface ScrapedCounterOptions {
  registry: Registry;
  name: string;
  help: string;
  label: string;
  /** Current totals by label value, read at scrape time (values of one label are summed). */
  read: () => Iterable<readonly [string, number]>;
}

/**
 * A Prometheus counter whose values live elsewhere as plain numbers (a Map the
 * hot path increments): copied in when scraped, so counting costs the hot path
 * nothing beyond its own add.
 */
export function scrapedCounter(options: ScrapedCounterOptions): Counter<string> {
  const { registry, name, help, label, read } = options;
  return new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect(this: Counter<string>) {
      const totals = new Map<string, number>();
      for (const [value, n] of read()) totals.set(value, (totals.get(value) ?? 0) + n);
      this.reset();
      for (const [value, n] of totals) this.inc({ [label]: value }, n);
    },
  });
}
