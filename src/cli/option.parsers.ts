import { InvalidArgumentError } from 'commander';

/** Commander parsers: a bad value is a usage error naming the option, before anything runs. */
export function positiveInteger(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new InvalidArgumentError('expected a whole number of at least 1.');
  }
  return Number(text);
}

export function positiveNumber(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError('expected a number greater than 0.');
  }
  return value;
}

export interface ServerAddress {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port` or `:port` (host 127.0.0.1). */
export function serverAddress(text: string): ServerAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) {
    throw new InvalidArgumentError('expected host:port, e.g. 127.0.0.1:7400.');
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}
