import { performance } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { mintToken } from '../../src/auth/token.factory';
import { Op, REPLY_FLAG } from '../../src/transport/ops';
import { HeartbeatProbe } from '../../test/support/fuzzer';
import { InboxMessage, LonglinkClient } from '../../src/client';
import { MessagingClient, MessagingError } from '../../test/support/messaging-client';
import { TestClient } from '../../test/support/test-client';
import { sleep } from '../../test/support/wait';
import { Percentiles, newHistogram, percentiles, recordMs } from './latency';
import { SPOOFER, SPOOF_MARK } from './phases';

export interface BystanderOptions {
  port: number;
  secret: string;
  pairs: number;
  /** SENDs per second over all pairs, open loop. */
  rate: number;
  /** Pause between heartbeat round trips. */
  heartbeatGapMs: number;
}

/** What the bystanders saw during one phase. */
export interface BystanderPhase {
  /** SEND → MSG at the recipient. */
  delivery: Percentiles;
  /** HEARTBEAT round trips of a third logged-in client. */
  heartbeat: Percentiles;
  /** How late the measuring process sent against the open-loop schedule: its own starvation. */
  sendLag: Percentiles;
  sent: number;
  acked: number;
  sendErrors: Record<string, number>;
  heartbeatsMissed: number;
  /** KICKs, ERRORs and closes on the bystanders' connections. */
  problems: string[];
}

/** Nothing acknowledged lost: every SEND_ACKed message reached its recipient, once, intact. */
export interface Ledger {
  acked: number;
  delivered: number;
  missing: number;
  /** Acked messages delivered to the application more than once. */
  duplicated: number;
  /** Delivered with another sender or content than was sent under that msgId. */
  altered: number;
  /** Delivered as from a bystander sender, though that sender never got it acknowledged. */
  phantom: number;
  /** Sent, never acknowledged (error or timeout), delivered anyway. */
  deliveredUnacked: number;
  /** Messages delivered out of inbox-seq order (or after a gap). */
  gaps: number;
  /** Spoofing SENDs delivered, by the sender the recipient saw. */
  spoofedFrom: Record<string, number>;
  failures: string[];
}

interface Content {
  t: number;
  phase: number;
  pair: number;
  n: number;
  mark?: string;
}

interface PhaseCounters {
  delivery: Histogram;
  heartbeat: Histogram;
  sendLag: Histogram;
  sent: number;
  acked: number;
  sendErrors: Record<string, number>;
  heartbeatsMissed: number;
}

interface Pair {
  index: number;
  senderUid: string;
  recipientUid: string;
  sender: MessagingClient;
  /** The client SDK, as an application uses it: acks per read, SYNCs when pushes stop. */
  recipient: LonglinkClient;
  /** The last inbox seq it delivered, to check order. */
  lastSeq: number;
  next: number;
}

const newCounters = (): PhaseCounters => ({
  delivery: newHistogram(),
  heartbeat: newHistogram(),
  sendLag: newHistogram(),
  sent: 0,
  acked: 0,
  sendErrors: {},
  heartbeatsMissed: 0,
});

/**
 * The well-behaved clients whose service the abuse phases must not degrade: pairs of
 * logged-in users, each sender (a bare protocol client, so every refusal is seen) sending
 * its recipient (the client SDK, as an application would use it) SENDs at a fixed rate
 * (open loop: on schedule whatever the answers), stamped with the send time, so the
 * recipient records send → delivery latency; and a third client measuring HEARTBEAT
 * round trips. Every acknowledged msgId is kept, to check at the end that it was
 * delivered once, intact, in order.
 */
export class Bystanders {
  /** Counters per phase index: messages count in the phase they were sent in. */
  private readonly phases: PhaseCounters[] = [];
  private current = 0;
  private running = false;
  private schedule: NodeJS.Timeout | undefined;
  private heartbeats: Promise<void> | undefined;
  private readonly pendingSends = new Set<Promise<void>>();
  /** msgId → what was sent under it. */
  private readonly acked = new Map<string, Content>();
  /** `pair:n` of SENDs that got no SEND_ACK. */
  private readonly unacked = new Set<string>();
  /** msgId → deliveries to the application, with what the recipient saw. */
  private readonly delivered = new Map<string, { count: number; from: string; content: Content }>();
  private readonly reported = new Set<string>();
  /** What the recipients' SDK clients reported (kicks, disconnects, refused acks), not yet taken. */
  readonly events: string[] = [];
  /** Messages delivered out of inbox-seq order, or after a gap. */
  private outOfOrder = 0;
  private readonly scanned = new Map<MessagingClient, number>();
  private probeProblemsSeen = 0;

  private constructor(
    private readonly options: BystanderOptions,
    readonly pairs: Pair[],
    private readonly probe: HeartbeatProbe,
  ) {}

  static async start(options: BystanderOptions): Promise<Bystanders> {
    const token = (uid: string) => mintToken(uid, { secret: options.secret, expiresIn: '6h' });
    const login = async (uid: string, client: MessagingClient) => {
      const reply = await client.login(await token(uid));
      if (reply.op !== (Op.LOGIN | REPLY_FLAG) >>> 0) {
        throw new Error(`bystander ${uid} could not log in: ${JSON.stringify(reply.body)}`);
      }
      return client;
    };
    // Messages and events can arrive before the instance exists (its pairs are made first).
    const sink: { target?: Bystanders; early: string[] } = { early: [] };
    const problem = (text: string) =>
      sink.target ? sink.target.events.push(text) : sink.early.push(text);
    const pairs: Pair[] = [];
    for (let index = 0; index < options.pairs; index++) {
      const senderUid = `bystander-sender-${index}`;
      const recipientUid = `bystander-recipient-${index}`;
      const recipient = new LonglinkClient({
        token: await token(recipientUid),
        host: '127.0.0.1',
        port: options.port,
      });
      const pair: Pair = {
        index,
        senderUid,
        recipientUid,
        sender: await login(senderUid, new MessagingClient(await TestClient.connect(options.port))),
        recipient,
        lastSeq: 0,
        next: 0,
      };
      recipient.on('message', (m) => sink.target?.onMessage(pair, m));
      recipient.on('kick', (e) => problem(`${recipientUid}: KICK ${e.code}`));
      recipient.on('disconnect', (e) => problem(`${recipientUid}: disconnected (${e.reason})`));
      recipient.on('reconnect', () => problem(`${recipientUid}: reconnected`));
      recipient.on('error', (err) => problem(`${recipientUid}: ${err.message}`));
      await recipient.connect();
      pairs.push(pair);
    }
    const probe = await HeartbeatProbe.open({
      port: options.port,
      token: await token('bystander-probe'),
      localAddress: '127.0.0.1',
    });
    sink.target = new Bystanders(options, pairs, probe);
    sink.target.events.push(...sink.early);
    return sink.target;
  }

  /** `${prefix}${n}`: how pair `index` names its clientMsgIds (the spoofer reuses them). */
  static clientMsgIdPrefix(index: number): string {
    return `bystander-${index}-`;
  }

  /** Starts the open-loop senders and the heartbeat prober; counts go to phase `index`. */
  start(index: number): void {
    this.beginPhase(index);
    this.running = true;
    const start = performance.now();
    let scheduled = 0;
    this.schedule = setInterval(() => {
      const due = Math.floor(((performance.now() - start) * this.options.rate) / 1000);
      for (; scheduled < due; scheduled++) {
        const intended = start + (scheduled * 1000) / this.options.rate;
        recordMs(this.counters.sendLag, performance.now() - intended);
        this.sendOne(this.pairs[scheduled % this.pairs.length]);
      }
    }, 1);
    this.heartbeats = (async () => {
      while (this.running && !this.probe.closed) {
        const counters = this.counters;
        try {
          recordMs(counters.heartbeat, await this.probe.rtt(2000));
        } catch {
          counters.heartbeatsMissed++;
        }
        await sleep(this.options.heartbeatGapMs);
      }
    })();
  }

  /** From now on, counts go to phase `index`. */
  beginPhase(index: number): void {
    this.phases[index] ??= newCounters();
    this.current = index;
  }

  /** What phase `index` saw; problems are those that appeared since the last call. */
  phase(index: number): BystanderPhase {
    const c = this.phases[index] ?? newCounters();
    return {
      delivery: percentiles(c.delivery),
      heartbeat: percentiles(c.heartbeat),
      sendLag: percentiles(c.sendLag),
      sent: c.sent,
      acked: c.acked,
      sendErrors: { ...c.sendErrors },
      heartbeatsMissed: c.heartbeatsMissed,
      problems: this.newProblems(),
    };
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.schedule);
    await this.heartbeats;
    await Promise.all(this.pendingSends);
  }

  /** Waits up to `timeoutMs` for every acknowledged message to arrive, then checks them all. */
  async ledger(timeoutMs: number): Promise<Ledger> {
    const deadline = Date.now() + timeoutMs;
    const missing = () => [...this.acked.keys()].filter((id) => !this.delivered.has(id));
    while (missing().length > 0 && Date.now() < deadline) await sleep(50);
    let duplicated = 0;
    let altered = 0;
    let phantom = 0;
    let deliveredUnacked = 0;
    const spoofedFrom: Record<string, number> = {};
    const senders = new Set(this.pairs.map((p) => p.senderUid));
    for (const [msgId, d] of this.delivered) {
      if (d.content.mark === SPOOF_MARK) {
        spoofedFrom[d.from] = (spoofedFrom[d.from] ?? 0) + 1;
        continue;
      }
      const sent = this.acked.get(msgId);
      if (sent) {
        if (d.count > 1) duplicated++;
        const expectedFrom = this.pairs[sent.pair].senderUid;
        if (d.from !== expectedFrom || d.content.n !== sent.n || d.content.pair !== sent.pair) {
          altered++;
        }
      } else if (senders.has(d.from)) {
        if (this.unacked.has(`${d.content.pair}:${d.content.n}`)) deliveredUnacked++;
        else phantom++;
      }
    }
    const gaps = this.outOfOrder;
    const lost = missing().length;
    const failures: string[] = [];
    if (lost > 0) failures.push(`${lost} acknowledged messages never delivered`);
    if (duplicated > 0)
      failures.push(`${duplicated} acknowledged messages delivered more than once`);
    if (altered > 0) failures.push(`${altered} delivered with another sender or content`);
    if (phantom > 0) failures.push(`${phantom} delivered as from a bystander that never sent them`);
    if (gaps > 0) failures.push(`${gaps} messages delivered out of inbox-seq order`);
    const impersonated = Object.entries(spoofedFrom).filter(([from]) => from !== SPOOFER);
    if (impersonated.length > 0) {
      failures.push(
        `spoofed messages delivered as from ${impersonated.map(([f, n]) => `${f} (${n})`).join(', ')}`,
      );
    }
    return {
      acked: this.acked.size,
      delivered: this.acked.size - lost,
      missing: lost,
      duplicated,
      altered,
      phantom,
      deliveredUnacked,
      gaps,
      spoofedFrom,
      failures,
    };
  }

  async close(): Promise<void> {
    this.probe.close();
    for (const p of this.pairs) p.sender.close();
    await Promise.all(this.pairs.map((p) => p.recipient.close()));
  }

  private get counters(): PhaseCounters {
    return this.phases[this.current];
  }

  private sendOne(pair: Pair): void {
    const n = ++pair.next;
    const counters = this.counters;
    const content: Content = { t: performance.now(), phase: this.current, pair: pair.index, n };
    counters.sent++;
    const sending = pair.sender
      .send(pair.recipientUid, content, `${Bystanders.clientMsgIdPrefix(pair.index)}${n}`)
      .then(
        (ack) => {
          counters.acked++;
          this.acked.set(ack.msgId, content);
        },
        (err: Error) => {
          const code = err instanceof MessagingError ? err.code : 'no answer within 3 s';
          counters.sendErrors[code] = (counters.sendErrors[code] ?? 0) + 1;
          this.unacked.add(`${pair.index}:${n}`);
        },
      )
      .finally(() => this.pendingSends.delete(sending));
    this.pendingSends.add(sending);
  }

  private onMessage(pair: Pair, m: InboxMessage): void {
    if (m.seq !== pair.lastSeq + 1) this.outOfOrder++;
    pair.lastSeq = m.seq;
    const content = m.content as Content;
    const seen = this.delivered.get(m.msgId);
    if (seen) {
      seen.count++;
      return;
    }
    this.delivered.set(m.msgId, { count: 1, from: m.from, content });
    if (content?.mark === undefined && typeof content?.t === 'number') {
      recordMs(this.phases[content.phase].delivery, performance.now() - content.t);
    }
  }

  /** KICKs, closes (each reported once), ERRORs (counted) and SDK events since the last call. */
  private newProblems(): string[] {
    const states: string[] = [];
    const events = this.events.splice(0);
    for (const p of this.pairs) {
      const c = p.sender;
      if (c.kick) states.push(`${p.senderUid}: KICK ${c.kick.code}`);
      if (c.conn.isClosed) states.push(`${p.senderUid}: connection closed`);
      // Its other ERRORs answer its SENDs (counted as send errors); seq 0: the stream broke.
      const frames = c.conn.frames;
      let broken = 0;
      for (let i = this.scanned.get(c) ?? 0; i < frames.length; i++) {
        if (frames[i].op === Op.ERROR && frames[i].seq === 0) broken++;
      }
      this.scanned.set(c, frames.length);
      if (broken > 0) events.push(`${p.senderUid}: ERROR seq 0 ×${broken}`);
    }
    const probeProblems = this.probe.problems;
    for (const problem of probeProblems.slice(this.probeProblemsSeen)) {
      events.push(`bystander-probe: ${problem}`);
    }
    this.probeProblemsSeen = probeProblems.length;
    if (this.probe.closed) states.push('bystander-probe: connection closed');
    const fresh = states.filter((state) => !this.reported.has(state));
    for (const state of fresh) this.reported.add(state);
    return [...fresh, ...events];
  }
}
