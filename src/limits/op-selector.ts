import { MsgOp } from '../messaging/messaging.ops.js';
import { Op } from '../transport/op-codes.js';

/** The ops a client sends, by the names config may use. */
export const CLIENT_OP_NAMES: Readonly<Record<string, number>> = {
  LOGIN: Op.LOGIN,
  LOGOUT: Op.LOGOUT,
  HEARTBEAT: Op.HEARTBEAT,
  SEND: MsgOp.SEND,
  PUSH_ACK: MsgOp.PUSH_ACK,
  SYNC: MsgOp.SYNC,
};

/** Raised at startup for an entry no op answers to; names the entry. */
export class OpSelectorError extends Error {}

/**
 * Which ops a rule counts: numbers, inclusive ranges (`1000-1999`), the client
 * op names, handler patterns (exact, or with a trailing `*`), or `*` for all.
 * Names and exact patterns are resolved to numbers once, at startup, so a typo
 * stops the gateway instead of silently limiting nothing.
 */
export class OpSelector {
  readonly all: boolean;
  private readonly ops = new Set<number>();
  private readonly ranges: [number, number][] = [];
  private readonly prefixes: string[] = [];

  /** `patterns`: handler pattern → op, of every @MessagePattern in the app. */
  constructor(entries: readonly (number | string)[], patterns: ReadonlyMap<string, number>) {
    let all = false;
    for (const entry of entries) {
      if (typeof entry === 'number') this.ops.add(entry);
      else if (entry === '*') all = true;
      else if (entry in CLIENT_OP_NAMES) this.ops.add(CLIENT_OP_NAMES[entry]);
      else if (/^\d+-\d+$/.test(entry)) {
        const [from, to] = entry.split('-').map(Number);
        this.ranges.push([from, to]);
      } else if (entry.endsWith('*')) this.prefixes.push(entry.slice(0, -1));
      else {
        const op = patterns.get(entry);
        if (op === undefined) {
          throw new OpSelectorError(`"${entry}" is neither an op name nor a handler's pattern`);
        }
        this.ops.add(op);
      }
    }
    this.all = all;
  }

  /**
   * The ops as a client can match them: "*", or numbers and [from, to] ranges, the prefix
   * patterns resolved against `patterns` (every handler is known at startup).
   */
  describe(patterns: ReadonlyMap<string, number>): '*' | (number | [number, number])[] {
    if (this.all) return '*';
    const ops = new Set(this.ops);
    for (const [pattern, op] of patterns) {
      if (this.prefixes.some((p) => pattern.startsWith(p))) ops.add(op);
    }
    return [
      ...[...ops].sort((a, b) => a - b),
      ...this.ranges.map(([a, b]): [number, number] => [a, b]),
    ];
  }

  /** `pattern`: the handler pattern of `op`, when a handler claims it. */
  matches(op: number, pattern: string | undefined): boolean {
    if (this.all || this.ops.has(op)) return true;
    for (const [from, to] of this.ranges) if (op >= from && op <= to) return true;
    if (pattern !== undefined)
      for (const p of this.prefixes) if (pattern.startsWith(p)) return true;
    return false;
  }
}
