import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { WebSocket } from 'ws';
import { webSocketTransport } from '../../src/client/websocket.transport';
import { LonglinkClient } from '../../src/client/longlink.client';
import type { InboxMessage } from '../../src/client/server-bodies';
import { SessionService } from '../../src/session/session.service';
import { type HttpTestGateway, startHttpGateway } from '../support/http-gateway';
import { until } from '../support/wait';

/**
 * The demo chat page in a real Chromium (Debian's, driven by playwright-core): two users chat
 * over /ws, ticks turn from sent to delivered, a page that was away gets its backlog and keeps its
 * history across a reload, a TCP client of the SDK joins in, and refusals and reconnects show.
 */
const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium floods the closed network with connects.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OUTPUT = join(__dirname, '..', 'output');
const UI_TIMEOUT_MS = 15_000;

jest.setTimeout(90_000);

let gw: HttpTestGateway;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  gw = await startHttpGateway();
  // A fresh temporary profile per launch, and a fresh context (storage) per user below.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  mkdirSync(OUTPUT, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await gw?.close();
});

async function newUserPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 960, height: 600 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  return page;
}

async function signIn(page: Page, uid: string): Promise<void> {
  await page.goto(gw.baseUrl);
  await page.fill('#uid', uid);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#status[data-state=ready]');
}

async function openChat(page: Page, uid: string): Promise<void> {
  const contact = page.locator(`#contact-list li[data-uid="${uid}"]`);
  if ((await contact.count()) === 0) {
    await page.fill('#contact-uid', uid);
    await page.click('#add-contact button');
  } else {
    await contact.click();
  }
  await page.waitForSelector(`#peer:text-is("${uid}")`);
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#composer button');
}

/** The status of my bubble saying `text`, once it is `status`. */
async function waitForTick(page: Page, text: string, status: string): Promise<void> {
  await page.waitForSelector(`.msg.mine[data-status=${status}]:has-text("${text}")`);
}

async function bubbleTexts(page: Page): Promise<string[]> {
  return page.$$eval('#messages .msg', (items) =>
    items.map(
      (item) => `${item.classList.contains('mine') ? '>' : '<'} ${item.firstChild?.textContent}`,
    ),
  );
}

describe('the demo chat page', () => {
  it('chats between two browsers and a TCP client, with ticks, backlog, history and errors', async () => {
    const alice = await newUserPage();
    const bob = await newUserPage();
    await signIn(alice, 'alice');
    await signIn(bob, 'bob');

    // alice → bob: ✓ once stored, ✓✓ once bob's page acknowledged it.
    await openChat(alice, 'bob');
    await say(alice, 'hi bob');
    await waitForTick(alice, 'hi bob', 'delivered');
    // bob got alice as a contact by her message, with an unread badge.
    await bob.waitForSelector('#contact-list li[data-uid=alice] .unread:text-is("1")');
    await openChat(bob, 'alice');
    await bob.waitForSelector('.msg:not(.mine):has-text("hi bob")');
    await say(bob, 'hi alice');
    await waitForTick(bob, 'hi alice', 'delivered');
    await alice.waitForSelector('.msg:not(.mine):has-text("hi alice")');
    // Presence: each sees the other online.
    await alice.waitForSelector('#contact-list li[data-uid=bob] .presence.online');

    // bob goes away; alice's message is stored (✓) but not delivered while he is gone.
    const bobContext = bob.context();
    await bob.close();
    await until(() => !gw.gateway.app.get(SessionService).isOnline('bob'), 'bob offline');
    await say(alice, 'while you were away');
    await waitForTick(alice, 'while you were away', 'sent');
    await alice.waitForSelector('#contact-list li[data-uid=bob] .presence:not(.online)');

    // bob comes back (same browser storage): signed in again, history kept, backlog delivered.
    const bobAgain = await bobContext.newPage();
    bobAgain.setDefaultTimeout(UI_TIMEOUT_MS);
    await bobAgain.goto(gw.baseUrl);
    await bobAgain.waitForSelector('#status[data-state=ready]');
    await openChat(bobAgain, 'alice');
    await bobAgain.waitForSelector('.msg:not(.mine):has-text("while you were away")');
    expect(await bubbleTexts(bobAgain)).toEqual([
      '< hi bob',
      '> hi alice',
      '< while you were away',
    ]);
    await waitForTick(alice, 'while you were away', 'delivered');

    // A reload shows the same conversation, and no message twice.
    await bobAgain.reload();
    await bobAgain.waitForSelector('#status[data-state=ready]');
    await openChat(bobAgain, 'alice');
    await bobAgain.waitForSelector('.msg:has-text("while you were away")');
    expect(await bubbleTexts(bobAgain)).toHaveLength(3);

    // carol, a TCP client of the Node SDK, and alice's page talk both ways.
    const carol = new LonglinkClient({ port: gw.port, token: await gw.token('carol') });
    const carolGot: InboxMessage[] = [];
    carol.on('message', (message) => void carolGot.push(message));
    await carol.connect();
    try {
      await carol.send('alice', { text: 'hello from tcp' });
      await alice.waitForSelector('#contact-list li[data-uid=carol]');
      await openChat(alice, 'carol');
      await alice.waitForSelector('.msg:not(.mine):has-text("hello from tcp")');
      await say(alice, 'hello carol');
      await until(() => carolGot.length === 1, 'carol gets the reply', UI_TIMEOUT_MS);
      expect(carolGot[0]).toMatchObject({ from: 'alice', content: { text: 'hello carol' } });
      await waitForTick(alice, 'hello carol', 'delivered');
    } finally {
      await carol.close();
    }

    // A dropped connection shows as reconnecting, then the page is back by itself.
    gw.gateway.app.get(SessionService).kick('alice', 'test-kick');
    // (The log sits in a closed <details>: attached, not visible.)
    await alice.waitForSelector('#log li:has-text("reconnecting in")', { state: 'attached' });
    await alice.waitForSelector('#status[data-state=ready]');

    await openChat(alice, 'bob');
    await alice.screenshot({ path: join(OUTPUT, 'demo-chat-alice.png') });
    await bobAgain.screenshot({ path: join(OUTPUT, 'demo-chat-bob.png') });
  });

  it('shows the server refusing a bad token', async () => {
    const page = await newUserPage();
    // The gateway's ERROR invalid-token, reached with a token it did not sign.
    await page.route('**/demo/token', (route) =>
      route.fulfill({ json: { uid: 'mallory', token: 'not-a-token' } }),
    );
    await page.goto(gw.baseUrl);
    await page.fill('#uid', 'mallory');
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('#error[data-code=invalid-token]:visible');
    expect(await page.textContent('#error-text')).toContain('invalid-token');
    await page.waitForSelector('#sign-in:visible');
    await page.screenshot({ path: join(OUTPUT, 'demo-chat-error.png') });
  });

  it('serves the SDK and lets Node use it over /ws with the ws package', async () => {
    const res = await fetch(`${gw.baseUrl}/longlink-client.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await res.text()).toMatch(/sourceMappingURL=longlink-client\.js\.map/);

    const url = `ws://127.0.0.1:${gw.httpPort}/ws`;
    const transport = webSocketTransport({ url, connectTimeoutMs: 5000, WebSocket });
    const dave = new LonglinkClient({ token: await gw.token('dave'), transport });
    const got: InboxMessage[] = [];
    dave.on('message', (message) => void got.push(message));
    await dave.connect();
    try {
      expect(await dave.send('dave', { text: 'note to self' })).toEqual(expect.any(String));
      await until(() => got.length === 1, 'the message over /ws');
      expect(got[0]).toMatchObject({ from: 'dave', content: { text: 'note to self' } });
    } finally {
      await dave.close();
    }
  });
});

describe('the demo page switched off', () => {
  it('answers 404 for the page, its assets and its endpoints, and still serves the SDK', async () => {
    const off = await startHttpGateway({ http: { demoPage: 'off' } });
    try {
      const get = (path: string, init?: RequestInit) => fetch(`${off.baseUrl}${path}`, init);
      expect((await get('/')).status).toBe(404);
      expect((await get('/demo/demo.js')).status).toBe(404);
      expect((await get('/demo/presence?uids=a')).status).toBe(404);
      const token = await get('/demo/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uid: 'a' }),
      });
      expect(token.status).toBe(404);
      expect((await get('/longlink-client.js')).status).toBe(200);
    } finally {
      await off.close();
    }
  });
});
