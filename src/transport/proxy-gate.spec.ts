import { fakeClientHandle, fakeListenServer } from '../../test/support/fake-listen-handle';
import { toBlockList } from '../config/longlink-config';
import { EarlyRefusal } from './early-refusal';
import { ProxyGate } from './proxy-gate';
import { ProxyHeaderExpect } from './proxy-header';
import { TransportStats } from './transport-stats';

/** EarlyRefusal checking with a ProxyGate in front of access hooks that refuse everyone. */
function setup(mode: ProxyHeaderExpect) {
  const stats = new TransportStats();
  const gate = new ProxyGate(
    { mode, trusted: toBlockList(['10.0.0.0/24', 'fd00::1']), headerTimeoutMs: 1000 },
    stats,
    () => undefined,
  );
  const hooked: string[] = [];
  const hooks = (address: string) => {
    hooked.push(address);
    return 'ip-denied';
  };
  const early = new EarlyRefusal(
    (address) => gate.atAccept(address, hooks),
    () => undefined,
  );
  const { server, handle, passed } = fakeListenServer();
  early.install(server);
  const connect = (address: string) => {
    const c = fakeClientHandle(address);
    handle.onconnection(0, c);
    return c.closed ? 'closed' : 'passed';
  };
  return { connect, hooked, passed, stats };
}

describe('ProxyGate at accept (with EarlyRefusal)', () => {
  it.each(['v1', 'v2', 'auto'] as const)(
    '%s: lets a trusted balancer through unchecked: its caps and bans are its clients’',
    (mode) => {
      const s = setup(mode);
      expect([s.connect('10.0.0.7'), s.connect('fd00::1')]).toEqual(['passed', 'passed']);
      expect(s.hooked).toEqual([]);
    },
  );

  it.each(['v1', 'v2'] as const)(
    '%s: refuses any other peer at the handle, counted, without asking the hooks',
    (mode) => {
      const s = setup(mode);
      expect(s.connect('192.0.2.1')).toBe('closed');
      expect(s.connect('::1')).toBe('closed');
      expect(s.hooked).toEqual([]);
      expect(s.stats.proxyRefusals.get('untrusted-peer')).toBe(2);
    },
  );

  it('auto: checks any other peer by its own address, as without the PROXY protocol', () => {
    const s = setup('auto');
    expect(s.connect('192.0.2.1')).toBe('closed');
    expect(s.hooked).toEqual(['192.0.2.1']);
    expect(s.stats.proxyRefusals.size).toBe(0);
  });
});
