import { Gauge, Registry } from 'prom-client';
import { SessionService } from '../session/session.service.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { connectionsByListener } from './metrics-connections.js';
import { opLabel } from './metrics-op-label.js';
import { scrapedCounter } from './metrics-scraped.counter.js';

export interface TransportMetricSources {
  server: LonglinkServer;
  sessions: SessionService;
  /** LOGIN outcomes by result: 'ok' or the ERROR code. */
  loginResults: ReadonlyMap<string, number>;
}

/** Connections, users, logins, frames, ERRORs, KICKs, PROXY refusals: all read at scrape time. */
export function registerTransportMetrics(registry: Registry, s: TransportMetricSources): void {
  const { server, sessions, loginResults } = s;
  const stats = server.stats;
  new Gauge({
    name: 'longlink_connections',
    help: 'Open client connections on this node, by listener.',
    labelNames: ['listener'],
    registers: [registry],
    collect(this: Gauge<string>) {
      const counts = connectionsByListener(server);
      for (const [listener, n] of Object.entries(counts)) this.set({ listener }, n);
    },
  });
  new Gauge({
    name: 'longlink_users_online',
    help: 'Users logged in on this node.',
    registers: [registry],
    collect(this: Gauge) {
      this.set(sessions.count());
    },
  });
  scrapedCounter({
    registry,
    name: 'longlink_logins_total',
    help: 'LOGIN requests by result: ok, or the ERROR code that refused them.',
    label: 'result',
    read: () => loginResults,
  });
  const byOp = (counts: ReadonlyMap<number, number>) =>
    [...counts].map(([op, n]) => [opLabel(server.routes, op), n] as const);
  scrapedCounter({
    registry,
    name: 'longlink_frames_in_total',
    help: 'Frames received, by op (handler pattern, or "unknown").',
    label: 'op',
    read: () => byOp(stats.framesIn),
  });
  scrapedCounter({
    registry,
    name: 'longlink_frames_out_total',
    help: 'Frames sent, by op (pattern, "<pattern>.reply", a push name, or "unknown").',
    label: 'op',
    read: () => byOp(stats.framesOut),
  });
  scrapedCounter({
    registry,
    name: 'longlink_errors_sent_total',
    help: 'ERROR PDUs sent, by code.',
    label: 'code',
    read: () => stats.errors,
  });
  scrapedCounter({
    registry,
    name: 'longlink_kicks_sent_total',
    help: 'KICK PDUs sent, by reason.',
    label: 'reason',
    read: () => stats.kicks,
  });
  scrapedCounter({
    registry,
    name: 'longlink_proxy_refused_total',
    help: 'TCP connections closed at the PROXY protocol stage, no PDU sent, by reason.',
    label: 'reason',
    read: () => stats.proxyRefusals,
  });
}
