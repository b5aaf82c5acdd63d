/** One thing wrong with the configuration: where (key path, variable or file) and what. */
export interface ConfigProblem {
  readonly key: string;
  readonly problem: string;
}

/**
 * Thrown by loadConfig for every configuration failure, so startup reports one clear cause.
 * The message has one line per problem: `invalid config: <key>: <what was wrong>`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Key path (e.g. `server.port`), environment variable or file of the first problem. */
  readonly key: string;
  readonly problems: readonly ConfigProblem[];

  constructor(key: string, problem: string, more: readonly ConfigProblem[] = []) {
    const problems = [{ key, problem }, ...more];
    super(problems.map((p) => `invalid config: ${p.key}: ${p.problem}`).join('\n'));
    this.key = key;
    this.problems = problems;
  }

  static fromProblems(problems: readonly [ConfigProblem, ...ConfigProblem[]]): ConfigError {
    const [first, ...more] = problems;
    return new ConfigError(first.key, first.problem, more);
  }
}
