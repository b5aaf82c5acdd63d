/** Distinct keys kept per counter: a client choosing random ops must not grow the maps. */
const MAX_KEYS = 512;
/** Where counts go once a map is full (metrics label it as unknown). */
const OTHER_KEY = -1;

/**
 * Plain counters the transport keeps as it works: frames by op in and out,
 * ERROR codes and KICK reasons sent, PROXY-stage refusals. A Map increment
 * per frame is all the hot path pays; metrics read these at scrape time.
 */
export class TransportStats {
  readonly framesIn = new Map<number, number>();
  readonly framesOut = new Map<number, number>();
  readonly errors = new Map<string, number>();
  readonly kicks = new Map<string, number>();
  /** Connections closed at the PROXY stage, no PDU sent (untrusted peer, bad or late header). */
  readonly proxyRefusals = new Map<string, number>();

  frameIn(op: number): void {
    count(this.framesIn, op, OTHER_KEY);
  }

  frameOut(op: number): void {
    count(this.framesOut, op, OTHER_KEY);
  }

  error(code: string): void {
    count(this.errors, code, 'other');
  }

  kick(reason: string): void {
    count(this.kicks, reason, 'other');
  }

  proxyRefused(reason: string): void {
    count(this.proxyRefusals, reason, 'other');
  }
}

function count<K>(map: Map<K, number>, key: K, other: K): void {
  const n = map.get(key);
  if (n !== undefined) map.set(key, n + 1);
  else if (map.size < MAX_KEYS) map.set(key, 1);
  else map.set(other, (map.get(other) ?? 0) + 1);
}
