/**
 * The longlink client SDK for Node (`longlink/client`), documented in docs/CLIENT.md. It shares
 * the frame codec and op numbers with the server and depends on nothing of Nest. Bundlers get
 * browser.ts instead (package.json's `browser` condition), documented in docs/WEB.md.
 */
export * from './shared.exports.js';
export { LonglinkClient } from './longlink.client.js';
export type { LonglinkClientOptions } from './client.options.js';
export { formatAddress, tcpTransport } from './tcp.transport.js';
export type { TcpTransportOptions } from './tcp.transport.js';
export { tlsTransport } from './tls.transport.js';
export type { TlsOptions, TlsTransportOptions } from './tls.transport.js';
