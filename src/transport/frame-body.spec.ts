import fc from 'fast-check';
import { BodyError, DEFAULT_BODY_LIMITS, parseBody } from './frame-body.js';
import { encodeJsonFrame, HEADER_BYTES } from './frame.codec.js';

/** Runs parseBody expecting a BodyError, and returns it for assertions. */
function bodyError(bytes: Buffer): BodyError {
  try {
    parseBody(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(BodyError);
    return error as BodyError;
  }
  throw new Error(`expected parseBody to throw on ${bytes.toString('hex')}`);
}

/** JSON has no -0 (JSON.stringify writes it as 0); everything else survives a roundtrip. */
function withoutNegativeZero(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNegativeZero(v)]));
  }
  return value;
}

describe('parseBody', () => {
  it('parses an empty body as {}', () => {
    expect(parseBody(Buffer.alloc(0))).toEqual({});
  });

  it('returns a fresh object for each empty body, so handlers cannot share one', () => {
    const a = parseBody(Buffer.alloc(0)) as Record<string, unknown>;
    a.mutated = true;
    expect(parseBody(Buffer.alloc(0))).toEqual({});
  });

  it('parses a UTF-8 JSON object, multi-byte characters included', () => {
    expect(parseBody(Buffer.from('{"text":"héllo 😀 世界"}', 'utf8'))).toEqual({
      text: 'héllo 😀 世界',
    });
  });

  it('parses JSON scalars and arrays, not only objects', () => {
    expect(parseBody(Buffer.from('null'))).toBeNull();
    expect(parseBody(Buffer.from('42'))).toBe(42);
    expect(parseBody(Buffer.from('"s"'))).toBe('s');
    expect(parseBody(Buffer.from(' [1, 2] \n'))).toEqual([1, 2]);
  });

  it('parses the body of a frame handed out as a view into a larger buffer', () => {
    const frame = Buffer.concat([encodeJsonFrame(1000, 1, { a: 1 }), Buffer.from('trailing')]);
    const body = frame.subarray(HEADER_BYTES, frame.readUInt32BE(0));
    expect(parseBody(body)).toEqual({ a: 1 });
  });

  it.each([
    ['C3 28 (a lead byte followed by a non-continuation byte)', 'c328'],
    ['a lone FF', 'ff'],
    ['a string holding a lone FE', '22fe22'],
    ['an overlong encoding of "/" (C0 AF)', '22c0af22'],
    ['an encoded UTF-16 surrogate (ED A0 80)', '22eda08022'],
    ['a truncated 3-byte sequence at the end', '22e282'],
    ['a code point above U+10FFFF (F4 90 80 80)', '22f490808022'],
  ])('rejects invalid UTF-8 with code bad-json: %s', (_name, bytesHex) => {
    const error = bodyError(Buffer.from(bytesHex, 'hex'));
    expect(error.code).toBe('bad-json');
    expect(error.message).toMatch(/UTF-8/);
  });

  it.each([
    ['plain text', 'hello'],
    ['an unterminated object', '{'],
    ['single-quoted keys', "{'a':1}"],
    ['trailing garbage', '{}x'],
    ['two values', '{} {}'],
    ['a trailing comma', '[1,]'],
    ['whitespace only', '   '],
    ['undefined', 'undefined'],
    ['NaN', 'NaN'],
  ])('rejects text that is not JSON with code bad-json: %s', (_name, text) => {
    const error = bodyError(Buffer.from(text, 'utf8'));
    expect(error.code).toBe('bad-json');
    expect(error.message).toMatch(/JSON/);
  });

  describe('properties', () => {
    it('refuses nesting deeper than maxDepth exactly, whatever the body length', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 8 }),
          fc.integer({ min: 1, max: 12 }),
          fc.constantFrom('[', '{"k":'),
          fc.nat({ max: 40 }),
          (maxDepth, depth, open, padding) => {
            const close = open === '[' ? ']' : '}';
            const text = open.repeat(depth) + ' '.repeat(padding) + '1' + close.repeat(depth);
            const parse = () => parseBody(Buffer.from(text), { ...DEFAULT_BODY_LIMITS, maxDepth });
            if (depth > maxDepth) expect(parse).toThrow(/nests deeper/);
            else expect(parse).not.toThrow();
          },
        ),
      );
    });

    it('refuses more keys and array elements than maxItems, counting none inside strings', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 0, max: 60 }),
          fc.boolean(),
          (maxItems, n, asObject) => {
            // A container of n items: n - 1 commas plus the container itself; a string of commas is free.
            const items = Array.from({ length: n }, (_, i) => (asObject ? `"k${i}":","` : `","`));
            const text = asObject ? `{${items.join(',')}}` : `[${items.join(',')}]`;
            const cost = Math.max(n - 1, 0) + 1;
            const parse = () => parseBody(Buffer.from(text), { maxDepth: 64, maxItems });
            if (cost > maxItems) expect(parse).toThrow(/more than \d+ keys and array elements/);
            else expect(parse).not.toThrow();
          },
        ),
      );
    });

    it('roundtrips any JSON value encoded as UTF-8', () => {
      fc.assert(
        fc.property(fc.jsonValue({ stringUnit: 'grapheme', maxDepth: 4 }), (value) => {
          const text = JSON.stringify(value);
          expect(parseBody(Buffer.from(text, 'utf8'))).toEqual(withoutNegativeZero(value));
        }),
        { numRuns: 200 },
      );
    });

    it('roundtrips any JSON value through encodeJsonFrame', () => {
      fc.assert(
        fc.property(fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }), (value) => {
          const frame = encodeJsonFrame(1000, 1, value);
          expect(parseBody(frame.subarray(HEADER_BYTES))).toEqual(withoutNegativeZero(value));
        }),
        { numRuns: 200 },
      );
    });

    it('either parses arbitrary bytes as JSON or throws code bad-json, nothing else', () => {
      const bytesArb = fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        // Mostly-valid JSON with one byte replaced, to reach the JSON parser often.
        fc
          .tuple(fc.jsonValue({ maxDepth: 2 }), fc.nat(), fc.integer({ min: 0, max: 255 }))
          .map(([value, at, byte]) => {
            const bytes = Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');
            if (bytes.length > 0) bytes[at % bytes.length] = byte;
            return new Uint8Array(bytes);
          }),
      );
      fc.assert(
        fc.property(bytesArb, (raw) => {
          const bytes = Buffer.from(raw);
          let parsed: unknown;
          try {
            parsed = parseBody(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(BodyError);
            expect((error as BodyError).code).toBe('bad-json');
            return;
          }
          if (bytes.length === 0) expect(parsed).toEqual({});
          else expect(parsed).toEqual(JSON.parse(bytes.toString('utf8')));
        }),
        { numRuns: 500 },
      );
    });

    it('accepts exactly the bytes that are valid UTF-8 holding valid JSON', () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 16 }), (raw) => {
          const bytes = Buffer.from(raw);
          const text = bytes.toString('utf8');
          let expectOk = Buffer.from(text, 'utf8').equals(bytes);
          if (expectOk) {
            try {
              JSON.parse(text);
            } catch {
              expectOk = false;
            }
          }
          let ok = true;
          try {
            parseBody(bytes);
          } catch {
            ok = false;
          }
          expect(ok).toBe(expectOk);
        }),
        { numRuns: 500 },
      );
    });
  });
});
