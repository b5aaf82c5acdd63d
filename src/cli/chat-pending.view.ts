import type { LonglinkClient } from '../client/longlink.client.js';
import type { OutboxEvent } from '../client/client.events.js';
import { describeError } from './cli.error.js';

interface Line {
  text: string;
  /** Shown as `… queued`: its acknowledgement is worth a line of its own then. */
  shown: boolean;
}

/**
 * What became of the lines typed in `longlink chat`, from the client's outbox events: a line that
 * cannot go out at once (not connected, or cut off by a disconnect) is shown `… queued`, then
 * `✓ sent` once acknowledged; a line that failed for good is shown once, with the reason. Lines
 * acknowledged straight away stay quiet, as in any chat.
 */
export class ChatPendingView {
  private readonly lines = new Map<string, Line>();

  constructor(
    client: LonglinkClient,
    private readonly note: (line: string) => void,
  ) {
    client.on('outbox', (event) => this.onOutbox(event));
    client.on('disconnect', ({ willReconnect }) => {
      if (willReconnect) for (const line of this.lines.values()) this.showQueued(line);
    });
  }

  /** Before send(): its events come from inside the call. */
  track(clientMsgId: string, text: string): void {
    this.lines.set(clientMsgId, { text, shown: false });
  }

  private onOutbox(event: OutboxEvent): void {
    const line = this.lines.get(event.entry.clientMsgId);
    if (line === undefined) return;
    if (event.state === 'queued') {
      if (event.waiting) this.showQueued(line);
    } else if (event.state === 'acknowledged') {
      this.lines.delete(event.entry.clientMsgId);
      if (line.shown) this.note(`✓ sent: ${line.text}`);
    } else if (event.state === 'failed') {
      this.lines.delete(event.entry.clientMsgId);
      this.note(`not sent: ${describeError(event.error)}: ${line.text}`);
    }
  }

  private showQueued(line: Line): void {
    if (line.shown) return;
    line.shown = true;
    this.note(`… queued: ${line.text}`);
  }
}
