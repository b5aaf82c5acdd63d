/**
 * Source addresses and ports for the connection-scale scenario. One (source
 * address, destination address, port) triple allows about as many connections
 * as the ephemeral port range (32768–60999: 28,232 on Linux by default), so
 * client j connects from 127.0.0.(2 + j / perAddress): the whole 127.0.0.0/8
 * range is loopback on Linux without any configuration.
 */
export function sourceAddress(index: number, perAddress: number): string {
  const n = 2 + Math.floor(index / perAddress);
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** First explicit source port; ports stay below the kernel's ephemeral range. */
export const LOCAL_PORT_BASE = 10000;
/** Most clients per source address with explicit ports (10000..32767). */
export const MAX_PER_ADDRESS = 22000;

export interface LocalEndpoint {
  address: string;
  /** 0: let the kernel choose. */
  port: number;
}

/**
 * Where client j connects from. The port is chosen here, not by the kernel:
 * bind() with port 0 on a given source address searches for a free port, and
 * that search slows to a few hundred binds per second past ~7,000 sockets
 * (measured here), which would make the ramp measure the kernel, not the server.
 */
export function localEndpoint(index: number, perAddress: number): LocalEndpoint {
  const per = Math.min(perAddress, MAX_PER_ADDRESS);
  return { address: sourceAddress(index, per), port: LOCAL_PORT_BASE + (index % per) };
}
