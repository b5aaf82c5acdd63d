import 'reflect-metadata';
import fc from 'fast-check';
import { LonglinkValidationPipe } from '../common/longlink-validation.pipe.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { parseLoginBody } from './login-body.js';
import { LoginDto } from './login.dto.js';

/** What the client would be told: the checked fields, or the ERROR's code and message. */
type Answer =
  { ok: true; token: string; lastSeq: unknown } | { ok: false; code: string; message: string };

function refused(err: unknown): Answer {
  if (!(err instanceof LonglinkException)) throw err;
  return { ok: false, code: err.code, message: err.message };
}

const pipe = new LonglinkValidationPipe();

async function byPipe(body: unknown): Promise<Answer> {
  try {
    const dto = (await pipe.transform(body, { type: 'body', metatype: LoginDto })) as LoginDto;
    // null and undefined both mean "omitted" to the session layer.
    return { ok: true, token: dto.token, lastSeq: dto.lastSeq ?? undefined };
  } catch (err) {
    return refused(err);
  }
}

function byHand(body: unknown): Answer {
  try {
    const { token, lastSeq } = parseLoginBody(body);
    return { ok: true, token, lastSeq };
  } catch (err) {
    return refused(err);
  }
}

/** Characters class-validator counts specially (pairs, lone surrogates, variation selectors). */
const tricky = fc.constantFrom(
  'a',
  '.',
  '\uFE0F',
  '\uFE0E',
  '\uD800',
  '\uDC00',
  '\uD83D\uDE00',
  'é',
);
const trickyString = fc.string({ unit: tricky, maxLength: 40 });
/** Strings around the 8192-character limit, in UTF-16 units and in counted characters. */
const nearLimit = fc
  .tuple(fc.integer({ min: 8100, max: 8300 }), trickyString)
  .map(([n, tail]) => 'x'.repeat(n) + tail);
const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 5 }),
  fc.double(),
  fc.constantFrom(0, -0, 1.5, -1, 2 ** 53, 1e300),
  fc.string(),
  trickyString,
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);
const loginBody = fc.oneof(
  fc.record(
    { token: fc.oneof(anyValue, nearLimit), lastSeq: anyValue, extra: anyValue },
    { requiredKeys: [] },
  ),
  anyValue,
  fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown),
);

describe('parseLoginBody', () => {
  it('answers every body exactly as LonglinkValidationPipe with LoginDto does', async () => {
    await fc.assert(
      fc.asyncProperty(loginBody, async (body) => {
        expect(byHand(body)).toEqual(await byPipe(body));
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['no token', {}, 'token: token must be a string'],
    ['an empty token', { token: '' }, 'token: token must be longer than or equal to 1 characters'],
    [
      'a long token and a negative lastSeq',
      { token: 't'.repeat(8193), lastSeq: -1 },
      'token: token must be shorter than or equal to 8192 characters; lastSeq: lastSeq must not be less than 0',
    ],
    [
      'a fractional lastSeq',
      { token: 't', lastSeq: 1.5 },
      'lastSeq: lastSeq must be an integer number',
    ],
    ['a body that is not an object', 42, 'token: token must be a string'],
  ])('refuses %s with bad-request', (_what, body, message) => {
    expect(byHand(body)).toEqual({ ok: false, code: 'bad-request', message });
  });

  it('counts a surrogate pair as one character, as class-validator does', async () => {
    const token = 'x'.repeat(8191) + '\uD83D\uDE00';
    expect(byHand({ token })).toEqual({ ok: true, token, lastSeq: undefined });
    expect(await byPipe({ token })).toEqual(byHand({ token }));
  });

  it('keeps only token and lastSeq', () => {
    expect(parseLoginBody({ token: 't', lastSeq: 3, uid: 'admin' })).toEqual({
      token: 't',
      lastSeq: 3,
    });
  });
});
