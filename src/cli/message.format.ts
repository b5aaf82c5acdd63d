import type { InboxMessage } from '../client/server-bodies.js';

/** The text of a message: `content.text` when it is a string (what the CLI sends), else JSON. */
export function contentText(content: unknown): string {
  if (typeof content === 'object' && content !== null && 'text' in content) {
    const { text } = content;
    if (typeof text === 'string') return text;
  }
  return JSON.stringify(content) ?? 'null';
}

/** `#3 14:02:51 alice: hi`: inbox seq, local time, sender, text. */
export function formatMessage(message: InboxMessage): string {
  const time = new Date(message.ts).toTimeString().slice(0, 8);
  return `#${message.seq} ${time} ${message.from}: ${contentText(message.content)}`;
}

/** One JSON object per line, the fields of the MSG push. */
export function formatMessageJson(message: InboxMessage): string {
  const { msgId, seq, from, content, ts } = message;
  return JSON.stringify({ msgId, seq, from, content, ts });
}
