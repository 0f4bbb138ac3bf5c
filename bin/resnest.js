#!/usr/bin/env node
// The `resnest` command as npm links it, both where the package is installed and in a clone
// (package.json lists the package as its own dev dependency, so `npm install` links
// node_modules/.bin/resnest there too). The command itself is the bundle dist/cli.js; in a
// clone before the first build, this says how to build instead of printing a module trace.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write(`resnest: ${fileURLToPath(cli)} is not built yet: run \`npm run build\` (or \`npm start\`) in ${fileURLToPath(new URL('..', import.meta.url))}\n`);
  process.exit(1);
}
await import(cli.href);
