import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { z } from 'zod';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { ConfigError } from '../config/config.error.js';
import { AnnouncedRateRule } from '../auth/login.dto.js';
import { LonglinkConfig, rateRuleFields, rateRuleName } from '../config/longlink-config.js';
import { FloodKickService } from '../guards/flood-kick.service.js';
import { LonglinkConnection } from '../transport/connection.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { TokenBucket } from '../transport/token-bucket.js';
import { TransportHooks } from '../transport/transport-hooks.js';
import { OpSelector, OpSelectorError } from './op-selector.js';
import { RateLimitDiscovery } from './rate-limit.discovery.js';
import { RateRule } from './rate-rule.js';
import { SharedBucketTake, SharedBuckets } from './shared-buckets.js';

/** Ops whose rule lists are cached; beyond it (a scan of made-up op numbers) they are computed per frame. */
const MAX_CACHED_OPS = 1024;
/** How often idle per-user and per-IP buckets are forgotten. */
const SWEEP_INTERVAL_MS = 10_000;
/** A login waits at most this long for the shared buckets before going on with the local ones. */
const SEED_TIMEOUT_MS = 200;

const declaredLimitSchema = z.strictObject({ ...rateRuleFields, name: rateRuleName.optional() });

interface SharedEntry {
  readonly rule: RateRule;
  readonly key: string;
  readonly bucket: TokenBucket;
}

/**
 * Token buckets by key (connection, user, IP) and op, from `limits.rules` and
 * @RateLimit: checked in the transport before the body is decoded, after the
 * login check (a user key needs a user). Beside rateLimit's per-connection
 * window, which keeps counting every frame first. A refused frame gets ERROR
 * rate-limited with retryAfterMs (when the bucket has a token again) and gives
 * back what the rules before it took; a sender whose refused frames pile up past
 * kickAfterRefused is kicked as a flooder. In cluster mode, per-user and per-IP
 * buckets are settled with shared ones in Redis every limits.clusterSyncMs and
 * at login, so a user spread over nodes, or who moves, has one budget.
 */
@Injectable()
export class RateRulesHook implements TransportHooks, OnApplicationShutdown {
  private rules: RateRule[] = [];
  /** What the LOGIN reply tells clients, so they can keep to the rules instead of being refused. */
  announced: AnnouncedRateRule[] = [];
  private readonly byOp = new Map<number, RateRule[]>();
  /** Set once there are rules to share and a cluster to share them with. */
  private shared: SharedBuckets | null = null;
  private sharedSource: SharedBuckets | null = null;
  private dirty: SharedEntry[] = [];
  private syncing = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly logger = new Logger('RateRules');

  constructor(
    private readonly discovery: RateLimitDiscovery,
    private readonly kicker: FloodKickService,
    private readonly server: LonglinkServer,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
  ) {}

  /** Builds the rules (config first, then @RateLimit declarations); false when there are none. */
  compile(): boolean {
    const { patterns, limits } = this.discovery.scan();
    const rules: RateRule[] = [];
    this.config.limits.rules.forEach((spec, i) => {
      try {
        rules.push(new RateRule(rules.length, spec, new OpSelector(spec.ops, patterns)));
      } catch (err) {
        if (!(err instanceof OpSelectorError)) throw err;
        throw new ConfigError(`limits.rules[${i}].ops`, err.message);
      }
    });
    for (const { op, pattern, options } of limits) {
      const parsed = declaredLimitSchema.safeParse(options);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ConfigError(
          `@RateLimit on "${pattern}"`,
          `${issue.path.join('.') || 'options'}: ${issue.message}`,
        );
      }
      const { name, kickAfterRefused, ...rest } = parsed.data;
      const spec = {
        ...rest,
        name: name ?? `${pattern}.${rest.per}`,
        kickAfterRefused: kickAfterRefused === undefined ? rest.burst : kickAfterRefused,
      };
      // Names key the shared buckets in Redis and the metrics: two rules must not share one.
      if (rules.some((r) => r.name === spec.name)) {
        throw new ConfigError(`@RateLimit on "${pattern}"`, `the name "${spec.name}" is taken`);
      }
      rules.push(new RateRule(rules.length, spec, new OpSelector([op], patterns)));
    }
    this.rules = rules;
    this.announced = rules.map((r) => ({
      name: r.name,
      per: r.per,
      ops: r.selector.describe(patterns),
      ratePerSecond: r.spec.ratePerSecond,
      burst: r.burst,
    }));
    if (rules.length > 0) {
      this.logger.log(`rate rules: ${rules.map((r) => r.name).join(', ')}`);
      this.every(SWEEP_INTERVAL_MS, () => this.sweep(Date.now()));
    }
    this.startSettling();
    return rules.length > 0;
  }

  /** Cluster mode: settle per-user and per-IP buckets with the shared ones (before or after compile). */
  useSharedBuckets(shared: SharedBuckets): void {
    this.sharedSource = shared;
    this.startSettling();
  }

  private startSettling(): void {
    if (this.sharedSource === null || this.shared !== null) return;
    if (!this.rules.some((r) => r.per !== 'connection')) return;
    this.shared = this.sharedSource;
    this.every(this.config.limits.clusterSyncMs, () => void this.settle());
  }

  onFrame(conn: LonglinkConnection, op: number, seq: number, now: number): boolean {
    const rules = this.rulesFor(op);
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      const bucket = this.bucketOf(rule, conn, now);
      if (bucket === undefined) continue;
      const waitMs = bucket.take(now, rule.perMs, rule.burst);
      if (waitMs === 0) {
        // The first spending since the last settlement puts the bucket on the list.
        if (bucket.spent === 1 && this.shared !== null && rule.per !== 'connection') {
          this.dirty.push({ rule, key: sharedKey(rule, keyOf(rule, conn)!), bucket });
        }
        continue;
      }
      // Refused: what the rules before this one took is given back.
      for (let j = 0; j < i; j++) this.refund(rules[j], conn);
      if (bucket.refused > rule.kickAfter) {
        if (conn.isOpen) rule.kicks++;
        this.kicker.kick(conn, `limit ${rule.name} far exceeded`, now);
      } else {
        rule.refusals++;
        conn.sendError(seq, ErrorCode.RateLimited, `${rule.errorHead}${waitMs}}`);
      }
      return false;
    }
    return true;
  }

  /**
   * Before a LOGIN is answered (cluster mode, per-user rules): the user's buckets
   * are read from the shared ones, so a user who moves to this node brings its
   * spending along. Undefined when there is nothing to wait for.
   */
  seedUser(uid: string): Promise<void> | undefined {
    if (this.shared === null) return undefined;
    const entries: SharedEntry[] = [];
    const now = Date.now();
    for (const rule of this.rules) {
      if (rule.per !== 'user') continue;
      entries.push({ rule, key: sharedKey(rule, uid), bucket: this.keyed(rule, uid, now) });
    }
    if (entries.length === 0) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, SEED_TIMEOUT_MS)));
    return Promise.race([this.settleEntries(entries), timeout]).finally(() => clearTimeout(timer));
  }

  /** Refused frames and kicks by rule name, for /metrics. */
  *counts(kind: 'refusals' | 'kicks'): Iterable<readonly [string, number]> {
    for (const rule of this.rules) yield [rule.name, rule[kind]];
  }

  onApplicationShutdown(): void {
    for (const timer of this.timers) clearInterval(timer);
  }

  private rulesFor(op: number): RateRule[] {
    let rules = this.byOp.get(op);
    if (rules !== undefined) return rules;
    const pattern = this.server.routes.get(op)?.pattern;
    rules = this.rules.filter((r) => r.selector.matches(op, pattern));
    if (this.byOp.size < MAX_CACHED_OPS) this.byOp.set(op, rules);
    return rules;
  }

  /**
   * The bucket `conn` counts against for `rule`, kept on the connection once found,
   * so a frame costs an array read per rule, not a map lookup by uid or address.
   */
  private bucketOf(rule: RateRule, conn: LonglinkConnection, now: number): TokenBucket | undefined {
    const buckets = (conn.rateBuckets ??= []);
    const held = buckets[rule.index];
    if (held !== undefined) return held;
    if (rule.per === 'connection') return (buckets[rule.index] = new TokenBucket(rule.burst, now));
    const id = keyOf(rule, conn);
    // Before login there is no user: the pre-login budgets and the login check cover those frames.
    if (id === undefined) return undefined;
    const bucket = this.keyed(rule, id, now);
    bucket.holders++;
    return (buckets[rule.index] = bucket);
  }

  /** A closed connection no longer holds its per-user and per-IP buckets (the sweep may drop them). */
  onClose(conn: LonglinkConnection): void {
    const buckets = conn.rateBuckets;
    if (buckets === null) return;
    for (const rule of this.rules) {
      if (rule.per !== 'connection' && buckets[rule.index] !== undefined) {
        buckets[rule.index]!.holders--;
      }
    }
    conn.rateBuckets = null;
  }

  private keyed(rule: RateRule, id: string, now: number): TokenBucket {
    let bucket = rule.buckets.get(id);
    if (bucket === undefined) {
      bucket = new TokenBucket(rule.burst, now);
      rule.buckets.set(id, bucket);
    }
    return bucket;
  }

  private refund(rule: RateRule, conn: LonglinkConnection): void {
    const bucket = conn.rateBuckets?.[rule.index];
    if (bucket === undefined) return;
    bucket.tokens += 1;
    bucket.spent = Math.max(0, bucket.spent - 1);
  }

  /** The periodic settlement: every bucket that spent since the last one. */
  private async settle(): Promise<void> {
    if (this.syncing || this.dirty.length === 0) return;
    const entries = this.dirty;
    this.dirty = [];
    this.syncing = true;
    try {
      await this.settleEntries(entries);
    } finally {
      this.syncing = false;
    }
  }

  private async settleEntries(entries: readonly SharedEntry[]): Promise<void> {
    const takes: SharedBucketTake[] = entries.map(({ rule, key, bucket }) => {
      const spent = bucket.spent;
      bucket.spent = 0;
      return { key, spent, ratePerSecond: rule.spec.ratePerSecond, burst: rule.burst };
    });
    let tokens: number[];
    try {
      tokens = await this.shared!(takes);
    } catch (err) {
      // Redis is a hint: without it each node goes on with its own buckets.
      this.logger.debug?.(`shared buckets not settled: ${String(err)}`);
      return;
    }
    const now = Date.now();
    entries.forEach(({ rule, bucket }, i) => {
      const shared = tokens[i];
      if (!Number.isFinite(shared)) return;
      // What this node admitted while the answer travelled is still to be settled.
      bucket.tokens = Math.min(rule.burst, shared - bucket.spent);
      bucket.at = now;
    });
  }

  /** Forgets per-user and per-IP buckets that are full again and owe nothing. */
  private sweep(now: number): void {
    for (const rule of this.rules) {
      for (const [id, bucket] of rule.buckets) {
        if (bucket.idle(now, rule.perMs, rule.burst)) rule.buckets.delete(id);
      }
    }
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }
}

/** The uid or address a per-user or per-IP rule keys `conn` by (none for a user before login). */
function keyOf(rule: RateRule, conn: LonglinkConnection): string | undefined {
  return rule.per === 'user' ? conn.user?.uid : conn.remoteAddress;
}

function sharedKey(rule: RateRule, id: string): string {
  return `${rule.name}:${rule.per}:${id}`;
}
