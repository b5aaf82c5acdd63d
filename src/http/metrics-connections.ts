import { ListenerKind } from '../transport/connection-stream.js';
import { LonglinkServer } from '../transport/longlink.server.js';

/** Open connections by listener, every listener present (0 when none): one pass, at scrape time. */
export function connectionsByListener(server: LonglinkServer): Record<ListenerKind, number> {
  const counts: Record<ListenerKind, number> = { tcp: 0, websocket: 0 };
  server.forEachConnection((conn) => counts[conn.listener]++);
  return counts;
}
