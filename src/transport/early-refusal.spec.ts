import { fakeClientHandle, fakeListenServer } from '../../test/support/fake-listen-handle';
import { EarlyRefusal } from './early-refusal.js';

describe('EarlyRefusal', () => {
  const refused: string[] = [];
  const early = () =>
    new EarlyRefusal(
      (address) => (address === '10.0.0.1' ? 'blacklisted' : null),
      (address, reason) => refused.push(`${address} ${reason}`),
    );
  beforeEach(() => refused.splice(0));

  it('closes refused handles before Node sees them, passes the rest on', () => {
    const { server, handle, passed } = fakeListenServer(true);
    const e = early();
    e.install(server);
    expect(e.active).toBe(true);
    const bad = fakeClientHandle('10.0.0.1');
    const good = fakeClientHandle('10.0.0.2');
    handle.onconnection(0, bad);
    handle.onconnection(0, good);
    expect(bad.closed).toBe(true);
    expect(passed).toEqual([good]);
    expect(refused).toEqual(['10.0.0.1 blacklisted']);
  });

  it('stands aside where the server has no handle it knows', () => {
    const { server } = fakeListenServer(false);
    const e = early();
    e.install(server);
    expect(e.active).toBe(false);
  });

  it('stands aside for good when a client handle is not what it expects', () => {
    const { server, handle, passed } = fakeListenServer(true);
    const e = early();
    e.install(server);
    const odd = { close() {} };
    handle.onconnection(0, odd);
    expect(e.active).toBe(false);
    // From now on nothing is checked here: the Socket path checks instead.
    const bad = fakeClientHandle('10.0.0.1');
    handle.onconnection(0, bad);
    expect(passed).toEqual([odd, bad]);
    expect(bad.closed).toBe(false);
  });
});
