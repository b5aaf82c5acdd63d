/**
 * Plain counters the transport keeps as it works: frames by op in and out,
 * ERROR codes and KICK reasons sent. A Map increment per frame is all the hot
 * path pays; metrics read these at scrape time.
 */
export class TransportStats {
  readonly framesIn = new Map<number, number>();
  readonly framesOut = new Map<number, number>();
  readonly errors = new Map<string, number>();
  readonly kicks = new Map<string, number>();

  frameIn(op: number): void {
    this.framesIn.set(op, (this.framesIn.get(op) ?? 0) + 1);
  }

  frameOut(op: number): void {
    this.framesOut.set(op, (this.framesOut.get(op) ?? 0) + 1);
  }

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  kick(reason: string): void {
    this.kicks.set(reason, (this.kicks.get(reason) ?? 0) + 1);
  }
}
