import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HttpTestGateway, startHttpGateway } from './support/http-gateway';
import { MessagingClient, eventually } from './support/messaging-client';
import { TestClient } from './support/test-client';

/** One sample of the exposition text: `name{a="x",b="y"} 3`, labels in any order. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = new Map(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

describe('HTTP port: GET /metrics', () => {
  let h: HttpTestGateway;
  const scrape = async () => {
    const res = await fetch(`${h.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };
  const value = async (name: string, labels: Record<string, string> = {}) =>
    sample(await scrape(), name, labels) ?? 0;

  beforeAll(async () => {
    h = await startHttpGateway();
  });
  afterAll(() => h.close());

  it('is open without a token, in the Prometheus text format, with the default process metrics', async () => {
    const res = await fetch(`${h.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(sample(text, name)).toEqual(expect.any(Number));
    }
    expect(text).toMatch(/^# TYPE longlink_frames_in_total counter$/m);
    expect(text).toMatch(/^# TYPE longlink_store_append_seconds histogram$/m);
    expect(sample(text, 'longlink_node_info', { store: 'memory', cluster: 'false' })).toBe(1);
    expect(sample(text, 'longlink_draining')).toBe(0);
  });

  it('keeps each gateway in its own registry', async () => {
    const other = await startHttpGateway();
    try {
      const a = await TestClient.connect(h.port);
      await eventually(
        async () => (await value('longlink_connections', { listener: 'tcp' })) >= 1,
        'tcp conn',
      );
      const text = await (await fetch(`${other.baseUrl}/metrics`)).text();
      expect(sample(text, 'longlink_connections', { listener: 'tcp' })).toBe(0);
      a.close();
      await eventually(
        async () => (await value('longlink_connections', { listener: 'tcp' })) === 0,
        'closed',
      );
    } finally {
      await other.close();
    }
  });

  it('counts connections by listener, users, and logins by result', async () => {
    const tcp0 = await value('longlink_connections', { listener: 'tcp' });
    const ok0 = await value('longlink_logins_total', { result: 'ok' });
    const bad0 = await value('longlink_logins_total', { result: 'invalid-token' });
    const expired0 = await value('longlink_logins_total', { result: 'token-expired' });
    const users0 = await value('longlink_users_online');

    const good = await TestClient.connect(h.port);
    const bad = await TestClient.connect(h.port);
    const expired = await TestClient.connect(h.port);
    expect((await good.login(await h.token('metrics-alice'))).op).toBe(
      (Op.LOGIN | REPLY_FLAG) >>> 0,
    );
    expect((await bad.login('not.a.jwt')).body.code).toBe('invalid-token');
    expect((await expired.login(await h.token('metrics-late', '-1s'))).body.code).toBe(
      'token-expired',
    );

    const text = await scrape();
    expect(sample(text, 'longlink_connections', { listener: 'tcp' })).toBe(tcp0 + 3);
    expect(sample(text, 'longlink_connections', { listener: 'websocket' })).toBe(0);
    expect(sample(text, 'longlink_users_online')).toBe(users0 + 1);
    expect(sample(text, 'longlink_logins_total', { result: 'ok' })).toBe(ok0 + 1);
    expect(sample(text, 'longlink_logins_total', { result: 'invalid-token' })).toBe(bad0 + 1);
    expect(sample(text, 'longlink_logins_total', { result: 'token-expired' })).toBe(expired0 + 1);
    expect(
      sample(text, 'longlink_errors_sent_total', { code: 'invalid-token' }),
    ).toBeGreaterThanOrEqual(1);

    for (const c of [good, bad, expired]) c.close();
    await eventually(
      async () => (await value('longlink_connections', { listener: 'tcp' })) === tcp0,
      'connections closed',
    );
    expect(await value('longlink_users_online')).toBe(users0);
  });

  it('counts frames in and out by op name, ERROR codes and KICK reasons', async () => {
    const before = await scrape();
    const c = await TestClient.connect(h.port);
    await c.login(await h.token('metrics-frames'));
    await c.request(Op.HEARTBEAT, {});
    await c.request(Op.HEARTBEAT, {});
    expect((await c.request(4242, {})).body.code).toBe('unknown-op');
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(delta('longlink_frames_in_total', { op: 'login' })).toBe(1);
    expect(delta('longlink_frames_in_total', { op: 'heartbeat' })).toBe(2);
    expect(delta('longlink_frames_in_total', { op: 'unknown' })).toBe(1);
    expect(delta('longlink_frames_out_total', { op: 'login.reply' })).toBe(1);
    expect(delta('longlink_frames_out_total', { op: 'heartbeat.reply' })).toBe(2);
    expect(delta('longlink_frames_out_total', { op: 'error' })).toBe(1);
    expect(delta('longlink_errors_sent_total', { code: 'unknown-op' })).toBe(1);

    // A second login of the same user kicks the first: KICK relogin.
    const kicks0 = sample(after, 'longlink_kicks_sent_total', { reason: 'relogin' }) ?? 0;
    const again = await TestClient.connect(h.port);
    await again.login(await h.token('metrics-frames'));
    await c.waitForOp(Op.KICK);
    expect(await value('longlink_kicks_sent_total', { reason: 'relogin' })).toBe(kicks0 + 1);
    c.close();
    again.close();
  });

  it('counts messages stored, pushed and acked, un-acked pushes and append latency', async () => {
    const before = await scrape();
    const delta = async (name: string) => (await value(name)) - (sample(before, name) ?? 0);

    const bob = new MessagingClient(await TestClient.connect(h.port), { autoAck: false });
    await bob.login(await h.token('metrics-bob'));
    const alice = new MessagingClient(await TestClient.connect(h.port));
    await alice.login(await h.token('metrics-alice2'));
    await alice.send('metrics-bob', { text: 'one' });
    await alice.send('metrics-bob', { text: 'two' });
    await bob.waitForPushes(2);

    expect(await delta('longlink_messages_stored_total')).toBe(2);
    expect(await delta('longlink_messages_pushed_total')).toBe(2);
    expect(await delta('longlink_messages_acked_total')).toBe(0);
    expect(await value('longlink_messages_unacked')).toBe(2);
    expect(await delta('longlink_store_append_seconds_count')).toBeGreaterThanOrEqual(1);
    const text = await scrape();
    expect(sample(text, 'longlink_frames_out_total', { op: 'msg' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'longlink_frames_in_total', { op: 'msg.send' })).toBeGreaterThanOrEqual(2);

    bob.ack(2);
    await eventually(async () => (await value('longlink_messages_unacked')) === 0, 'acked');
    expect(await delta('longlink_messages_acked_total')).toBe(2);
    bob.close();
    alice.close();
  });
});
