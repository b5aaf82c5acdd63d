import { LonglinkClient } from '../../src/client/longlink.client';
import { MsgOp } from '../../src/messaging/messaging.ops';
import { Op } from '../../src/transport/ops';
import { ClientPool, eventually, freePort, nextEvent } from './support/client-harness';
import { sleep } from '../support/wait';
import { FakeGateway, loginReply } from './support/fake-gateway';

describe('LonglinkClient deadlines', () => {
  let fake: FakeGateway | undefined;
  const pool = new ClientPool(() => {
    if (!fake) throw new Error('no fake gateway');
    return fake;
  });

  afterEach(async () => {
    await pool.cleanup();
    await fake?.close();
    fake = undefined;
  });

  it('rejects connect() with timeout when LOGIN is never answered', async () => {
    fake = await FakeGateway.start(() => undefined);
    const client = pool.create('bob', { requestTimeoutMs: 150 });
    const started = Date.now();
    await expect(client.connect()).rejects.toMatchObject({
      code: 'timeout',
      message: 'no answer to LOGIN within 150 ms',
    });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(client.state).toBe('closed');
  });

  it('rejects a request with timeout, ignores its late reply, and carries on', async () => {
    const late: Parameters<FakeGateway['reply']>[0][] = [];
    fake = await FakeGateway.start((request, gw) => {
      if (request.op === Op.LOGIN) gw.reply(request, loginReply('bob'));
      else if (request.op === 1001 && late.length === 0)
        late.push(request); // silent, once
      else if (request.op === 1001) gw.reply(request, { ok: true });
    });
    const client = await pool.connected('bob', { requestTimeoutMs: 150 });
    await expect(client.request(1001)).rejects.toMatchObject({ code: 'timeout' });
    fake.reply(late[0], { late: true });
    await expect(client.request(1001)).resolves.toEqual({ ok: true });
    expect(client.state).toBe('ready');
  });

  it('send() times out as a whole, with the time it was given', async () => {
    fake = await FakeGateway.start((request, gw) => {
      if (request.op === Op.LOGIN) gw.reply(request, loginReply('bob'));
    });
    const client = await pool.connected('bob');
    await expect(client.send('alice', 'hi', { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'timeout',
      message: 'no answer to SEND within 100 ms',
    });
    expect(fake.requests.filter((r) => r.op === MsgOp.SEND)).toHaveLength(1);
  });

  it('drops a link whose heartbeats go unanswered, and reconnects', async () => {
    let connection = 0;
    fake = await FakeGateway.start((request, gw) => {
      if (request.op === Op.LOGIN) {
        connection++;
        gw.reply(request, loginReply('bob', 50, 150));
      } else if (request.op === Op.HEARTBEAT && connection > 1) {
        gw.reply(request); // the first connection never answers: a peer gone silent
      }
    });
    const client = await pool.connected('bob');
    const down = await nextEvent(client, 'disconnect', 2000);
    expect(down[0]).toEqual({ reason: 'heartbeat timeout', willReconnect: true });
    await nextEvent(client, 'reconnect', 2000);
    const before = fake.requests.length;
    await sleep(300);
    expect(client.state).toBe('ready');
    // Every 50 ms, as announced: about 6 in 300 ms (fewer only if timers run late).
    const heartbeats = fake.requests.slice(before).filter((r) => r.op === Op.HEARTBEAT);
    expect(heartbeats.length).toBeGreaterThanOrEqual(3);
  });

  it('rejects connect() with cannot-connect, naming the address, when nothing listens', async () => {
    const port = await freePort();
    const client = new LonglinkClient({ port, token: 't' });
    await expect(client.connect()).rejects.toMatchObject({
      code: 'cannot-connect',
      message: `cannot connect to 127.0.0.1:${port} (connection refused)`,
    });
  });

  it('waits for a reconnect inside send(), up to its timeout', async () => {
    let logins = 0;
    fake = await FakeGateway.start((request, gw) => {
      if (request.op === Op.LOGIN) {
        logins++;
        gw.reply(request, loginReply('bob'));
      } else if (request.op === MsgOp.SEND && logins === 1) {
        request.socket.destroy(); // lost before the acknowledgement
      } else if (request.op === MsgOp.SEND) {
        const body = request.body as { clientMsgId: string };
        gw.reply(request, { clientMsgId: body.clientMsgId, msgId: 'm-1', seq: 1, ts: 1 });
      }
    });
    const client = await pool.connected('bob');
    await expect(client.send('alice', 'hi', { timeoutMs: 2000 })).resolves.toBe('m-1');
    const sends = fake.requests.filter((r) => r.op === MsgOp.SEND).map((r) => r.body);
    // Sent again after the reconnect, under the same clientMsgId: the server stores it once.
    expect(sends).toHaveLength(2);
    expect(sends[1]).toEqual(sends[0]);
    await eventually(() => client.state === 'ready', 'ready');
  });
});
