import { Op, REPLY_FLAG } from '../src/transport/ops';
import { ExampleModule } from './example/example.module';
import { ExampleOp } from './example/example.ops';
import { TestGateway, startGateway } from './support/test-gateway';

describe('a feature module adds its own PDUs', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({}, [ExampleModule]);
  });
  afterAll(() => gw.close());

  it('routes a new op to its @MessagePattern handler, through an interceptor', async () => {
    const alice = await gw.loggedIn('alice');
    const reply = await alice.request(ExampleOp.ECHO, { hello: 'world' });
    expect(reply.op).toBe((ExampleOp.ECHO | REPLY_FLAG) >>> 0);
    expect(reply.body).toEqual({
      echo: { hello: 'world' },
      uid: 'alice',
      op: ExampleOp.ECHO,
      seq: reply.seq,
    });
  });

  it('pushes to another user through SessionService', async () => {
    const alice = await gw.loggedIn('alice2');
    const bob = await gw.loggedIn('bob2');
    const reply = await alice.request(ExampleOp.POKE, { to: 'bob2', note: 'hi' });
    expect(reply.body).toEqual({ delivered: true });
    const pushed = await bob.waitForOp(ExampleOp.POKED);
    expect(pushed.seq).toBe(0);
    expect(pushed.body).toEqual({ from: 'alice2', note: 'hi' });
    expect((await alice.request(ExampleOp.POKE, { to: 'nobody' })).body).toEqual({
      delivered: false,
    });
  });

  it('applies a handler guard with its own error code', async () => {
    const muted = await gw.loggedIn('muted-carol');
    const reply = await muted.request(ExampleOp.POKE, { to: 'alice' });
    expect(reply.op).toBe(Op.ERROR);
    expect(reply.body).toEqual({ code: 'muted', message: 'muted users may not poke' });
  });

  it('validates the body with the DTO and names the field', async () => {
    const alice = await gw.loggedIn('alice3');
    const reply = await alice.request(ExampleOp.POKE, { to: 42 });
    expect(reply.op).toBe(Op.ERROR);
    expect(reply.body.code).toBe('bad-request');
    expect(reply.body.message).toMatch(/^to: /);
  });

  it('applies exception filters, and hides unknown errors as internal-error', async () => {
    const alice = await gw.loggedIn('alice4');
    const teapot = await alice.request(ExampleOp.FAIL, { kind: 'teapot' });
    expect(teapot.body).toEqual({ code: 'teapot', message: 'short and stout' });
    const internal = await alice.request(ExampleOp.FAIL, {});
    expect(internal.body).toEqual({ code: 'internal-error', message: 'Internal server error' });
    // The connection survives a failing handler.
    expect((await alice.request(Op.HEARTBEAT)).op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
  });

  it('requires login for the new ops', async () => {
    const anon = await gw.client();
    const reply = await anon.request(ExampleOp.ECHO, {});
    expect(reply.body.code).toBe('not-logged-in');
  });
});
