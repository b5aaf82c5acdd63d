import { MsgOp } from '../../../src/messaging/messaging.ops';
import { HEADER_BYTES, encodeFrame, writeHeader } from '../../../src/transport/frame.codec';
import { AttackTally } from '../../../test/support/attack-client';
import { sleep } from '../../../test/support/wait';
import { Attack, lanes, resultOf, unexpectedOutcomes } from './context';

const LANES = 4;

/** A header announcing `plen` bytes, then `bodyBytes` of junk (the body never completes when plen is larger). */
function announcing(plen: number, bodyBytes: number): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES + bodyBytes, 0x61);
  writeHeader(buf, 0, plen, MsgOp.SEND, 9);
  return buf;
}

/** A complete SEND frame of exactly `size` bytes. */
function sendOf(size: number): Buffer {
  const body = (pad: number) =>
    JSON.stringify({ to: 'oversize-sink', clientMsgId: 'big', content: 'p'.repeat(pad) });
  return encodeFrame(MsgOp.SEND, 7, body(size - HEADER_BYTES - body(0).length));
}

/**
 * Oversized frames, before and after login: headers announcing maxFrameBytes + 1,
 * 16 MiB and 4 GiB with their bodies streamed, and a complete SEND one byte over
 * the limit. Each must be answered ERROR frame-too-large (seq 0) from the header
 * alone and closed; reconnects past the connect-rate cap are refused at accept.
 */
export const oversizedFrames: Attack = async (ctx) => {
  const stopAt = Date.now() + ctx.seconds * 1000;
  const tally = new AttackTally();
  const from = ctx.address(1);
  const max = ctx.limits.maxFrameBytes;
  const variants: { loggedIn: boolean; bytes: Buffer }[] = [
    { loggedIn: false, bytes: announcing(max + 1, 64 * 1024) },
    { loggedIn: false, bytes: announcing(0xffffffff, 64 * 1024) },
    { loggedIn: true, bytes: sendOf(max + 1) },
    { loggedIn: true, bytes: announcing(16 * 1024 * 1024, 64 * 1024) },
  ];
  await lanes(LANES, stopAt, async (k, life) => {
    const client = await tally.open({ port: ctx.port, localAddress: from });
    if (!client) return;
    const variant = variants[life % variants.length];
    if (variant.loggedIn) await client.login(await ctx.token(`oversize-${k}`));
    // Streamed in pieces, as a client uploading a large frame would.
    for (let off = 0; off < variant.bytes.length && !client.closed; off += 16 * 1024) {
      client.write(variant.bytes.subarray(off, off + 16 * 1024));
      await client.drained();
    }
    await Promise.race([client.done, sleep(3000)]);
    client.destroy();
    tally.add(client);
    if (client.outcome === 'refused at accept') await sleep(10);
  });
  const refused = tally.outcomes['refused at accept'] ?? 0;
  return resultOf(ctx.phase, tally, {
    stoppedBy: `ERROR frame-too-large ×${tally.outcomes['ERROR frame-too-large'] ?? 0} (closed); ${refused.toLocaleString('en-US')} reconnects refused at accept`,
    notes: [
      `${LANES} lanes from ${from}: plen ${max + 1}, 4 GiB (not logged in); a complete SEND of ${max + 1} bytes, plen 16 MiB (logged in)`,
    ],
    failures: unexpectedOutcomes(
      tally,
      ['ERROR frame-too-large', 'refused at accept'],
      'oversized-frame connections',
    ),
  });
};
