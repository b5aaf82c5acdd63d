import fc from 'fast-check';
import {
  PROXY_HEADER_MAX_BYTES,
  ProxyHeaderExpect,
  ProxyHeaderResult,
  V1_MAX_BYTES,
  V2_MAX_LENGTH,
  formatIpv6,
  parseProxyHeader,
  proxySignature,
} from './proxy-header';

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const FRAME = Buffer.from('0000001000010001000000030000002a', 'hex'); // a HEARTBEAT, seq 42

/** A v2 header: version 2, `command` (0 LOCAL, 1 PROXY), `famProto` (0x11 TCP4, 0x21 TCP6), body. */
function v2(command: number, famProto: number, body: Buffer): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x20 | command;
  fixed[1] = famProto;
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

function v2Tcp4(src: string, sport: number, tlvs = Buffer.alloc(0)): Buffer {
  const body = Buffer.alloc(12);
  src.split('.').forEach((b, i) => (body[i] = Number(b)));
  [192, 0, 2, 1].forEach((b, i) => (body[4 + i] = b));
  body.writeUInt16BE(sport, 8);
  body.writeUInt16BE(7400, 10);
  return v2(1, 0x11, Buffer.concat([body, tlvs]));
}

function v2Tcp6(src: Buffer, sport: number): Buffer {
  const body = Buffer.alloc(36);
  src.copy(body, 0);
  body[31] = 1; // dst ::1
  body.writeUInt16BE(sport, 32);
  body.writeUInt16BE(7400, 34);
  return v2(1, 0x21, body);
}

const ascii = (text: string) => Buffer.from(text, 'latin1');
const parse = (buf: Uint8Array, expect: ProxyHeaderExpect = 'auto') =>
  parseProxyHeader(buf, expect);
const header = (version: 1 | 2, bytes: number, address?: string, port?: number) => ({
  kind: 'header',
  version,
  bytes,
  source: address === undefined ? null : { address, port },
});
const refused = (problem: string) => ({ kind: 'refused', problem });

describe('parseProxyHeader', () => {
  describe('v1', () => {
    it('reads a TCP4 line and says where the header ends', () => {
      const line = ascii('PROXY TCP4 203.0.113.7 192.0.2.1 51234 7400\r\n');
      expect(parse(Buffer.concat([line, FRAME]), 'v1')).toEqual(
        header(1, line.length, '203.0.113.7', 51234),
      );
    });

    it('reads a TCP6 line and gives the address in canonical form', () => {
      const line = ascii('PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::1 443 7400\r\n');
      expect(parse(line, 'v1')).toEqual(header(1, line.length, '2001:db8::7', 443));
    });

    it('takes UNKNOWN (and whatever follows it) as "use the peer address"', () => {
      expect(parse(ascii('PROXY UNKNOWN\r\n'), 'v1')).toEqual(header(1, 15));
      const long = ascii('PROXY UNKNOWN ffff:: ffff:: 1 2\r\n');
      expect(parse(long, 'v1')).toEqual(header(1, long.length));
    });

    it('accepts the longest line the spec allows (107 bytes) and refuses one byte more', () => {
      const longest = ascii(
        'PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n',
      );
      expect(longest.length).toBe(V1_MAX_BYTES);
      expect(parse(longest, 'v1')).toEqual(header(1, V1_MAX_BYTES));
      const tcp6 = ascii(longest.toString('latin1').replace('UNKNOWN', 'TCP6'));
      expect(parse(tcp6, 'v1')).toEqual(
        header(1, 104, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535),
      );
      const tooLong = ascii(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES - 15)}\r\n`);
      expect(tooLong.length).toBe(V1_MAX_BYTES + 1);
      expect(parse(tooLong, 'v1')).toEqual(refused('header-too-large'));
      // Decided at 107 bytes without the rest.
      expect(parse(tooLong.subarray(0, V1_MAX_BYTES), 'v1')).toEqual(refused('header-too-large'));
    });

    it.each([
      ['a protocol other than TCP4/TCP6', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
      ['an IPv6 address in TCP4', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n'],
      ['an IPv4 address in TCP6', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n'],
      ['a leading zero in an octet', 'PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n'],
      ['a zone id', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'],
      ['a port above 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'],
      ['a port with a leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'],
      ['a missing field', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'],
      ['two spaces', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'],
      ['LF without CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
      ['a CR inside the line', 'PROXY TCP4 1.2.3.4\r 5.6.7.8 1 2\r\n'],
      ['a control byte', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\t\r\n'],
      ['a byte above ASCII', 'PROXY UNKNOWN \xe9\r\n'],
      ['lowercase', 'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ])('refuses %s as bad-header', (_name, text) => {
      expect(parse(ascii(text), 'v1')).toEqual(refused('bad-header'));
    });

    it('waits for the end of the line', () => {
      expect(parse(ascii('PROXY TCP4 203.0.113.7 192.0.2.1 51234'), 'v1')).toEqual({
        kind: 'incomplete',
      });
    });
  });

  describe('v2', () => {
    it('reads TCP over IPv4 and says where the header ends', () => {
      const h = v2Tcp4('203.0.113.7', 51234);
      expect(h.length).toBe(28);
      expect(parse(Buffer.concat([h, FRAME]), 'v2')).toEqual(header(2, 28, '203.0.113.7', 51234));
    });

    it('reads TCP over IPv6, IPv4-mapped addresses as Node shows them', () => {
      const src = Buffer.from('20010db8000000000000000000000007', 'hex');
      expect(parse(v2Tcp6(src, 1), 'v2')).toEqual(header(2, 52, '2001:db8::7', 1));
      const mapped = Buffer.from('00000000000000000000ffffcb007107', 'hex');
      expect(parse(v2Tcp6(mapped, 2), 'v2')).toEqual(header(2, 52, '::ffff:203.0.113.7', 2));
    });

    it('skips TLVs within the announced length', () => {
      const tlvs = Buffer.from('0400056c6f6e676c', 'hex'); // NOOP (type 4), 5 bytes
      const h = v2Tcp4('203.0.113.9', 9, tlvs);
      expect(parse(Buffer.concat([h, FRAME]), 'v2')).toEqual(
        header(2, 28 + tlvs.length, '203.0.113.9', 9),
      );
    });

    it('takes LOCAL (the balancer’s own health check) and AF_UNSPEC as "use the peer address"', () => {
      expect(parse(v2(0, 0x00, Buffer.alloc(0)), 'v2')).toEqual(header(2, 16));
      // LOCAL ignores whatever addresses it carries.
      expect(parse(v2(0, 0x11, Buffer.alloc(12)), 'v2')).toEqual(header(2, 28));
      expect(parse(v2(1, 0x00, Buffer.alloc(3)), 'v2')).toEqual(header(2, 19));
    });

    it.each([
      ['UNIX stream', 0x31, 216],
      ['UDP over IPv4', 0x12, 12],
      ['UDP over IPv6', 0x22, 36],
      ['IPv4 with no transport protocol', 0x10, 12],
    ])('refuses %s as unsupported-header', (_name, famProto, length) => {
      expect(parse(v2(1, famProto, Buffer.alloc(length)), 'v2')).toEqual(
        refused('unsupported-header'),
      );
    });

    it.each([
      ['version 1 in the version nibble', (h: Buffer) => (h[12] = 0x11)],
      ['an unknown command', (h: Buffer) => (h[12] = 0x22)],
      ['an unknown family', (h: Buffer) => (h[13] = 0x41)],
      ['an unknown protocol', (h: Buffer) => (h[13] = 0x13)],
    ])('refuses %s as bad-header', (_name, spoil) => {
      const h = v2Tcp4('203.0.113.7', 1);
      spoil(h);
      expect(parse(h, 'v2')).toEqual(refused('bad-header'));
    });

    it('refuses addresses shorter than their family needs', () => {
      expect(parse(v2(1, 0x11, Buffer.alloc(11)), 'v2')).toEqual(refused('bad-header'));
      expect(parse(v2(1, 0x21, Buffer.alloc(35)), 'v2')).toEqual(refused('bad-header'));
    });

    it('refuses a length over the cap from the 16 fixed bytes alone', () => {
      const fixed = v2(1, 0x11, Buffer.alloc(0));
      fixed.writeUInt16BE(V2_MAX_LENGTH + 1, 14);
      expect(parse(fixed, 'v2')).toEqual(refused('header-too-large'));
      const atCap = v2(1, 0x11, Buffer.alloc(V2_MAX_LENGTH));
      expect(atCap.length).toBe(PROXY_HEADER_MAX_BYTES);
      expect(parse(atCap, 'v2').kind).toBe('header');
      expect(parse(atCap.subarray(0, atCap.length - 1), 'v2').kind).toBe('incomplete');
    });
  });

  describe('which version, or none', () => {
    const v1Line = ascii('PROXY TCP4 203.0.113.7 192.0.2.1 1 2\r\n');
    const v2Header = v2Tcp4('203.0.113.7', 1);

    it('requires the configured version in v1/v2 mode', () => {
      expect(parse(FRAME, 'v1')).toEqual(refused('missing-header'));
      expect(parse(FRAME, 'v2')).toEqual(refused('missing-header'));
      expect(parse(v2Header, 'v1')).toEqual(refused('wrong-version'));
      expect(parse(v1Line, 'v2')).toEqual(refused('wrong-version'));
    });

    it('takes either version, or none, in auto mode', () => {
      expect(parse(v1Line).kind).toBe('header');
      expect(parse(v2Header).kind).toBe('header');
      expect(parse(FRAME)).toEqual({ kind: 'absent' });
      expect(parse(FRAME.subarray(0, 1))).toEqual({ kind: 'absent' });
    });

    it('refuses, in auto mode, a stream that starts like a signature and leaves it', () => {
      expect(parse(ascii('PROXZ TCP4'))).toEqual(refused('bad-header'));
      expect(parse(Buffer.from('0d0a0d0a00', 'hex'))).toEqual({ kind: 'incomplete' });
      expect(parse(Buffer.from('0d0a0d0a01', 'hex'))).toEqual(refused('bad-header'));
    });

    it('tells signatures apart from frames at the first byte, and exactly from 6 or 12 bytes', () => {
      expect(proxySignature(FRAME)).toBe('none');
      expect(proxySignature(ascii('PROX'))).toBe('partial');
      expect(proxySignature(ascii('PROXY '))).toBe('v1');
      expect(proxySignature(V2_SIGNATURE.subarray(0, 11))).toBe('partial');
      expect(proxySignature(V2_SIGNATURE)).toBe('v2');
      expect(proxySignature(ascii('PROXZ'))).toBe('none');
    });

    it('is incomplete for every proper prefix of a header, in every mode that takes it', () => {
      for (const [h, modes] of [
        [v1Line, ['v1', 'auto']],
        [v2Header, ['v2', 'auto']],
        [v2Tcp6(Buffer.alloc(16, 0xab), 3), ['v2', 'auto']],
      ] as const) {
        for (const mode of modes) {
          for (let n = 1; n < h.length; n++) {
            expect([mode, n, parse(h.subarray(0, n), mode)]).toEqual([
              mode,
              n,
              { kind: 'incomplete' },
            ]);
          }
          expect(parse(h, mode).kind).toBe('header');
        }
      }
    });
  });

  describe('properties', () => {
    const modes = fc.constantFrom<ProxyHeaderExpect>('v1', 'v2', 'auto');
    /** Random bytes, often after a signature or a valid header so the deep paths are reached. */
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 5000 }).map((b) => Buffer.concat([V2_SIGNATURE, b])),
      fc.uint8Array({ maxLength: 150 }).map((b) => Buffer.concat([ascii('PROXY '), b])),
      fc
        .tuple(fc.nat(0xffff), fc.constantFrom(0x11, 0x21, 0x20, 0x31), fc.uint8Array())
        .map(([length, fam, rest]) => {
          const h = v2(1, fam, Buffer.alloc(0));
          h.writeUInt16BE(length, 14);
          return Buffer.concat([h, rest]);
        }),
      fc
        .tuple(fc.ipV4(), fc.ipV4(), fc.nat(65535), fc.nat(65535), fc.uint8Array())
        .map(([a, b, p, q, rest]) =>
          Buffer.concat([ascii(`PROXY TCP4 ${a} ${b} ${p} ${q}\r\n`), rest]),
        ),
      fc
        .tuple(fc.ipV6(), fc.ipV6(), fc.nat(65535), fc.nat(65535))
        .map(([a, b, p, q]) => ascii(`PROXY TCP6 ${a} ${b} ${p} ${q}\r\n`)),
    );

    /** A view of `buf` that throws when anything at or past `cap` is read. */
    function guarded(buf: Uint8Array, cap: number): Uint8Array {
      return new Proxy(buf, {
        get(target, key) {
          if (typeof key === 'string' && /^\d+$/.test(key) && Number(key) >= cap) {
            throw new Error(`read byte ${key} past the cap ${cap}`);
          }
          const value: unknown = Reflect.get(target, key);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    }

    it('never throws, and every result is one of the four kinds, with sane fields', () => {
      fc.assert(
        fc.property(input, modes, (buf, mode) => {
          const r = parse(buf, mode);
          expect(['incomplete', 'absent', 'header', 'refused']).toContain(r.kind);
          if (r.kind === 'header') {
            expect(r.bytes).toBeGreaterThan(0);
            expect(r.bytes).toBeLessThanOrEqual(Math.min(buf.length, PROXY_HEADER_MAX_BYTES));
            if (r.source) {
              expect(r.source.port).toBeGreaterThanOrEqual(0);
              expect(r.source.port).toBeLessThanOrEqual(65535);
            }
          }
          if (r.kind === 'incomplete') expect(buf.length).toBeLessThan(PROXY_HEADER_MAX_BYTES);
        }),
        { numRuns: 2000 },
      );
    });

    it('never reads a byte past the cap, nor past the end of its input', () => {
      fc.assert(
        fc.property(input, fc.uint8Array({ maxLength: 64 }), modes, (buf, tail, mode) => {
          const long = Buffer.concat([buf, Buffer.alloc(PROXY_HEADER_MAX_BYTES), tail]);
          expect(() => parse(guarded(long, PROXY_HEADER_MAX_BYTES), mode)).not.toThrow();
          expect(() => parse(guarded(buf, buf.length), mode)).not.toThrow();
        }),
        { numRuns: 500 },
      );
    });

    it('depends only on the first PROXY_HEADER_MAX_BYTES bytes, and has decided by then', () => {
      fc.assert(
        fc.property(input, fc.uint8Array(), fc.uint8Array(), modes, (buf, t1, t2, mode) => {
          const head = Buffer.concat([buf, Buffer.alloc(PROXY_HEADER_MAX_BYTES)]).subarray(
            0,
            PROXY_HEADER_MAX_BYTES,
          );
          const a = parse(Buffer.concat([head, t1]), mode);
          expect(a.kind).not.toBe('incomplete');
          expect(parse(Buffer.concat([head, t2]), mode)).toEqual(a);
        }),
        { numRuns: 300 },
      );
    });

    it('gives the same answer however the bytes were split, once they are all there', () => {
      fc.assert(
        fc.property(input, modes, fc.nat(), (buf, mode, at) => {
          const whole = parse(buf, mode);
          const prefix = parse(buf.subarray(0, buf.length === 0 ? 0 : at % buf.length), mode);
          // A prefix is undecided, or already decided the same way (a refusal, or no header).
          if (prefix.kind !== 'incomplete') expect(prefix).toEqual(whole);
        }),
        { numRuns: 1000 },
      );
    });

    it('reads back the v1 and v2 headers it is given', () => {
      fc.assert(
        fc.property(fc.ipV4(), fc.nat(65535), fc.boolean(), (address, port, asV2) => {
          const h = asV2
            ? v2Tcp4(address, port)
            : ascii(`PROXY TCP4 ${address} 192.0.2.1 ${port} 7400\r\n`);
          const r: ProxyHeaderResult = parse(Buffer.concat([h, FRAME]));
          expect(r).toEqual(header(asV2 ? 2 : 1, h.length, address, port));
        }),
      );
    });
  });
});

describe('formatIpv6', () => {
  it.each([
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
    ['20010db800000001000100010001000a', '2001:db8:0:1:1:1:1:a'],
    ['fe800000000000000000000000000000', 'fe80::'],
    ['00000000000000000000ffff7f000001', '::ffff:127.0.0.1'],
  ])('%s → %s (RFC 5952)', (hex, text) => {
    expect(formatIpv6(Buffer.from(hex, 'hex'))).toBe(text);
  });
});
