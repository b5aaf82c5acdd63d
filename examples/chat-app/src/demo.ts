import { loadConfig, mintToken } from 'longlink';
import { InboxMessage, LonglinkClient } from 'longlink/client';
import { ChatOp } from './chat/chat.ops.js';

/**
 * Two SDK clients against a running chat-app (`npm start` in another terminal): alice types,
 * sends a message, bob reads it and alice gets the read receipt.
 */
async function demo(): Promise<void> {
  const host = process.env.CHAT_HOST ?? '127.0.0.1';
  const port = Number(process.env.CHAT_LONGLINK_PORT ?? 7400);
  // The secret the app uses: longlink's defaults and LONGLINK_JWT_SECRET, as `npm start` reads them.
  const { auth } = loadConfig();
  const client = (uid: string) =>
    new LonglinkClient({
      host,
      port,
      token: () => mintToken(uid, { secret: auth.jwtSecret, expiresIn: '1h' }),
      reconnect: false,
    });
  const alice = client('alice');
  const bob = client('bob');
  await alice.connect();
  await bob.connect();

  const bobSawTyping = new Promise<void>((resolve) =>
    bob.on('push', (op, body) => {
      if (op !== ChatOp.TYPING_NOTICE) return;
      console.log(`bob: ${(body as { from: string }).from} is typing…`);
      resolve();
    }),
  );
  const aliceGotReceipt = new Promise<void>((resolve) =>
    alice.on('push', (op, body) => {
      if (op !== ChatOp.READ_NOTICE) return;
      const { from, upToSeq } = body as { from: string; upToSeq: number };
      console.log(`alice: ${from} has read up to #${upToSeq}`);
      resolve();
    }),
  );
  const bobGotMessage = new Promise<InboxMessage>((resolve) => bob.on('message', resolve));

  console.log('alice → TYPING', await alice.request(ChatOp.TYPING, { to: 'bob' }));
  await bobSawTyping;
  await alice.send('bob', { text: 'hello bob' });
  const message = await bobGotMessage;
  console.log(`bob: #${message.seq} from ${message.from}:`, message.content);
  console.log('bob → READ', await bob.request(ChatOp.READ, { to: 'alice', upToSeq: message.seq }));
  await aliceGotReceipt;

  await Promise.all([alice.close(), bob.close()]);
}

demo().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
