#!/usr/bin/env node
/* global require, __dirname */
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run as is by node */
'use strict';

// Runs the compiled CLI when the project has been built (npm run build), else the TypeScript
// source through tsx, so `npx longlink` works on a fresh checkout with no build step.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const built = join(__dirname, '..', 'dist', 'cli', 'main.js');
if (existsSync(built)) {
  require(built);
} else {
  require('tsx/cjs');
  require(join(__dirname, '..', 'src', 'cli', 'main.ts'));
}
