import { Op } from '../src/transport/ops';
import { ClusterNamespace } from './support/cluster-fixture';
import { HttpTestGateway, startHttpGateway } from './support/http-gateway';
import { MessagingClient, eventually } from './support/messaging-client';
import { TestClient } from './support/test-client';

const ADMIN_TOKEN = 'admin-spec-token-0123456789';

function refused(text: string, reason: string): number {
  const m = new RegExp(`^longlink_admin_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(
    text,
  );
  return m ? Number(m[1]) : 0;
}

describe('HTTP port: admin API', () => {
  let h: HttpTestGateway;
  const call = (method: string, path: string, body?: unknown, token: string | null = ADMIN_TOKEN) =>
    fetch(`${h.baseUrl}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const json = async (method: string, path: string, body?: unknown) => {
    const res = await call(method, path, body);
    return { status: res.status, body: (await res.json()) as any };
  };
  const login = async (uid: string, autoAck = true) => {
    const client = new MessagingClient(await TestClient.connect(h.port), { autoAck });
    await client.login(await h.token(uid));
    return client;
  };

  beforeAll(async () => {
    h = await startHttpGateway({ admin: { token: ADMIN_TOKEN } });
  });
  afterAll(() => h.close());

  describe('authentication', () => {
    it('answers 401 without a token, with a wrong one, or not as Bearer, and counts each', async () => {
      const metrics = async () => (await fetch(`${h.baseUrl}/metrics`)).text();
      const before = await metrics();
      const missing = await call('GET', '/admin/stats', undefined, null);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await missing.json()).toMatchObject({ statusCode: 401, error: 'unauthorized' });
      expect(
        (await call('GET', '/admin/stats', undefined, 'x'.repeat(ADMIN_TOKEN.length))).status,
      ).toBe(401);
      expect((await call('GET', '/admin/users/bob', undefined, `${ADMIN_TOKEN}x`)).status).toBe(
        401,
      );
      const basic = await fetch(`${h.baseUrl}/admin/stats`, {
        headers: { authorization: `Basic ${ADMIN_TOKEN}` },
      });
      expect(basic.status).toBe(401);
      // Refused before the body is looked at: a bad body is 401, not 400.
      expect((await call('POST', '/admin/messages', { nope: 1 }, 'wrong')).status).toBe(401);
      const after = await metrics();
      expect(refused(after, 'missing-token') - refused(before, 'missing-token')).toBe(2);
      expect(refused(after, 'invalid-token') - refused(before, 'invalid-token')).toBe(3);
    });

    it('does not exist (404) when admin.token is not set', async () => {
      const plain = await startHttpGateway();
      try {
        for (const [method, path] of [
          ['GET', '/admin/stats'],
          ['GET', '/admin/users/bob'],
          ['POST', '/admin/messages'],
          ['POST', '/admin/users/bob/kick'],
        ]) {
          const res = await fetch(`${plain.baseUrl}${path}`, {
            method,
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          });
          expect(res.status).toBe(404);
          expect(await res.json()).toEqual({
            statusCode: 404,
            error: 'Not Found',
            message: `Cannot ${method} ${path}`,
          });
        }
      } finally {
        await plain.close();
      }
    });
  });

  describe('GET /admin/users/:uid', () => {
    it('answers a user never seen with online false, no connections and zero cursors', async () => {
      expect(await json('GET', '/admin/users/adm-nobody')).toEqual({
        status: 200,
        body: {
          uid: 'adm-nobody',
          online: false,
          connections: [],
          inbox: { lastSeq: 0, ackedSeq: 0 },
        },
      });
    });

    it('shows an online user with its connection and cursors', async () => {
      const since = Date.now();
      const dave = await login('adm-dave');
      const { status, body } = await json('GET', '/admin/users/adm-dave');
      expect(status).toBe(200);
      expect(body).toEqual({
        uid: 'adm-dave',
        online: true,
        connections: [
          {
            address: '127.0.0.1',
            port: dave.conn.socket.localPort,
            listener: 'tcp',
            loginAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          },
        ],
        inbox: { lastSeq: 0, ackedSeq: 0 },
      });
      expect(Date.parse(body.connections[0].loginAt)).toBeGreaterThanOrEqual(since - 5);
      dave.close();
      await eventually(
        async () => (await json('GET', '/admin/users/adm-dave')).body.online === false,
        'offline',
      );
    });

    it('answers 400 naming uid when it is too long', async () => {
      const { status, body } = await json('GET', `/admin/users/${'u'.repeat(129)}`);
      expect(status).toBe(400);
      expect(body).toMatchObject({ statusCode: 400, error: 'bad-request', field: 'uid' });
    });
  });

  describe('POST /admin/messages', () => {
    it('stores a message for an offline user, who gets it at login and can ack it', async () => {
      const sent = await json('POST', '/admin/messages', {
        to: 'adm-carol',
        content: { notice: 'hi' },
      });
      expect(sent).toEqual({
        status: 201,
        body: { msgId: expect.any(String), seq: 1, ts: expect.any(Number), duplicate: false },
      });
      expect((await json('GET', '/admin/users/adm-carol')).body).toMatchObject({
        online: false,
        inbox: { lastSeq: 1, ackedSeq: 0 },
      });
      const carol = await login('adm-carol');
      await carol.waitForApp(1);
      expect(carol.appSeen[0]).toMatchObject({
        msgId: sent.body.msgId,
        seq: 1,
        from: 'system',
        content: { notice: 'hi' },
      });
      await eventually(
        async () => (await json('GET', '/admin/users/adm-carol')).body.inbox.ackedSeq === 1,
        'ack recorded',
      );
      carol.close();
    });

    it('pushes to an online user at once, string content and sender as given', async () => {
      const erin = await login('adm-erin', false);
      const sent = await json('POST', '/admin/messages', {
        to: 'adm-erin',
        from: 'ops',
        content: 'restart at 5',
      });
      expect(sent.status).toBe(201);
      await erin.waitForPushes(1);
      expect(erin.pushes[0]).toMatchObject({
        seq: sent.body.seq,
        from: 'ops',
        content: 'restart at 5',
      });
      expect((await json('GET', '/admin/stats')).body.messages.unacked).toBeGreaterThanOrEqual(1);
      erin.ack(sent.body.seq);
      await eventually(
        async () => (await json('GET', '/admin/stats')).body.messages.unacked === 0,
        'acked',
      );
      erin.close();
    });

    it('stores one copy per clientMsgId', async () => {
      const body = { to: 'adm-frank', clientMsgId: 'notice-1', content: 1 };
      const first = await json('POST', '/admin/messages', body);
      const again = await json('POST', '/admin/messages', body);
      expect(again.body).toEqual({ ...first.body, duplicate: true });
    });

    it.each([
      ['to missing', { content: 'x' }, 'to'],
      ['to not a string', { to: 5, content: 'x' }, 'to'],
      ['to empty', { to: '', content: 'x' }, 'to'],
      ['to too long', { to: 'u'.repeat(129), content: 'x' }, 'to'],
      ['content missing', { to: 'bob' }, 'content'],
      ['from not a string', { to: 'bob', content: 'x', from: 7 }, 'from'],
      ['clientMsgId empty', { to: 'bob', content: 'x', clientMsgId: '' }, 'clientMsgId'],
      ['an unknown field', { to: 'bob', content: 'x', priority: 'high' }, 'priority'],
      ['an array body', ['bob'], 'body'],
      ['content over the frame limit', { to: 'bob', content: 'x'.repeat(70_000) }, 'content'],
    ])('answers 400 for %s, naming the field', async (_what, payload, field) => {
      const { status, body } = await json('POST', '/admin/messages', payload);
      expect(status).toBe(400);
      expect(body).toEqual({
        statusCode: 400,
        error: 'bad-request',
        field,
        message: expect.stringMatching(`^${field}: `),
      });
    });

    it('answers 400 naming body when there is no JSON body', async () => {
      const { status, body } = await json('POST', '/admin/messages');
      expect(status).toBe(400);
      expect(body.field).toBe('body');
    });
  });

  describe('POST /admin/users/:uid/kick', () => {
    it('kicks an online user with KICK admin', async () => {
      const gina = await login('adm-gina');
      expect(await json('POST', '/admin/users/adm-gina/kick')).toEqual({
        status: 200,
        body: { kicked: true },
      });
      await gina.conn.waitForOp(Op.KICK);
      expect(gina.kick).toEqual({ code: 'admin', message: 'kicked by an operator' });
      await gina.conn.waitClosed();
    });

    it('kicks with the reason and message given', async () => {
      const hal = await login('adm-hal');
      const res = await json('POST', '/admin/users/adm-hal/kick', {
        reason: 'maintenance',
        message: 'back at 6',
      });
      expect(res.body).toEqual({ kicked: true });
      await hal.conn.waitForOp(Op.KICK);
      expect(hal.kick).toEqual({ code: 'maintenance', message: 'back at 6' });
    });

    it('answers kicked false for a user not online', async () => {
      expect(await json('POST', '/admin/users/adm-nobody/kick', {})).toEqual({
        status: 200,
        body: { kicked: false },
      });
    });

    it.each([
      ['a reason not a token', { reason: 'Bad Reason!' }, 'reason'],
      ['a reason not a string', { reason: 5 }, 'reason'],
      ['a message too long', { message: 'm'.repeat(257) }, 'message'],
      ['an unknown field', { why: 'x' }, 'why'],
    ])('answers 400 for %s, naming the field', async (_what, payload, field) => {
      const { status, body } = await json('POST', '/admin/users/adm-nobody/kick', payload);
      expect(status).toBe(400);
      expect(body).toMatchObject({ error: 'bad-request', field });
    });

    it('answers 400 naming uid when it is too long', async () => {
      const { status, body } = await json('POST', `/admin/users/${'u'.repeat(129)}/kick`, {});
      expect(status).toBe(400);
      expect(body).toMatchObject({ field: 'uid' });
    });
  });

  it('GET /admin/stats reports this node', async () => {
    const ivy = await login('adm-ivy');
    const { status, body } = await json('GET', '/admin/stats');
    expect(status).toBe(200);
    expect(body).toEqual({
      uptimeSeconds: expect.any(Number),
      connections: { tcp: expect.any(Number), websocket: 0 },
      users: expect.any(Number),
      logins: { ok: expect.any(Number), failed: expect.any(Number) },
      framesIn: expect.any(Number),
      framesOut: expect.any(Number),
      messages: {
        stored: expect.any(Number),
        pushed: expect.any(Number),
        retransmitted: expect.any(Number),
        acked: expect.any(Number),
        unacked: expect.any(Number),
      },
      store: 'memory',
      draining: false,
    });
    expect(body.connections.tcp).toBeGreaterThanOrEqual(1);
    expect(body.users).toBeGreaterThanOrEqual(1);
    expect(body.messages.stored).toBeGreaterThanOrEqual(3);
    expect(body.framesIn).toBeGreaterThan(0);
    ivy.close();
  });

  describe('in cluster mode (Redis, PostgreSQL)', () => {
    let ns: ClusterNamespace;
    let nodes: HttpTestGateway[] = [];
    beforeAll(async () => {
      ns = await ClusterNamespace.create();
      for (const id of ['node1', 'node2']) {
        nodes.push(await startHttpGateway(ns.node(id, { admin: { token: ADMIN_TOKEN } })));
      }
    });
    afterAll(async () => {
      for (const n of nodes) await n.close();
      nodes = [];
      await ns?.dispose();
    });
    const ask = async (node: HttpTestGateway, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${node.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };

    it('finds a user on another node, delivers to it and kicks it there', async () => {
      const [node1, node2] = nodes;
      const kim = new MessagingClient(await TestClient.connect(node2.port));
      await kim.login(await node2.token('adm-kim'));
      await eventually(
        async () => (await ask(node1, 'GET', '/admin/users/adm-kim')).body.online === true,
        'presence reaches Redis',
      );
      expect((await ask(node1, 'GET', '/admin/users/adm-kim')).body).toEqual({
        uid: 'adm-kim',
        online: true,
        node: 'node2',
        connections: [],
        inbox: { lastSeq: 0, ackedSeq: 0 },
      });
      expect((await ask(node2, 'GET', '/admin/users/adm-kim')).body).toMatchObject({
        online: true,
        node: 'node2',
        connections: [{ address: '127.0.0.1', listener: 'tcp', node: 'node2' }],
      });
      expect((await ask(node1, 'GET', '/admin/stats')).body).toMatchObject({
        nodeId: 'node1',
        store: 'postgres',
      });

      const sent = await ask(node1, 'POST', '/admin/messages', {
        to: 'adm-kim',
        content: 'via node1',
      });
      expect(sent.body).toMatchObject({ seq: 1, duplicate: false });
      await kim.waitForApp(1);
      expect(kim.appSeen[0]).toMatchObject({ from: 'system', content: 'via node1', seq: 1 });

      expect((await ask(node1, 'POST', '/admin/users/adm-kim/kick', {})).body).toEqual({
        kicked: true,
        node: 'node2',
      });
      await kim.conn.waitForOp(Op.KICK);
      expect(kim.kick?.code).toBe('admin');
      await eventually(async () => {
        const { body } = await ask(node1, 'GET', '/admin/users/adm-kim');
        return body.online === false && body.node === null && body.inbox.ackedSeq === 1;
      }, 'presence released, ack stored');
    });
  });
});
