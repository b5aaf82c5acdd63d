import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildGateway, MAIN } from './support/child-gateway';
import { ReliableClient, SendAckBody } from './support/reliable-client';
import { freePort } from './support/free-port';
import { sleep } from './support/wait';

/**
 * The durability guarantee across a process crash: a SEND_ACK means the message
 * is on disk, so after SIGKILL and a restart on the same data directory the
 * recipient gets every acknowledged message exactly once, and resends of the
 * unacknowledged ones (same clientMsgId) fill in the rest without duplicates.
 */

const TOTAL = 2000;
/** SENDs the sender keeps unacknowledged at once. */
const WINDOW = 300;
/** The gateway is killed as soon as this many SEND_ACKs have arrived. */
const KILL_AFTER_ACKS = 1000;

const cid = (i: number) => `c${String(i).padStart(5, '0')}`;
const indexOf = (clientMsgId: string) => Number(clientMsgId.slice(1));

describe('crash durability: SIGKILL of a gateway with the SQLite store', () => {
  const gateways: ChildGateway[] = [];
  const dirs: string[] = [];
  const clients: ReliableClient[] = [];

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx nest build\` first`);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(gateways.map((g) => g.kill()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function newGateway(): Promise<ChildGateway> {
    const dir = mkdtempSync(join(tmpdir(), 'longlink-crash-'));
    dirs.push(dir);
    const configFile = join(dir, 'test.yaml');
    writeFileSync(
      configFile,
      ['rateLimit:', '  maxPackets: 1000000', '  kickPackets: 2000000', ''].join('\n'),
    );
    const gateway = new ChildGateway(await freePort(), join(dir, 'data'), configFile);
    gateways.push(gateway);
    await gateway.start();
    return gateway;
  }

  function client(gateway: ChildGateway, uid: string, autoReconnect = false): ReliableClient {
    const c = new ReliableClient({
      port: gateway.port,
      uid,
      autoReconnect,
      reconnectDelayMs: () => 50,
    });
    clients.push(c);
    return c;
  }

  /**
   * Sends messages 0..TOTAL-1 with at most WINDOW unacknowledged; kills the gateway
   * right after the KILL_AFTER_ACKS-th SEND_ACK, while the window is still full of
   * SENDs in flight. Resolves once the process is gone and the sender offline; then
   * queues the messages never written, so they go out after the restart.
   */
  async function sendAndCrash(
    gateway: ChildGateway,
    sender: ReliableClient,
    to: string,
  ): Promise<{ ackedBeforeCrash: Map<string, SendAckBody>; inFlightAtKill: number }> {
    let next = 0;
    let killed = false;
    let inFlightAtKill = 0;
    const fill = () => {
      while (!killed && next < TOTAL && sender.pendingCount < WINDOW) {
        sender.send(to, cid(next), { n: next, text: `message ${next}` });
        next++;
      }
    };
    sender.onAck = () => {
      if (killed) return;
      if (sender.acked.length >= KILL_AFTER_ACKS) {
        killed = true;
        inFlightAtKill = sender.pendingCount;
        gateway.killNow();
        return;
      }
      fill();
    };
    fill();
    await sender.waitUntil(
      () => killed,
      15000,
      () => `only ${sender.acked.length} SEND_ACKs; ${summary(sender.anomalies).join('; ')}`,
    );
    await gateway.kill();
    await sender.waitOffline();
    sender.onAck = undefined;
    const ackedBeforeCrash = new Map(sender.acked.map((m) => [m.clientMsgId, m.ack!]));
    while (next < TOTAL) {
      sender.send(to, cid(next), { n: next, text: `message ${next}` });
      next++;
    }
    return { ackedBeforeCrash, inFlightAtKill };
  }

  /** Problems with what `recipient` holds from `from`; [] when the guarantee holds. */
  function deliveryProblems(
    recipient: ReliableClient,
    from: string,
    mustHave: ReadonlyMap<string, SendAckBody>,
    complete: boolean,
  ): string[] {
    const problems: string[] = [...recipient.anomalies];
    const seen = new Map<string, number>();
    let previous = -1;
    let previousSeq = 0;
    for (const m of recipient.inbox) {
      if (m.from !== from) {
        problems.push(`message from unexpected sender ${m.from}`);
        continue;
      }
      const n = m.content?.n;
      if (!Number.isInteger(n) || n < 0 || n >= TOTAL) {
        problems.push(`unexpected content ${JSON.stringify(m.content)}`);
        continue;
      }
      const id = cid(n);
      seen.set(id, (seen.get(id) ?? 0) + 1);
      if (n <= previous) problems.push(`${id} arrived after ${cid(previous)}`);
      if (m.seq <= previousSeq) problems.push(`${id} has seq ${m.seq} after seq ${previousSeq}`);
      previous = n;
      previousSeq = m.seq;
      const ack = mustHave.get(id);
      if (ack && (ack.msgId !== m.msgId || ack.seq !== m.seq)) {
        problems.push(
          `${id} acked as msgId ${ack.msgId} seq ${ack.seq}, delivered as ${m.msgId} seq ${m.seq}`,
        );
      }
    }
    for (const [id, count] of seen) {
      if (count > 1) problems.push(`${id} reached the application ${count} times`);
    }
    const missing = [...mustHave.keys()].filter((id) => !seen.has(id));
    if (missing.length > 0) {
      problems.push(`${missing.length} acknowledged messages missing, first ${missing[0]}`);
    }
    if (complete && seen.size !== TOTAL) problems.push(`holds ${seen.size} of ${TOTAL} messages`);
    return problems;
  }

  /** At most 10 problems and a count of the rest, so a failure stays readable. */
  function summary(problems: string[]): string[] {
    if (problems.length <= 10) return problems;
    return [...problems.slice(0, 10), `… and ${problems.length - 10} more`];
  }

  function holdsAll(recipient: ReliableClient, ids: Iterable<string>): () => boolean {
    const wanted = new Set(ids);
    return () => {
      const have = new Set(recipient.inbox.map((m) => cid(m.content?.n)));
      for (const id of wanted) if (!have.has(id)) return false;
      return true;
    };
  }

  /** Waits until the sender has every SEND acked and the recipient holds them all; the acks. */
  async function settle(
    sender: ReliableClient,
    recipient: ReliableClient,
    senderName: string,
  ): Promise<Map<string, SendAckBody>> {
    await sender.waitUntil(
      () => sender.pendingCount === 0,
      15000,
      () => `${sender.pendingCount} still unacked; ${summary(sender.anomalies).join('; ')}`,
    );
    const allAcks = new Map(sender.outbox.map((m) => [m.clientMsgId, m.ack!]));
    await recipient.waitUntil(holdsAll(recipient, allAcks.keys()), 15000, () =>
      summary(deliveryProblems(recipient, senderName, allAcks, true)).join('; '),
    );
    // Let anything delivered twice show up before the checks.
    await sleep(200);
    return allAcks;
  }

  it('delivers every acknowledged message exactly once to a recipient who was offline during the crash, and resends complete the rest in order', async () => {
    const gateway = await newGateway();
    const sender = client(gateway, 'sender-a');
    await sender.connectWithin(5000);

    const { ackedBeforeCrash, inFlightAtKill } = await sendAndCrash(gateway, sender, 'rcpt-a');
    expect(ackedBeforeCrash.size).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(inFlightAtKill).toBeGreaterThan(0);
    expect(sender.pendingCount).toBeGreaterThan(0);

    await gateway.start();
    const recipient = client(gateway, 'rcpt-a');
    await recipient.connectWithin(5000);
    await recipient.waitUntil(holdsAll(recipient, ackedBeforeCrash.keys()), 10000, () =>
      summary(deliveryProblems(recipient, 'sender-a', ackedBeforeCrash, false)).join('; '),
    );
    // Let whatever else survived the crash (stored, never acked) arrive too.
    await sleep(300);
    expect(summary(deliveryProblems(recipient, 'sender-a', ackedBeforeCrash, false))).toEqual([]);

    // The sender logs in again and resends every unacknowledged message, same clientMsgIds.
    await sender.connectWithin(5000);
    const allAcks = await settle(sender, recipient, 'sender-a');
    expect(summary(sender.anomalies)).toEqual([]);
    expect(summary(deliveryProblems(recipient, 'sender-a', allAcks, true))).toEqual([]);
    expect(recipient.inbox.map((m) => indexOf(cid(m.content.n)))).toEqual(
      Array.from({ length: TOTAL }, (_, i) => i),
    );
  }, 60000);

  it('delivers every acknowledged message exactly once to a recipient who was online and acking during the crash, with both clients reconnecting on their own', async () => {
    const gateway = await newGateway();
    const recipient = client(gateway, 'rcpt-b', true);
    const sender = client(gateway, 'sender-b', true);
    await recipient.connectWithin(5000);
    await sender.connectWithin(5000);

    const { ackedBeforeCrash, inFlightAtKill } = await sendAndCrash(gateway, sender, 'rcpt-b');
    expect(ackedBeforeCrash.size).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(inFlightAtKill).toBeGreaterThan(0);
    await recipient.waitOffline();
    const heldBeforeCrash = recipient.inbox.length;
    const lastSeqBeforeCrash = recipient.lastSeq;

    // Both clients are already retrying (connection refused) while the gateway restarts.
    await sleep(100);
    await gateway.start();
    await recipient.connectWithin(5000);
    await sender.connectWithin(5000);
    const allAcks = await settle(sender, recipient, 'sender-b');

    // It was receiving and acking when the gateway died, and logged in again after.
    expect(heldBeforeCrash).toBeGreaterThan(0);
    expect(lastSeqBeforeCrash).toBeGreaterThan(0);
    expect(recipient.logins).toBeGreaterThanOrEqual(2);
    expect(summary(sender.anomalies)).toEqual([]);
    expect(summary(deliveryProblems(recipient, 'sender-b', ackedBeforeCrash, false))).toEqual([]);
    expect(summary(deliveryProblems(recipient, 'sender-b', allAcks, true))).toEqual([]);
  }, 60000);
  it('keeps the guarantee when the gateway is killed a second time while the recipient catches up and the sender resends', async () => {
    const gateway = await newGateway();
    const sender = client(gateway, 'sender-c', true);
    await sender.connectWithin(5000);
    const { ackedBeforeCrash } = await sendAndCrash(gateway, sender, 'rcpt-c');

    // Second life: the recipient drains its backlog while the sender resends; kill again midway.
    await gateway.start();
    const recipient = client(gateway, 'rcpt-c', true);
    let secondKill = false;
    recipient.onDeliver = () => {
      if (!secondKill && recipient.inbox.length >= KILL_AFTER_ACKS / 2) {
        secondKill = true;
        gateway.killNow();
      }
    };
    await recipient.connectWithin(5000);
    await recipient.waitUntil(
      () => secondKill,
      10000,
      () => `second kill never came: holds ${recipient.inbox.length}`,
    );
    await gateway.kill();
    await recipient.waitOffline();
    await sender.waitOffline();
    const heldAtSecondKill = recipient.inbox.length;
    expect(summary(deliveryProblems(recipient, 'sender-c', new Map(), false))).toEqual([]);

    // Third life: both come back on their own.
    await gateway.start();
    await recipient.connectWithin(5000);
    await sender.connectWithin(5000);
    const allAcks = await settle(sender, recipient, 'sender-c');

    expect(heldAtSecondKill).toBeLessThan(TOTAL);
    expect(gateway.starts).toBe(3);
    expect(summary(sender.anomalies)).toEqual([]);
    expect(summary(deliveryProblems(recipient, 'sender-c', ackedBeforeCrash, false))).toEqual([]);
    expect(summary(deliveryProblems(recipient, 'sender-c', allAcks, true))).toEqual([]);
  }, 60000);
});
