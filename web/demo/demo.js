// The demo chat page (docs/WEB.md): plain JS over the browser SDK the gateway serves.
// Ticks: ✓ sent = the server stored the message (SEND acknowledged); ✓✓ delivered = the
// recipient's device acknowledged it (their inbox ack cursor, polled from /demo/presence, reached
// the message's seq). There is no "read" tick: the protocol has no read receipt.
/* global document, fetch, localStorage, crypto, setTimeout, clearTimeout */
import { LocalStorageLastSeqStore, LonglinkClient } from '/longlink-client.js';

/** How often contacts' presence and ack cursors are polled (ms). */
const POLL_MS = 3000;
/** Messages kept per conversation in localStorage. */
const HISTORY_LIMIT = 200;
const SIGNED_IN_KEY = 'longlink-demo:uid';

const $ = (id) => document.getElementById(id);

/** Friendly words for the codes the server (or the SDK) gives; the code is always shown too. */
const EXPLAIN = {
  'invalid-token': 'the server refused the login token',
  'token-expired': 'the login token has expired',
  'access-denied': 'this user may not sign in',
  'ip-banned': 'too many failed logins from this address',
  'rate-limited': 'slow down: the server is rate-limiting this connection',
  'unknown-recipient': 'that user may not receive messages',
  'bad-request': 'the server refused the request',
  'store-unavailable': 'the message store is unavailable; try again',
  relogin: 'signed in elsewhere: another tab or device took over this user',
  'cannot-connect': 'cannot reach the gateway',
  timeout: 'no answer in time',
};

let client = null;
let me = null;
/** { contacts: [uid], conversations: { uid: [record] }, unread: { uid: n } } in localStorage. */
let data = null;
let peer = null;
let presence = {};
let pollTimer;

// ---- storage -------------------------------------------------------------------------------

const historyKey = (uid) => `longlink-demo:${uid}:history`;

function load(uid) {
  try {
    const saved = JSON.parse(localStorage.getItem(historyKey(uid)));
    if (saved && Array.isArray(saved.contacts)) return saved;
  } catch {
    // unreadable: start afresh
  }
  return { contacts: [], conversations: {}, unread: {} };
}

function save() {
  localStorage.setItem(historyKey(me), JSON.stringify(data));
}

function conversation(uid) {
  return (data.conversations[uid] ??= []);
}

function addContact(uid) {
  if (!data.contacts.includes(uid)) data.contacts.push(uid);
}

function append(uid, record) {
  const list = conversation(uid);
  list.push(record);
  if (list.length > HISTORY_LIMIT) list.splice(0, list.length - HISTORY_LIMIT);
}

// ---- connection ----------------------------------------------------------------------------

async function fetchToken(uid) {
  const res = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uid }),
  });
  if (!res.ok) throw new Error(`no token from the gateway (HTTP ${res.status})`);
  return (await res.json()).token;
}

async function signIn(uid) {
  me = uid;
  data = load(uid);
  peer = data.contacts[0] ?? null;
  localStorage.setItem(SIGNED_IN_KEY, uid);
  $('me').textContent = uid;
  $('sign-in').hidden = true;
  $('chat').hidden = false;
  document.querySelector('.who').hidden = false;
  render();

  client = new LonglinkClient({
    // Called before every (re)login, so a reconnect days later still gets a valid token.
    token: () => fetchToken(uid),
    // Next to the history it describes: a reload resumes right after the last message kept.
    lastSeqStore: new LocalStorageLastSeqStore(`longlink-demo:${uid}:lastSeq`),
  });
  const current = client;
  client.on('message', onMessage);
  client.on('disconnect', ({ reason }) => log(`disconnected: ${reason}`));
  client.on('reconnecting', ({ attempt, delayMs }) => {
    log(`reconnecting in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt})`);
    status('reconnecting', `reconnecting in ${Math.ceil(delayMs / 1000)} s…`);
  });
  client.on('reconnect', () => {
    log('reconnected');
    status('ready');
    resendPending();
  });
  client.on('reconnect-advised', ({ reason }) => log(`server going away (${reason})`));
  client.on('kick', ({ code, willReconnect }) => {
    log(`kicked: ${code}`);
    if (!willReconnect) showError(code);
  });
  client.on('close', ({ reason }) => {
    if (current !== client) return;
    status('closed');
    if (reason !== 'closed') showError(reason);
  });
  client.on('error', (error) => showError(error.code ?? 'error', error.message));

  status('connecting');
  try {
    await client.connect();
  } catch (error) {
    if (current !== client) return;
    showError(error.code ?? 'error', error.message);
    await signOut({ keepError: true });
    return;
  }
  log(`signed in as ${uid}`);
  status('ready');
  resendPending();
  poll();
}

async function signOut({ keepError = false } = {}) {
  clearTimeout(pollTimer);
  const old = client;
  client = null;
  localStorage.removeItem(SIGNED_IN_KEY);
  await old?.close();
  me = data = peer = null;
  presence = {};
  $('chat').hidden = true;
  $('sign-in').hidden = false;
  document.querySelector('.who').hidden = true;
  $('log').replaceChildren();
  if (!keepError) hideError();
}

function onMessage(message) {
  const from = message.from;
  addContact(from);
  // The SDK hands each message over once; a reload between saving it and the ack may repeat it.
  if (!conversation(from).some((r) => r.msgId === message.msgId)) {
    append(from, {
      id: message.msgId,
      msgId: message.msgId,
      mine: false,
      text: textOf(message.content),
      ts: message.ts,
      status: 'received',
    });
    if (from !== peer || document.hidden) data.unread[from] = (data.unread[from] ?? 0) + 1;
  }
  peer ??= from;
  // Saved before the listener returns, that is before the SDK acknowledges it.
  save();
  render();
}

function textOf(content) {
  return typeof content?.text === 'string' ? content.text : JSON.stringify(content);
}

async function deliver(to, record) {
  try {
    // The record's id is the clientMsgId: resending it (after a reload, a retry) is stored once.
    const ack = await client.sendWithAck(to, { text: record.text }, { clientMsgId: record.id });
    Object.assign(record, { status: 'sent', msgId: ack.msgId, seq: ack.seq, ts: ack.ts });
    delete record.error;
  } catch (error) {
    if (!client) return;
    Object.assign(record, { status: 'failed', error: error.code ?? 'error' });
    showError(error.code ?? 'error', error.message);
  }
  if (data) {
    markDelivered();
    save();
    render();
  }
}

/** Messages still `sending` when the page went away: the same clientMsgId makes this safe. */
function resendPending() {
  for (const [uid, list] of Object.entries(data?.conversations ?? {})) {
    for (const record of list) {
      if (record.mine && record.status === 'sending' && !inFlight.has(record.id)) send(uid, record);
    }
  }
}

/** clientMsgIds being sent now (not saved: after a reload nothing is in flight). */
const inFlight = new Set();

function send(to, record) {
  inFlight.add(record.id);
  void deliver(to, record).finally(() => inFlight.delete(record.id));
}

// ---- presence and delivered ticks ----------------------------------------------------------

async function poll() {
  clearTimeout(pollTimer);
  if (!client) return;
  if (data.contacts.length > 0) {
    try {
      const uids = data.contacts.map(encodeURIComponent).join(',');
      const res = await fetch(`/demo/presence?uids=${uids}`);
      if (res.ok) presence = await res.json();
      if (markDelivered()) save();
      render();
    } catch {
      // the gateway is away: the connection status says so already
    }
  }
  if (client) pollTimer = setTimeout(poll, POLL_MS);
}

/** ✓ → ✓✓ for messages whose seq the recipient's device has acknowledged. */
function markDelivered() {
  let changed = false;
  for (const [uid, list] of Object.entries(data.conversations)) {
    const acked = presence[uid]?.ackedSeq ?? 0;
    for (const r of list) {
      if (r.mine && r.status === 'sent' && r.seq <= acked) {
        r.status = 'delivered';
        changed = true;
      }
    }
  }
  return changed;
}

// ---- rendering -----------------------------------------------------------------------------

const STATUS_TEXT = {
  idle: 'offline',
  connecting: 'connecting…',
  ready: 'online',
  reconnecting: 'reconnecting…',
  closed: 'offline',
};

function status(state, text = STATUS_TEXT[state]) {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = text;
}

function log(text) {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('log').append(item);
  item.scrollIntoView({ block: 'nearest' });
}

function showError(code, detail) {
  const words = EXPLAIN[code];
  $('error-text').textContent = words
    ? `${words} (${code})`
    : `${code}${detail && detail !== code ? `: ${detail}` : ''}`;
  $('error').dataset.code = code;
  $('error').hidden = false;
}

function hideError() {
  $('error').hidden = true;
}

const TICKS = { sending: '🕓', sent: '✓', delivered: '✓✓', failed: '!' };
const TICK_TITLES = {
  sending: 'sending: not yet stored by the server',
  sent: 'sent: stored by the server',
  delivered: "delivered: acknowledged by the recipient's device",
  failed: 'not sent; click to retry',
};

function render() {
  if (!data) return;
  const list = $('contact-list');
  list.replaceChildren(
    ...data.contacts.map((uid) => {
      const item = document.createElement('li');
      item.dataset.uid = uid;
      item.classList.toggle('active', uid === peer);
      const dot = document.createElement('span');
      dot.className = `presence${presence[uid]?.online ? ' online' : ''}`;
      dot.title = presence[uid]?.online ? 'online' : 'offline';
      const name = document.createElement('span');
      name.className = 'contact-name';
      name.textContent = uid;
      item.append(dot, name);
      if (data.unread[uid]) {
        const badge = document.createElement('span');
        badge.className = 'unread';
        badge.textContent = String(data.unread[uid]);
        item.append(badge);
      }
      item.addEventListener('click', () => open(uid));
      return item;
    }),
  );

  $('peer').textContent = peer ?? 'Pick a contact';
  $('composer').hidden = peer === null;
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren(...(peer === null ? [] : conversation(peer).map((r) => bubble(peer, r))));
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function bubble(uid, record) {
  const item = document.createElement('li');
  item.className = `msg${record.mine ? ' mine' : ''}`;
  item.dataset.status = record.status;
  item.append(record.text);
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = new Date(record.ts).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
  });
  if (record.mine) {
    const tick = document.createElement('span');
    tick.className = 'tick';
    tick.textContent = record.status === 'failed' ? `! ${record.error}` : TICKS[record.status];
    tick.title = TICK_TITLES[record.status];
    meta.append(tick);
  }
  item.append(meta);
  if (record.status === 'failed') {
    item.title = TICK_TITLES.failed;
    item.addEventListener('click', () => {
      record.status = 'sending';
      save();
      render();
      send(uid, record);
    });
  }
  return item;
}

function open(uid) {
  peer = uid;
  delete data.unread[uid];
  save();
  render();
  $('text').focus();
}

// ---- forms ---------------------------------------------------------------------------------

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const uid = $('uid').value.trim();
  if (uid) void signIn(uid);
});

$('sign-out').addEventListener('click', () => void signOut());
$('error-close').addEventListener('click', hideError);

$('add-contact').addEventListener('submit', (event) => {
  event.preventDefault();
  const uid = $('contact-uid').value.trim();
  if (!uid) return;
  addContact(uid);
  $('contact-uid').value = '';
  open(uid);
  void poll();
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value;
  if (!text.trim() || peer === null || !client) return;
  $('text').value = '';
  const record = { id: crypto.randomUUID?.() ?? randomId(), mine: true, text, ts: Date.now() };
  record.status = 'sending';
  append(peer, record);
  save();
  render();
  send(peer, record);
});

/** crypto.randomUUID exists only in secure contexts; a LAN address over http is not one. */
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// A reload keeps the user signed in, with the history and the inbox position it had.
const remembered = localStorage.getItem(SIGNED_IN_KEY);
if (remembered) void signIn(remembered);
