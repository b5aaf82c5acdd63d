import { isIP } from 'node:net';

/** One end of a proxied TCP connection. */
export interface Endpoint {
  address: string;
  port: number;
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const GATEWAY_V4: Endpoint = { address: '127.0.0.1', port: 7400 };
const GATEWAY_V6: Endpoint = { address: '::1', port: 7400 };

/**
 * A PROXY protocol v1 line as HAProxy's `send-proxy` writes it for `client`
 * (TCP4 or TCP6 by its address), or `PROXY UNKNOWN` when client is null.
 */
export function proxyV1(client: Endpoint | null, server?: Endpoint): Buffer {
  if (client === null) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const v6 = isIP(client.address) === 6;
  const to = server ?? (v6 ? GATEWAY_V6 : GATEWAY_V4);
  const line = `PROXY TCP${v6 ? 6 : 4} ${client.address} ${to.address} ${client.port} ${to.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

/**
 * A PROXY protocol v2 header as `send-proxy-v2` (HAProxy) or an NLB writes it: PROXY over
 * TCP/IPv4 or TCP/IPv6 for `client`, followed by `tlvs`; or LOCAL (a health check) when client
 * is null.
 */
export function proxyV2(client: Endpoint | null, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  const fixed = Buffer.alloc(4);
  if (client === null) {
    fixed[0] = 0x20; // version 2, LOCAL
    fixed[1] = 0x00; // AF_UNSPEC
    fixed.writeUInt16BE(tlvs.length, 2);
    return Buffer.concat([V2_SIGNATURE, fixed, tlvs]);
  }
  const v6 = isIP(client.address) === 6;
  const to = v6 ? GATEWAY_V6 : GATEWAY_V4;
  const size = v6 ? 16 : 4;
  const addresses = Buffer.alloc(2 * size + 4);
  addressBytes(client.address).copy(addresses, 0);
  addressBytes(to.address).copy(addresses, size);
  addresses.writeUInt16BE(client.port, 2 * size);
  addresses.writeUInt16BE(to.port, 2 * size + 2);
  fixed[0] = 0x21; // version 2, PROXY
  fixed[1] = v6 ? 0x21 : 0x11; // AF_INET6 or AF_INET, STREAM
  fixed.writeUInt16BE(addresses.length + tlvs.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, addresses, tlvs]);
}

/** The bytes of an IPv4 address, or of an IPv6 one written with hex groups and at most one `::`. */
function addressBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
}
