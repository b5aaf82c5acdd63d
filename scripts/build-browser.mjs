#!/usr/bin/env node
// Builds the browser SDK (src/client/browser.ts) into one ES module the gateway serves as
// /longlink-client.js (docs/WEB.md): `npm run build` runs it after `nest build`.
// Usage: node scripts/build-browser.mjs [outdir]   (default dist/browser)
import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = resolve(root, process.argv[2] ?? 'dist/browser');

await build({
  absWorkingDir: root,
  entryPoints: ['src/client/browser.ts'],
  outfile: join(outdir, 'longlink-client.js'),
  bundle: true,
  // A Node builtin (node:net, node:buffer, …) reaching the graph fails the build here.
  platform: 'browser',
  format: 'esm',
  target: 'es2020',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
// The package is CommonJS; this file is an ES module, for any tool that asks Node's rules.
await mkdir(outdir, { recursive: true });
await writeFile(join(outdir, 'package.json'), '{ "type": "module" }\n');
