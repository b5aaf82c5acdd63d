import { runCli } from './cli.program.js';

// Entry of `longlink` (bin/longlink.js, `npm run cli`). Once the command is done nothing should
// keep the process alive; if something does (a stuck socket), leave shortly after anyway.
void runCli(process.argv).then(() => setTimeout(() => process.exit(), 2000).unref());
