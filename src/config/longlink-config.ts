import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
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
});

/** The PostgreSQL store needs somewhere to connect. */
const messagingStoreSchema = messagingSchema.superRefine((m, ctx) => {
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

const logSchema = z.strictObject({
  level: z.enum(LOG_LEVELS, { error: `must be one of: ${LOG_LEVELS.join(', ')}` }).default('log'),
});

/**
 * The whole configuration. Objects are strict (a misspelt key is an error, not silently ignored)
 * and every key has the default shipped in config/default.yaml, so `parse({})` gives the defaults.
 */
export const longlinkConfigSchema = z.strictObject({
  server: serverSchema.prefault({}),
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
  log: logSchema.prefault({}),
});

/** The validated configuration, defaults applied and heartbeat.timeoutMs resolved. */
export type LonglinkConfig = z.output<typeof longlinkConfigSchema>;
/** The raw shape accepted from YAML, environment and overrides (before defaults). */
export type LonglinkConfigInput = z.input<typeof longlinkConfigSchema>;
