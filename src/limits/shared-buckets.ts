/** What one node spent from one shared bucket since it last settled. */
export interface SharedBucketTake {
  /** The bucket: rule name, key kind and id (uid or address). */
  readonly key: string;
  readonly spent: number;
  readonly ratePerSecond: number;
  readonly burst: number;
}

/**
 * Settles spending with the buckets every node shares (cluster mode: Redis):
 * resolves with each bucket's tokens after it, in order (negative when the
 * nodes together overspent: that debt is paid back before anything is admitted).
 */
export type SharedBuckets = (takes: readonly SharedBucketTake[]) => Promise<number[]>;
