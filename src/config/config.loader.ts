import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { DEV_JWT_SECRET } from './config.constants.js';
import { ConfigError, type ConfigProblem } from './config.error.js';
import {
  longlinkConfigSchema,
  type LonglinkConfig,
  type LonglinkConfigInput,
} from './longlink-config.js';

/** Every key optional at every depth; arrays are replaced whole, never merged. */
export type DeepPartial<T> = T extends readonly (infer U)[]
  ? readonly U[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export type LonglinkConfigOverrides = DeepPartial<LonglinkConfigInput>;

export interface LoadConfigOptions {
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Deep-merged last, over files and environment (tests use this). */
  overrides?: LonglinkConfigOverrides;
  /** A YAML file merged over config/default.yaml; takes precedence over LONGLINK_CONFIG. */
  file?: string;
}

type Tree = { [key: string]: unknown };
type ValueKind = 'string' | 'integer';

/** Environment variables for the knobs most often changed per deployment. */
const ENV_VARIABLES: readonly { name: string; path: readonly string[]; kind: ValueKind }[] = [
  { name: 'LONGLINK_HOST', path: ['server', 'host'], kind: 'string' },
  { name: 'LONGLINK_PORT', path: ['server', 'port'], kind: 'integer' },
  { name: 'LONGLINK_MAX_FRAME_BYTES', path: ['server', 'maxFrameBytes'], kind: 'integer' },
  { name: 'LONGLINK_JWT_SECRET', path: ['auth', 'jwtSecret'], kind: 'string' },
  { name: 'LONGLINK_HEARTBEAT_INTERVAL_MS', path: ['heartbeat', 'intervalMs'], kind: 'integer' },
  { name: 'LONGLINK_LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
  { name: 'LONGLINK_DATA_DIR', path: ['messaging', 'dataDir'], kind: 'string' },
  { name: 'LONGLINK_POSTGRES_URL', path: ['messaging', 'postgres', 'url'], kind: 'string' },
  { name: 'LONGLINK_REDIS_URL', path: ['cluster', 'redis', 'url'], kind: 'string' },
  { name: 'LONGLINK_NODE_ID', path: ['cluster', 'nodeId'], kind: 'string' },
  { name: 'LONGLINK_HTTP_HOST', path: ['http', 'host'], kind: 'string' },
  { name: 'LONGLINK_HTTP_PORT', path: ['http', 'port'], kind: 'integer' },
  { name: 'LONGLINK_ADMIN_TOKEN', path: ['admin', 'token'], kind: 'string' },
];

/**
 * Builds the configuration: config/default.yaml, then the file from `options.file` or
 * LONGLINK_CONFIG merged over it, then LONGLINK_* variables, then `options.overrides`; then
 * validates. Synchronous because it runs before Nest starts. Throws ConfigError on any failure.
 */
export function loadConfig(options: LoadConfigOptions = {}): LonglinkConfig {
  const env = options.env ?? process.env;
  const defaultsFile = findDefaultsFile();
  let raw = readYamlFile(defaultsFile);

  const file = options.file ?? nonEmpty(env.LONGLINK_CONFIG);
  if (file !== undefined && resolve(file) !== defaultsFile) {
    raw = deepMerge(raw, readYamlFile(resolve(file)));
  }

  const fromEnv = readEnvironment(env);
  raw = deepMerge(raw, fromEnv.values);
  if (options.overrides !== undefined) raw = deepMerge(raw, options.overrides);

  return validate(raw, env, fromEnv.sources, options.overrides);
}

/**
 * Validates options given in code (LonglinkModule.forRoot/forRootAsync), in the
 * shape of config/default.yaml: defaults applied, and the same ConfigError
 * messages as the loader's. Already validated config passes through unchanged.
 */
export function validateConfig(
  options: LonglinkConfigInput,
  env: NodeJS.ProcessEnv = process.env,
): LonglinkConfig {
  return validate(options as Tree, env, new Map(), options as LonglinkConfigOverrides);
}

function validate(
  raw: Tree,
  env: NodeJS.ProcessEnv,
  sources: ReadonlyMap<string, string>,
  overrides: LonglinkConfigOverrides | undefined,
): LonglinkConfig {
  const result = longlinkConfigSchema.safeParse(raw, { reportInput: true, error: plainMessage });
  if (!result.success) {
    const [first, ...more] = result.error.issues.flatMap((issue) =>
      describeIssue(issue, raw, sources, overrides),
    );
    throw ConfigError.fromProblems(
      first ? [first, ...more] : [{ key: '(root)', problem: 'validation failed' }],
    );
  }
  if (env.NODE_ENV === 'production' && result.data.auth.jwtSecret === DEV_JWT_SECRET) {
    throw new ConfigError(
      'auth.jwtSecret',
      'the development secret is refused when NODE_ENV=production; set LONGLINK_JWT_SECRET',
    );
  }
  return result.data;
}

/** config/default.yaml of the project root (works from src/ and dist/), else of the cwd. */
function findDefaultsFile(): string {
  const candidates: string[] = [];
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) {
      candidates.push(join(dir, 'config', 'default.yaml'));
      break;
    }
    if (dirname(dir) === dir) break;
  }
  candidates.push(resolve('config', 'default.yaml'));
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) {
    throw new ConfigError(candidates[0] ?? 'config/default.yaml', 'defaults file not found');
  }
  return found;
}

function readYamlFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, `cannot read file (${errorText(error)})`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    // The first line holds the reason and position; the rest is a source excerpt.
    const reason = errorText(error).split('\n')[0]?.replace(/:$/, '');
    throw new ConfigError(file, `not valid YAML: ${reason}`);
  }
  if (parsed === null || parsed === undefined) return {}; // an empty override file changes nothing
  if (!isTree(parsed)) throw new ConfigError(file, 'the top level must be a mapping of sections');
  return parsed;
}

/** Env values as a partial tree, plus which variable set each key path (for error messages). */
function readEnvironment(env: NodeJS.ProcessEnv): { values: Tree; sources: Map<string, string> } {
  const values: Tree = {};
  const sources = new Map<string, string>();
  for (const { name, path, kind } of ENV_VARIABLES) {
    // Empty counts as unset, as with `VAR=` in compose files and shell defaults.
    const text = nonEmpty(env[name]);
    if (text === undefined) continue;
    // Strict: Number() would accept "", " 7", "0x1F" and "1e3".
    if (kind === 'integer' && !/^\d+$/.test(text)) {
      throw new ConfigError(
        name,
        `must be a non-negative integer (got ${JSON.stringify(text)}); it sets ${path.join('.')}`,
      );
    }
    setPath(values, path, kind === 'integer' ? Number(text) : text);
    sources.set(path.join('.'), name);
  }
  return { values, sources };
}

function describeIssue(
  issue: z.core.$ZodIssue,
  raw: Tree,
  envSources: ReadonlyMap<string, string>,
  overrides: unknown,
): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      key: formatPath([...issue.path, key]),
      problem: 'unknown key',
    }));
  }
  const key = formatPath(issue.path);
  const got = describeValue(issue.path, 'input' in issue ? issue.input : getPath(raw, issue.path));
  // Name the variable only when overrides did not replace its value afterwards.
  const variable = getPath(overrides, issue.path) === undefined ? envSources.get(key) : undefined;
  const from = variable === undefined ? '' : ` (from ${variable})`;
  return [{ key, problem: `${issue.message}${got}${from}` }];
}

/** Zod's own wording, except for the one default message a YAML author would find cryptic. */
function plainMessage(issue: z.core.$ZodRawIssue): string | undefined {
  return issue.code === 'invalid_type' && issue.expected === 'object'
    ? 'must be a mapping'
    : undefined;
}

function describeValue(path: readonly PropertyKey[], value: unknown): string {
  // Never echo a secret into logs, even a malformed one.
  if (path.some((part) => /secret|token/i.test(String(part)))) return '';
  if (value === undefined) return '';
  if (Array.isArray(value)) return ' (got a list)';
  if (typeof value === 'object' && value !== null) return ' (got a mapping)';
  const text = JSON.stringify(value);
  return ` (got ${text.length > 80 ? `${text.slice(0, 77)}...` : text})`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Options `over` merged into `base`, section by section (values and lists replace). */
export function mergeOptions(
  base: LonglinkConfigOverrides,
  over: LonglinkConfigOverrides,
): LonglinkConfigOverrides {
  return deepMerge(base as Tree, over) as LonglinkConfigOverrides;
}

/** Merges `over` into a copy of `base`: mappings recursively, anything else replaced. */
function deepMerge(base: Tree, over: unknown): Tree {
  const out: Tree = {};
  for (const [key, value] of Object.entries(base)) define(out, key, value);
  if (!isTree(over)) return out;
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    define(out, key, isTree(current) && isTree(value) ? deepMerge(current, value) : value);
  }
  return out;
}

/** Own data property even for `__proto__`, so it reaches validation as an unknown key. */
function define(target: Tree, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function setPath(target: Tree, path: readonly string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const child = node[part];
    node = isTree(child) ? child : (node[part] = {});
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

function getPath(tree: unknown, path: readonly PropertyKey[]): unknown {
  let node = tree;
  for (const part of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
