import type { ClientCoreOptions } from './client.options.js';
import { CLIENT_DEFAULTS } from './client.options.js';
import { LonglinkClientBase } from './longlink-client.base.js';
import { webSocketTransport } from './websocket.transport.js';

/** The browser client's options: a WebSocket to `url` by default. */
export interface BrowserClientOptions extends ClientCoreOptions {
  /**
   * The gateway's WebSocket listener. Default: `/ws` on the page's own origin (`wss:` when the
   * page came over https), which is where a gateway serving the page listens.
   */
  url?: string;
}

/**
 * The browser client (`longlink/client` in a bundler, or /longlink-client.js from the gateway):
 * the same session logic as Node's, over a WebSocket.
 */
export class LonglinkClient extends LonglinkClientBase {
  constructor(options: BrowserClientOptions) {
    super(options, () =>
      webSocketTransport({
        url: options.url ?? sameOriginUrl(),
        connectTimeoutMs: options.connectTimeoutMs ?? CLIENT_DEFAULTS.connectTimeoutMs,
      }),
    );
  }
}

/** `ws(s)://<the page's host>/ws`. */
function sameOriginUrl(): string {
  const location = (globalThis as { location?: { protocol: string; host: string } }).location;
  if (location === undefined) throw new Error('LonglinkClient: give `url` (no page location here)');
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}
