import { readFileSync } from 'node:fs';

/**
 * TcpExt ListenOverflows from /proc/net/netstat: handshakes the kernel dropped because
 * a listen backlog was full (machine-wide; during a phase, in practice the gateway's).
 * Connects it drops never reach the gateway, so the gateway can neither refuse nor
 * kick them: they wait for a retransmitted SYN-ACK. NaN where /proc is missing.
 */
export function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    return Number(values[names.indexOf('ListenOverflows')]);
  } catch {
    return NaN;
  }
}
