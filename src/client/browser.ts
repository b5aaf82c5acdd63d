/**
 * The longlink client SDK for browsers (docs/WEB.md): what `longlink/client` resolves to in a
 * bundler (package.json's `browser` condition), and what the gateway serves prebuilt as
 * /longlink-client.js. The Node entry's API minus TCP and TLS: the bytes go over a WebSocket,
 * and nothing here reaches a `node:` module (test/browser/browser-bundle.e2e-spec.ts checks).
 */
export * from './shared.exports.js';
export { LonglinkClient } from './browser.client.js';
export type { BrowserClientOptions } from './browser.client.js';
