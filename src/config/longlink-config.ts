import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { REPLY_FLAG } from '../transport/op-codes.js';
import { DEV_JWT_SECRET } from './config.constants.js';

/** The frame header size: a smaller frame limit could never admit a frame. */
const MIN_FRAME_BYTES = 16;
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Node timers overflow above 2^31-1 ms and then fire after 1 ms, so no duration may exceed it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LonglinkLogLevel = (typeof LOG_LEVELS)[number];

export interface ParsedCidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare IP (a /32 or /128); undefined when invalid. */
export function parseCidr(value: string): ParsedCidr | undefined {
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  const version = isIP(address);
  // A zone id (fe80::1%eth0) names a local interface, meaningless for a remote peer.
  if (version === 0 || address.includes('%')) return undefined;
  const bits = version === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const digits = value.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return undefined;
    prefix = Number(digits);
    if (prefix > bits) return undefined;
  }
  const family = version === 4 ? 'ipv4' : 'ipv6';
  try {
    new BlockList().addSubnet(address, prefix, family);
  } catch {
    return undefined;
  }
  return { address, prefix, family };
}

/** Builds a BlockList from validated config entries (IPv4-mapped IPv6 peers match IPv4 rules). */
export function toBlockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (cidr === undefined) throw new Error(`not an IP or CIDR: ${entry}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list;
}

/** An integer in [min, max]; one message covers wrong type, fraction and range alike. */
function integer(min: number, max: number, problem: string) {
  return z
    .number({ error: problem })
    .refine((v) => Number.isInteger(v) && v >= min && v <= max, { error: problem });
}

const durationMs = integer(
  1,
  MAX_TIMER_MS,
  `must be a positive integer number of milliseconds, at most ${MAX_TIMER_MS}`,
);
const positiveInteger = integer(1, Number.MAX_SAFE_INTEGER, 'must be a positive integer');
const nonEmptyString = z
  .string({ error: 'must be a non-empty string' })
  .min(1, { error: 'must be a non-empty string' });

const CIDR_PROBLEM = 'must be an IPv4/IPv6 address or CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32';
const cidrList = z
  .array(
    z.string({ error: CIDR_PROBLEM }).refine((v) => parseCidr(v) !== undefined, {
      error: CIDR_PROBLEM,
    }),
    { error: 'must be a list of IPs/CIDRs' },
  )
  .default([]);
const userIdList = z.array(nonEmptyString, { error: 'must be a list of user ids' }).default([]);

const serverSchema = z.strictObject({
  host: nonEmptyString.default('127.0.0.1'),
  port: integer(0, 65535, 'must be an integer between 0 and 65535').default(7400),
  maxFrameBytes: integer(
    MIN_FRAME_BYTES,
    MAX_FRAME_BYTES,
    `must be an integer between ${MIN_FRAME_BYTES} (the frame header) and ${MAX_FRAME_BYTES} (16 MiB)`,
  ).default(65536),
  maxPreLoginFrameBytes: integer(
    MIN_FRAME_BYTES,
    MAX_FRAME_BYTES,
    `must be an integer between ${MIN_FRAME_BYTES} (the frame header) and ${MAX_FRAME_BYTES} (16 MiB)`,
  ).default(8192),
  maxWriteBufferBytes: positiveInteger.default(1048576),
  maxJsonDepth: integer(1, 1000, 'must be an integer between 1 and 1000').default(64),
  maxJsonItems: positiveInteger.default(2048),
  loginTimeoutMs: durationMs.default(10000),
  maxConnectionsPerIp: positiveInteger.default(1000),
  connectRateWindowMs: durationMs.default(1000),
  maxConnectsPerIpPerWindow: positiveInteger.default(100),
  drainTimeoutMs: durationMs.default(10000),
  reconnectAfterMs: durationMs.default(1000),
  reconnectJitterMs: integer(
    0,
    MAX_TIMER_MS,
    'must be a non-negative integer number of milliseconds',
  ).default(5000),
  helperThreadPriority: z
    .enum(['auto', 'low', 'normal'], { error: 'must be one of: auto, low, normal' })
    .default('auto'),
  proxyProtocol: z
    .enum(['off', 'v1', 'v2', 'auto'], { error: 'must be one of: off, v1, v2, auto' })
    .default('off'),
  trustedProxies: cidrList,
  proxyHeaderTimeoutMs: durationMs.default(5000),
  tls: z
    .strictObject({
      certFile: nonEmptyString.nullable().default(null),
      keyFile: nonEmptyString.nullable().default(null),
    })
    .superRefine((t, ctx) => {
      // Half a TLS setup would silently serve plain TCP.
      if ((t.certFile === null) !== (t.keyFile === null)) {
        ctx.addIssue({
          code: 'custom',
          path: [t.certFile === null ? 'certFile' : 'keyFile'],
          input: null,
          message: 'certFile and keyFile must be set together',
        });
      }
    })
    .prefault({}),
});

/** No trusted peer: v1/v2 would refuse every connection, auto would never honour a header. */
const proxiedServerSchema = serverSchema.superRefine((s, ctx) => {
  if (s.proxyProtocol !== 'off' && s.trustedProxies.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['trustedProxies'],
      input: s.trustedProxies,
      message: `must list the load balancers' addresses when server.proxyProtocol is ${s.proxyProtocol}`,
    });
  }
});

const authSchema = z.strictObject({
  jwtSecret: nonEmptyString.default(DEV_JWT_SECRET),
  jwtIssuer: nonEmptyString.nullable().default(null),
  jwtAudience: nonEmptyString.nullable().default(null),
  maxFailedLogins: positiveInteger.default(5),
  failedLoginWindowMs: durationMs.default(60000),
  failedLoginBanMs: durationMs.default(300000),
});

const heartbeatSchema = z
  .strictObject({
    intervalMs: durationMs.default(30000),
    timeoutMs: durationMs.nullable().default(null),
    sweepIntervalMs: durationMs.default(1000),
    maxKicksPerTurn: positiveInteger.default(256),
  })
  .superRefine((h, ctx) => {
    const timeoutMs = h.timeoutMs ?? 3 * h.intervalMs;
    // A timeout at or below the interval would close clients that follow the announced interval.
    if (h.timeoutMs !== null && h.timeoutMs <= h.intervalMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeoutMs'],
        input: h.timeoutMs,
        message: `must be greater than heartbeat.intervalMs (${h.intervalMs})`,
      });
    } else if (timeoutMs > MAX_TIMER_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['intervalMs'],
        input: h.intervalMs,
        message: `3 × intervalMs (the default timeout) exceeds ${MAX_TIMER_MS}; lower it or set heartbeat.timeoutMs`,
      });
    }
    if (h.sweepIntervalMs > timeoutMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['sweepIntervalMs'],
        input: h.sweepIntervalMs,
        message: `must not exceed the heartbeat timeout (${timeoutMs} ms)`,
      });
    }
  })
  .transform((h) => ({ ...h, timeoutMs: h.timeoutMs ?? 3 * h.intervalMs }));

const rateLimitSchema = z
  .strictObject({
    intervalMs: durationMs.default(1000),
    maxPackets: positiveInteger.default(200),
    kickPackets: positiveInteger.default(400),
    maxKicksPerIp: positiveInteger.default(5),
    kickWindowMs: durationMs.default(60_000),
    kickBanMs: durationMs.default(300_000),
    maxBytes: positiveInteger.default(524_288),
    maxIpBytes: positiveInteger.default(33_554_432),
    maxPreLoginBytes: positiveInteger.default(16_384),
    maxPreLoginIpBytes: positiveInteger.default(524_288),
  })
  .superRefine((r, ctx) => {
    // Kicking below the warning threshold would skip the ERROR stage entirely.
    if (r.kickPackets < r.maxPackets) {
      ctx.addIssue({
        code: 'custom',
        path: ['kickPackets'],
        input: r.kickPackets,
        message: `must be at least rateLimit.maxPackets (${r.maxPackets})`,
      });
    }
  });

const accessSchema = z.strictObject({
  ipBlacklist: cidrList,
  ipWhitelist: cidrList,
  userBlacklist: userIdList,
  userWhitelist: userIdList,
});

const postgresSchema = z.strictObject({
  url: nonEmptyString.nullable().default(null),
  poolSize: positiveInteger.default(10),
  connectTimeoutMs: durationMs.default(5000),
  queryTimeoutMs: durationMs.default(5000),
});

const messagingSchema = z.strictObject({
  store: z
    .enum(['sqlite', 'memory', 'postgres'], { error: 'must be one of: sqlite, memory, postgres' })
    .default('sqlite'),
  dataDir: nonEmptyString.default('./data'),
  postgres: postgresSchema.prefault({}),
  pushWindow: positiveInteger.default(64),
  ackTimeoutMs: durationMs.default(5000),
  maxPushAttempts: positiveInteger.default(3),
  syncPageSize: positiveInteger.default(256),
  recipients: z.enum(['any', 'allowed'], { error: 'must be one of: any, allowed' }).default('any'),
  deliveredRetentionMs: positiveInteger.default(7 * 24 * 3600 * 1000),
  undeliveredMaxAgeMs: positiveInteger.default(30 * 24 * 3600 * 1000),
  pruneIntervalMs: durationMs.default(3600 * 1000),
  pruneBatchMessages: positiveInteger.default(1000),
  // Quotas (docs/MESSAGING.md, "Quotas"): null = off.
  maxContentBytes: positiveInteger.nullable().default(null),
  maxInboxMessages: positiveInteger.nullable().default(null),
  maxInboxBytes: positiveInteger.nullable().default(null),
  maxSenderMessagesPerDay: positiveInteger.nullable().default(null),
  maxSenderBytesPerDay: positiveInteger.nullable().default(null),
});

/** The PostgreSQL store needs somewhere to connect; a byte quota must admit one message. */
const messagingStoreSchema = messagingSchema.superRefine((m, ctx) => {
  for (const key of ['maxInboxBytes', 'maxSenderBytesPerDay'] as const) {
    const value = m[key];
    if (value !== null && m.maxContentBytes !== null && value < m.maxContentBytes) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        input: value,
        message: `must be at least messaging.maxContentBytes (${m.maxContentBytes})`,
      });
    }
  }
  if (m.store === 'postgres' && m.postgres.url === null) {
    ctx.addIssue({
      code: 'custom',
      path: ['postgres', 'url'],
      input: null,
      message: 'must be set when messaging.store is postgres (or set LONGLINK_POSTGRES_URL)',
    });
  }
});

const clusterSchema = z.strictObject({
  nodeId: nonEmptyString.nullable().default(null),
  redis: z
    .strictObject({
      url: nonEmptyString.nullable().default(null),
      keyPrefix: nonEmptyString.default('longlink:'),
      connectTimeoutMs: durationMs.default(5000),
    })
    .prefault({}),
  nodeTtlMs: durationMs.default(5000),
  nodeHeartbeatMs: durationMs.default(1000),
});

const ORIGIN_PROBLEM = 'must be a list of origins (scheme://host[:port]) or "*"';
const httpSchema = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).default(true),
  host: nonEmptyString.default('127.0.0.1'),
  port: integer(0, 65535, 'must be an integer between 0 and 65535').default(7401),
  demoPage: z
    .enum(['auto', 'on', 'off'], { error: 'must be one of: auto, on, off' })
    .default('auto'),
});

const websocketSchema = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).default(true),
  allowedOrigins: z
    .array(
      z.string({ error: ORIGIN_PROBLEM }).refine((v) => v === '*' || isOrigin(v), {
        error: ORIGIN_PROBLEM,
      }),
      { error: ORIGIN_PROBLEM },
    )
    .default([]),
});

const adminSchema = z.strictObject({
  token: z
    .string({ error: 'must be a string of at least 16 characters' })
    .min(16, { error: 'must be a string of at least 16 characters' })
    .nullable()
    .default(null),
});

/** `https://app.example.com[:443]`: what a browser sends as Origin. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

const OP_ENTRY_PROBLEM =
  'must be an op number, a range like 1000-1999, an op name (LOGIN, LOGOUT, HEARTBEAT, SEND, PUSH_ACK, SYNC), a handler pattern (chat.typing, chat.*) or "*"';
const opEntry = z.union(
  [
    integer(1, REPLY_FLAG - 1, OP_ENTRY_PROBLEM),
    z.string().refine((v) => isOpEntry(v), { error: OP_ENTRY_PROBLEM }),
  ],
  { error: OP_ENTRY_PROBLEM },
);

/** `1000-1999` (inclusive, ascending) or any non-empty name or pattern. */
function isOpEntry(value: string): boolean {
  const range = /^(\d+)-(\d+)$/.exec(value);
  if (range === null) return value.trim().length > 0 && !/\s/.test(value);
  const [from, to] = [Number(range[1]), Number(range[2])];
  return from >= 1 && from <= to && to < REPLY_FLAG;
}

/** One token bucket: what it is keyed by, which ops it counts, its rate and burst (see docs/SECURITY.md). */
export const rateRuleFields = {
  per: z.enum(['connection', 'user', 'ip'], { error: 'must be one of: connection, user, ip' }),
  ratePerSecond: z
    .number({ error: 'must be a positive number of frames per second' })
    .refine((v) => Number.isFinite(v) && v > 0 && v <= 1e9, {
      error: 'must be a positive number of frames per second, at most 1e9',
    }),
  burst: integer(1, 1e9, 'must be an integer between 1 and 1e9 (frames)'),
  /** Refused frames (draining at the rate) past which the sender is kicked; null: never kicked. */
  kickAfterRefused: integer(1, 1e9, 'must be an integer between 1 and 1e9 (frames), or null')
    .nullable()
    .optional(),
};

const RULE_NAME_PROBLEM = 'must be a name of 1 to 64 letters, digits, ".", "_" or "-"';
/** A rule's name: it keys the shared buckets in Redis and labels the metrics. */
export const rateRuleName = z
  .string({ error: RULE_NAME_PROBLEM })
  .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: RULE_NAME_PROBLEM });

const rateRuleSchema = z
  .strictObject({
    name: rateRuleName,
    ...rateRuleFields,
    ops: z
      .array(opEntry, { error: OP_ENTRY_PROBLEM })
      .min(1, { error: 'must name at least one op (or "*")' })
      .default(['*']),
  })
  .transform((r) => ({
    ...r,
    kickAfterRefused: r.kickAfterRefused === undefined ? r.burst : r.kickAfterRefused,
  }));

const limitsSchema = z.strictObject({
  rules: z
    .array(rateRuleSchema, { error: 'must be a list of rate rules' })
    .default([])
    .superRefine((rules, ctx) => {
      const seen = new Set<string>();
      rules.forEach((r, i) => {
        if (seen.has(r.name)) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'name'],
            input: r.name,
            message: `"${r.name}" is used by an earlier rule`,
          });
        }
        seen.add(r.name);
      });
    }),
  clusterSyncMs: durationMs.default(100),
});

const logSchema = z.strictObject({
  level: z.enum(LOG_LEVELS, { error: `must be one of: ${LOG_LEVELS.join(', ')}` }).default('log'),
});

/**
 * The whole configuration. Objects are strict (a misspelt key is an error, not silently ignored)
 * and every key has the default shipped in config/default.yaml, so `parse({})` gives the defaults.
 */
export const longlinkConfigSchema = z.strictObject({
  server: proxiedServerSchema.prefault({}),
  auth: authSchema.prefault({}),
  heartbeat: heartbeatSchema.prefault({}),
  rateLimit: rateLimitSchema.prefault({}),
  access: accessSchema.prefault({}),
  messaging: messagingStoreSchema.prefault({}),
  cluster: clusterSchema
    .superRefine((c, ctx) => {
      // A node must refresh its liveness key well before it expires, or it flaps dead.
      if (c.nodeHeartbeatMs * 2 > c.nodeTtlMs) {
        ctx.addIssue({
          code: 'custom',
          path: ['nodeHeartbeatMs'],
          input: c.nodeHeartbeatMs,
          message: `must be at most half of cluster.nodeTtlMs (${c.nodeTtlMs})`,
        });
      }
    })
    .prefault({}),
  http: httpSchema.prefault({}),
  websocket: websocketSchema.prefault({}),
  admin: adminSchema.prefault({}),
  limits: limitsSchema.prefault({}),
  log: logSchema.prefault({}),
});

/** The validated configuration, defaults applied and heartbeat.timeoutMs resolved. */
export type LonglinkConfig = z.output<typeof longlinkConfigSchema>;
/** The raw shape accepted from YAML, environment and overrides (before defaults). */
export type LonglinkConfigInput = z.input<typeof longlinkConfigSchema>;
