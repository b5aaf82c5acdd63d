import { MsgOp } from '../messaging/messaging.ops.js';
import { Op, OpRegistry, REPLY_FLAG } from '../transport/ops.js';

/** Server-to-client ops with no handler of their own, named for metric labels. */
const PUSH_NAMES = new Map<number, string>([
  [Op.KICK, 'kick'],
  [Op.ERROR, 'error'],
  [Op.RECONNECT, 'reconnect'],
  [MsgOp.MSG, 'msg'],
]);

/**
 * The `op` label of a frame: its handler's pattern ('login', 'msg.send'), a
 * built-in push's name, `<pattern>.reply` for a reply, else 'unknown'. Unknown
 * ops share one label: a client picks any 32-bit op it likes, and one series
 * per number would let it grow the scrape without bound.
 */
export function opLabel(routes: OpRegistry, op: number): string {
  // `op | REPLY_FLAG` is negative in JavaScript: the same reply may be counted either way.
  const wire = op >>> 0;
  const reply = wire >= REPLY_FLAG;
  const request = reply ? wire - REPLY_FLAG : wire;
  const name = routes.get(request)?.pattern ?? PUSH_NAMES.get(request);
  if (name === undefined) return 'unknown';
  return reply ? `${name}.reply` : name;
}
