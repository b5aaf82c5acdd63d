import 'reflect-metadata';
import type { ArgumentMetadata } from '@nestjs/common';
import fc from 'fast-check';
import { LoginDto } from '../auth/login.dto.js';
import { LonglinkValidationPipe } from '../common/longlink-validation.pipe.js';
import { parsePushAckBody, parseSendBody, parseSyncBody } from '../messaging/messaging-bodies.js';
import { MsgOp } from '../messaging/messaging.ops.js';
import { BodyError, DEFAULT_MAX_JSON_DEPTH, parseBody } from './frame-body.js';
import { FrameDecoder, encodeFrame } from './frame.codec.js';
import { LonglinkException } from './longlink.exception.js';

/**
 * Property tests that carry the decoder's (frame.codec.spec.ts, frame-body.spec.ts)
 * on to the next steps a frame takes: body parsing (parseBody), the hand-written
 * messaging parsers (src/messaging/messaging-bodies.ts: SEND, PUSH_ACK, SYNC) and
 * LonglinkValidationPipe with the LOGIN DTO. Whatever
 * a client sends, each step either yields values of the right types or throws
 * the stable client error of its step (bad-json, bad-request naming the field):
 * never anything else, for deeply nested JSON and huge strings as well.
 */

const MAX_ID_CHARS = 128;
const MAX_TOKEN_CHARS = 8192;
/** A body of the default maxFrameBytes (65536) can nest about this deep. */
const MAX_FRAME_DEPTH = 30_000;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function attempt(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

async function attemptAsync(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The error is bad-request and every `; `-separated part starts with one of `fields` and ": ". */
function expectBadRequestNaming(error: unknown, fields: readonly string[]): string[] {
  expect(error).toBeInstanceOf(LonglinkException);
  const e = error as LonglinkException;
  expect(e.code).toBe('bad-request');
  expect(e.close).toBe(false);
  const named = e.message.split('; ').map((part) => {
    const field = /^([A-Za-z][\w.]*): /.exec(part)?.[1];
    expect({ part, field }).toEqual({ part, field: expect.any(String) });
    return field!.split('.')[0];
  });
  for (const field of named) expect(fields).toContain(field);
  return named;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `[[[…]]]` or `{"a":{"a":…0}}`, `depth` levels. */
function nestedJson(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array'
    ? '['.repeat(depth) + ']'.repeat(depth)
    : '{"a":'.repeat(depth) + '0' + '}'.repeat(depth);
}

const idOk = (v: unknown) => typeof v === 'string' && v.length >= 1 && v.length <= MAX_ID_CHARS;

// ---------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------

/** Strings of every kind: empty, at and around the limits, lone surrogates, huge. */
const stringArb = (limit: number) =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 24 }),
    fc.constantFrom('', 'a', 'x'.repeat(limit), 'x'.repeat(limit + 1), '\u0000', '\ud800'),
    fc.integer({ min: 0, max: 60_000 }).map((n) => 'h'.repeat(n)),
  );

/** Any value a JSON body (or a buggy client) could put in a field. */
const fieldValueArb = (limit: number) =>
  fc.oneof(
    { weight: 3, arbitrary: stringArb(limit) },
    { weight: 2, arbitrary: fc.anything({ maxDepth: 2 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(-1, 0, 1, 1.5, -0, 1e308, Number.MAX_SAFE_INTEGER + 2, NaN),
    },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

/** SEND bodies: mostly objects with the three fields, valid or not, plus extra keys and non-objects. */
const sendBodyArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record(
        {
          to: fieldValueArb(MAX_ID_CHARS),
          clientMsgId: fieldValueArb(MAX_ID_CHARS),
          content: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined)),
          from: fc.string(),
          extra: fc.anything({ maxDepth: 1 }),
        },
        { requiredKeys: [] },
      )
      .map((r) => r as Record<string, unknown>),
  },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
);

/** LOGIN bodies: objects with token and lastSeq, valid or not, plus extra keys and non-objects. */
const loginBodyArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record(
        {
          token: fieldValueArb(MAX_TOKEN_CHARS),
          lastSeq: fc.oneof(
            fc.nat(),
            fc.integer(),
            fc.double(),
            fc.constantFrom(null, undefined, '5', 1e308, -0),
          ),
          uid: fc.string(),
          extra: fc.anything({ maxDepth: 1 }),
        },
        { requiredKeys: [] },
      )
      .map((r) => r as Record<string, unknown>),
  },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
);

const asBody = (metatype: ArgumentMetadata['metatype']): ArgumentMetadata => ({
  type: 'body',
  metatype,
});

// ---------------------------------------------------------------------------
// SEND: parseSendBody
// ---------------------------------------------------------------------------

/** The field parseSendBody must complain about first, or null when the body is valid. */
function firstBadSendField(body: unknown): string | null {
  if (!isPlainObject(body)) return 'body';
  if (!idOk(body.to)) return 'to';
  if (!idOk(body.clientMsgId)) return 'clientMsgId';
  if (body.content === undefined) return 'content';
  return null;
}

describe('SEND body parsing (parseSendBody)', () => {
  it('returns to, clientMsgId and content with the right types, or throws bad-request naming the first bad field', () => {
    fc.assert(
      fc.property(sendBodyArb, (body) => {
        const expected = firstBadSendField(body);
        const out = attempt(() => parseSendBody(body));
        if (expected === null) {
          expect(out.ok).toBe(true);
          const value = (out as { value: ReturnType<typeof parseSendBody> }).value;
          const input = body as Record<string, unknown>;
          // Exactly the three fields: a spoofed `from` or anything else is not carried on.
          expect(value).toEqual({
            to: input.to,
            clientMsgId: input.clientMsgId,
            content: input.content,
          });
          expect(Object.keys(value).sort()).toEqual(['clientMsgId', 'content', 'to']);
          return;
        }
        expect(out.ok).toBe(false);
        const e = (out as { error: unknown }).error;
        if (expected === 'body') {
          expect(e).toBeInstanceOf(LonglinkException);
          expect(e).toMatchObject({ code: 'bad-request', message: 'body must be an object' });
        } else {
          expect(expectBadRequestNaming(e, ['to', 'clientMsgId', 'content'])).toEqual([expected]);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes any SEND frame body to bad-json, bad-request or a valid SEND, nothing else', () => {
    const bodyBytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 96 }).map((b) => Buffer.from(b)),
      sendBodyArb.map((b) => Buffer.from(JSON.stringify(b) ?? '', 'utf8')),
      // A valid SEND with one byte replaced: invalid UTF-8, broken JSON, or a changed value.
      fc
        .tuple(fc.string({ maxLength: 12 }), fc.nat(), fc.integer({ min: 0, max: 255 }))
        .map(([text, at, byte]) => {
          const b = Buffer.from(JSON.stringify({ to: 'bob', clientMsgId: 'c1', content: text }));
          b[at % b.length] = byte;
          return b;
        }),
    );
    fc.assert(
      fc.property(bodyBytesArb, (bytes) => {
        // Through the real decoder first, as the server receives it.
        const bodies: Buffer[] = [];
        new FrameDecoder(
          {
            onFrame: (_op, _seq, body) => bodies.push(Buffer.from(body)),
            onFrameError: (err) => {
              throw err;
            },
          },
          // The frame-size limit has its own tests; here any body must reach the parsers.
          16 * 1024 * 1024,
        ).push(encodeFrame(MsgOp.SEND, 7, bytes));
        expect(bodies).toHaveLength(1);
        const parsed = attempt(() => parseBody(bodies[0]));
        if (!parsed.ok) {
          expect(parsed.error).toBeInstanceOf(BodyError);
          expect((parsed.error as BodyError).code).toBe('bad-json');
          return;
        }
        const out = attempt(() => parseSendBody(parsed.value));
        if (out.ok) {
          const v = out.value as ReturnType<typeof parseSendBody>;
          expect(idOk(v.to) && idOk(v.clientMsgId) && v.content !== undefined).toBe(true);
        } else {
          expect(out.error).toBeInstanceOf(LonglinkException);
          expect((out.error as LonglinkException).code).toBe('bad-request');
          expect((out.error as LonglinkException).message).toMatch(
            /^(body|to|clientMsgId|content)\b/,
          );
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses huge to and clientMsgId strings with bad-request naming them, and keeps huge content', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MAX_ID_CHARS + 1, max: 65_000 }),
        fc.constantFrom('to', 'clientMsgId', 'content'),
        (size, field) => {
          const body: Record<string, unknown> = { to: 'bob', clientMsgId: 'c1', content: 'x' };
          body[field] = 'h'.repeat(size);
          const text = JSON.stringify(body);
          const out = attempt(() => parseSendBody(parseBody(Buffer.from(text))));
          if (field === 'content') {
            expect(out.ok).toBe(true);
          } else {
            expect(expectBadRequestNaming((out as { error: unknown }).error, [field])).toEqual([
              field,
            ]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  // Deep content is refused by parseBody (maxJsonDepth) before it reaches the parser.
  it('accepts only content it can store: anything parseSendBody accepts can be serialised', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_FRAME_DEPTH }),
        fc.constantFrom('array' as const, 'object' as const),
        (depth, shape) => {
          const text = `{"to":"bob","clientMsgId":"c1","content":${nestedJson(depth, shape)}}`;
          const out = attempt(() => parseSendBody(parseBody(Buffer.from(text))));
          if (!out.ok) {
            if (out.error instanceof BodyError) {
              expect(out.error.code).toBe('bad-json');
              expect(depth).toBeGreaterThan(DEFAULT_MAX_JSON_DEPTH - 1);
              return;
            }
            expect(expectBadRequestNaming(out.error, ['content'])).toEqual(['content']);
            return;
          }
          const { content } = out.value as ReturnType<typeof parseSendBody>;
          expect(attempt(() => JSON.stringify(content)).ok).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});

// ---------------------------------------------------------------------------
// PUSH_ACK and SYNC: parsePushAckBody, parseSyncBody
// ---------------------------------------------------------------------------

const isSeq = (v: unknown, min: number): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min;

/** The field parsePushAckBody must complain about, or null when the body is valid. */
function badPushAckField(body: unknown): string | null {
  if (!isPlainObject(body)) return 'body';
  const { upTo, seqs } = body;
  if (upTo === undefined && seqs === undefined) return 'upTo';
  if (upTo !== undefined && !isSeq(upTo, 0)) return 'upTo';
  if (seqs !== undefined) {
    if (!Array.isArray(seqs) || seqs.length > 1024) return 'seqs';
    if (!seqs.every((s) => isSeq(s, 1))) return 'seqs';
  }
  return null;
}

/** A seq as a client might send one, right or wrong. */
const seqValueArb = fc.oneof(
  fc.nat(),
  fc.integer(),
  fc.constantFrom(0, 1, -1, 1.5, -0, 1e308, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1),
  fc.constantFrom('1', null, true, [], {}),
);

const pushAckBodyArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record(
        {
          upTo: seqValueArb,
          seqs: fc.oneof(
            fc.array(seqValueArb, { maxLength: 8 }),
            fc.array(fc.nat(), { minLength: 1000, maxLength: 1100 }),
            fc.anything({ maxDepth: 1 }),
          ),
          extra: fc.anything({ maxDepth: 1 }),
        },
        { requiredKeys: [] },
      )
      .map((r) => r as Record<string, unknown>),
  },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
);

const syncBodyArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({ lastSeq: seqValueArb, extra: fc.anything({ maxDepth: 1 }) }, { requiredKeys: [] })
      .map((r) => r as Record<string, unknown>),
  },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
);

/** Expects bad-request: 'body must be an object' for `body`, else a message starting `field: `. */
function expectBadRequestFor(error: unknown, field: string): void {
  if (field === 'body') {
    expect(error).toBeInstanceOf(LonglinkException);
    expect(error).toMatchObject({ code: 'bad-request', message: 'body must be an object' });
  } else {
    expect(expectBadRequestNaming(error, [field])).toEqual([field]);
  }
}

describe('PUSH_ACK and SYNC body parsing (parsePushAckBody, parseSyncBody)', () => {
  it('PUSH_ACK: returns upTo and seqs as safe integers, or throws bad-request naming the first bad field', () => {
    fc.assert(
      fc.property(pushAckBodyArb, (body) => {
        const expected = badPushAckField(body);
        const out = attempt(() => parsePushAckBody(body));
        if (expected === null) {
          expect(out.ok).toBe(true);
          const { upTo, seqs } = (out as { value: ReturnType<typeof parsePushAckBody> }).value;
          const input = body as Record<string, unknown>;
          expect({ upTo, seqs }).toEqual({ upTo: input.upTo, seqs: input.seqs });
          if (upTo !== undefined) expect(isSeq(upTo, 0)).toBe(true);
          for (const seq of seqs ?? []) expect(isSeq(seq, 1)).toBe(true);
        } else {
          expect(out.ok).toBe(false);
          expectBadRequestFor((out as { error: unknown }).error, expected);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('SYNC: returns lastSeq as a safe integer ≥ 0, or throws bad-request naming lastSeq', () => {
    fc.assert(
      fc.property(syncBodyArb, (body) => {
        const out = attempt(() => parseSyncBody(body));
        if (!isPlainObject(body)) {
          expectBadRequestFor((out as { error: unknown }).error, 'body');
        } else if (isSeq(body.lastSeq, 0)) {
          expect(out).toEqual({ ok: true, value: body.lastSeq });
        } else {
          expectBadRequestFor((out as { error: unknown }).error, 'lastSeq');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('answers deeply nested JSON and huge strings in any field with bad-json (too deep), bad-request or a valid body', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc
            .tuple(
              fc.integer({ min: 1, max: MAX_FRAME_DEPTH }),
              fc.constantFrom('array' as const, 'object' as const),
            )
            .map(([depth, shape]) => nestedJson(depth, shape)),
          fc.integer({ min: 0, max: 60_000 }).map((n) => JSON.stringify('h'.repeat(n))),
        ),
        fc.constantFrom('upTo', 'seqs', 'lastSeq', 'root'),
        fc.constantFrom(parsePushAckBody, parseSyncBody),
        (value, where, parse) => {
          const text = where === 'root' ? value : `{"upTo":1,"lastSeq":1,"${where}":${value}}`;
          const out = attempt(() => parse(parseBody(Buffer.from(text))));
          if (!out.ok && out.error instanceof BodyError) {
            expect(out.error.code).toBe('bad-json');
          } else if (!out.ok) {
            expect(out.error).toBeInstanceOf(LonglinkException);
            expect((out.error as LonglinkException).code).toBe('bad-request');
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------
// LOGIN: LonglinkValidationPipe + LoginDto
// ---------------------------------------------------------------------------

/** Fields of LoginDto a body breaks (a non-object counts as `{}`). */
function badLoginFields(body: unknown): string[] {
  const obj = isPlainObject(body) ? body : {};
  const bad: string[] = [];
  const token = obj.token;
  if (!(typeof token === 'string' && token.length >= 1 && token.length <= MAX_TOKEN_CHARS)) {
    bad.push('token');
  }
  const lastSeq = obj.lastSeq;
  const lastSeqOk =
    lastSeq === undefined ||
    lastSeq === null ||
    (typeof lastSeq === 'number' && Number.isInteger(lastSeq) && lastSeq >= 0);
  if (!lastSeqOk) bad.push('lastSeq');
  return bad;
}

describe('LOGIN body validation (LonglinkValidationPipe with LoginDto)', () => {
  const pipe = new LonglinkValidationPipe();

  it('passes a LoginDto of the right types with nothing else, or throws bad-request naming exactly the bad fields', async () => {
    await fc.assert(
      fc.asyncProperty(loginBodyArb, async (body) => {
        const expectedBad = badLoginFields(body);
        const out = await attemptAsync(() => pipe.transform(body, asBody(LoginDto)));
        if (expectedBad.length === 0) {
          expect(out.ok).toBe(true);
          const dto = (out as { value: LoginDto }).value;
          expect(dto).toBeInstanceOf(LoginDto);
          expect(typeof dto.token).toBe('string');
          expect(dto.token).toBe((body as Record<string, unknown>).token);
          if (dto.lastSeq !== undefined && dto.lastSeq !== null) {
            expect(Number.isInteger(dto.lastSeq) && dto.lastSeq >= 0).toBe(true);
          }
          // Whitelisted: a uid (or anything else) in the body never reaches the handler.
          for (const key of Object.keys(dto)) expect(['token', 'lastSeq']).toContain(key);
          return;
        }
        expect(out.ok).toBe(false);
        const named = expectBadRequestNaming((out as { error: unknown }).error, [
          'token',
          'lastSeq',
        ]);
        expect([...new Set(named)].sort()).toEqual([...expectedBad].sort());
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a token longer than 8192 characters, however long, with bad-request naming token', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: MAX_TOKEN_CHARS + 1, max: 65_000 }), async (size) => {
        const out = await attemptAsync(() =>
          pipe.transform(
            parseBody(Buffer.from(JSON.stringify({ token: 't'.repeat(size) }))),
            asBody(LoginDto),
          ),
        );
        expect(expectBadRequestNaming((out as { error: unknown }).error, ['token'])).toEqual([
          'token',
        ]);
      }),
      { numRuns: 30 },
    );
  });

  // parseBody refuses nesting past maxJsonDepth (bad-json), so the pipe only sees bounded depth.
  it('answers deeply nested JSON in any field or at the root with bad-request or a valid DTO, nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: MAX_FRAME_DEPTH }),
        fc.constantFrom('array' as const, 'object' as const),
        fc.constantFrom('token', 'lastSeq', 'extra', 'root'),
        async (depth, shape, where) => {
          const deep = nestedJson(depth, shape);
          const text = where === 'root' ? deep : `{"token":"t","lastSeq":1,"${where}":${deep}}`;
          const parsed = attempt(() => parseBody(Buffer.from(text)));
          if (!parsed.ok) {
            expect((parsed.error as BodyError).code).toBe('bad-json');
            return;
          }
          const body = parsed.value;
          const out = await attemptAsync(() => pipe.transform(body, asBody(LoginDto)));
          if (!out.ok) {
            expect(out.error).toBeInstanceOf(LonglinkException);
            expect((out.error as LonglinkException).code).toBe('bad-request');
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
