import { Gauge, Registry } from 'prom-client';
import { LonglinkServer } from '../transport/longlink.server.js';

export interface NodeInfo {
  /** This node's id (cluster.nodeId, or the generated one). */
  node: string;
  store: string;
  cluster: boolean;
}

/** Which node this is (a constant 1 carrying labels) and whether it drains. */
export function registerNodeMetrics(
  registry: Registry,
  server: LonglinkServer,
  info: NodeInfo,
): void {
  const nodeInfo = new Gauge({
    name: 'longlink_node_info',
    help: 'Always 1; labels name this node, its message store and whether cluster mode is on.',
    labelNames: ['node', 'store', 'cluster'],
    registers: [registry],
  });
  nodeInfo.set({ node: info.node, store: info.store, cluster: String(info.cluster) }, 1);
  new Gauge({
    name: 'longlink_draining',
    help: '1 while the gateway drains before it stops (/readyz answers 503), else 0.',
    registers: [registry],
    collect(this: Gauge) {
      this.set(server.isDraining ? 1 : 0);
    },
  });
}
