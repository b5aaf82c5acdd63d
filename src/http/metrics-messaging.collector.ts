import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DeliveryService } from '../messaging/delivery.service.js';
import { MessagingService } from '../messaging/messaging.service.js';

/** Append batches take from well under a millisecond (memory) to seconds (a stalled server). */
const APPEND_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect(this: Counter) {
      this.reset();
      this.inc(read());
    },
  });
}

/** Messages stored, pushed, acked, in flight, and store append latency. */
export function registerMessagingMetrics(
  registry: Registry,
  messaging: MessagingService,
  delivery: DeliveryService,
): void {
  readCounter(
    registry,
    'longlink_messages_stored_total',
    'Messages stored by this node (resends found in the store not counted).',
    () => messaging.counts.stored,
  );
  readCounter(
    registry,
    'longlink_messages_pushed_total',
    'MSG pushes sent by this node, first attempts only.',
    () => delivery.counts.pushed,
  );
  readCounter(
    registry,
    'longlink_messages_retransmitted_total',
    'MSG pushes sent again after ackTimeoutMs without an ack.',
    () => delivery.counts.retransmitted,
  );
  readCounter(
    registry,
    'longlink_messages_acked_total',
    'Pushed messages acknowledged by their recipient (PUSH_ACK).',
    () => delivery.counts.acked,
  );
  new Gauge({
    name: 'longlink_messages_unacked',
    help: 'MSG pushes in flight: sent and not yet acknowledged, over all connections.',
    registers: [registry],
    collect(this: Gauge) {
      this.set(delivery.inflightTotal());
    },
  });
  const append = new Histogram({
    name: 'longlink_store_append_seconds',
    help: 'Time to store one append batch (one transaction: all SENDs of an event-loop turn).',
    buckets: APPEND_BUCKETS_S,
    registers: [registry],
  });
  // Observed once per batch, not per message.
  messaging.observeAppends((seconds) => append.observe(seconds));
}
