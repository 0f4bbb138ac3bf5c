#!/usr/bin/env node
// The `resnest` command. Every failure is one line on stderr and a non-zero exit
// (2: bad usage, 1: bad input or environment); --verbose adds the stack trace.

import '../index.js';
import { ArgumentError, ResnestError } from '../errors.js';
import { classify, CLASSIFY_USAGE } from './classify.js';
import { infer, INFER_USAGE } from './infer.js';
import { list, LIST_USAGE } from './list.js';
import { HelpRequest } from './args.js';
import { exportCommand, EXPORT_USAGE } from './export.js';
import { bench, BENCH_USAGE } from './bench.js';
import { train, TRAIN_USAGE } from './train.js';
import { evalCommand, EVAL_USAGE } from './eval.js';
import { explainCommand, EXPLAIN_USAGE } from './explain.js';
import { segment, SEGMENT_USAGE } from './segment.js';

const USAGE = `resnest — ResNeSt split-attention networks in TypeScript

usage:
  ${INFER_USAGE}
  ${CLASSIFY_USAGE}
  ${LIST_USAGE}
  ${EXPORT_USAGE}
  ${BENCH_USAGE}
  ${TRAIN_USAGE}
  ${EVAL_USAGE}
  ${EXPLAIN_USAGE}
  ${SEGMENT_USAGE}

Weights: --weights takes a PyTorch checkpoint (.pth, zip or legacy format) or .safetensors;
--pretrained downloads the seed's published weights into $RESNEST_HOME (~/.cache/resnest-ts).
--arch takes a zoo name or a .json file of the seed's ResNet keyword arguments (or a model card).
Without a model, classify, eval and explain use the embedded default (models/default.pth, Fashion-MNIST).`;

const commands: Record<string, (argv: string[]) => Promise<void> | void> = { infer, classify, list, export: exportCommand, bench, train, eval: evalCommand, explain: explainCommand, segment };
const usages: Record<string, string> = { infer: INFER_USAGE, classify: CLASSIFY_USAGE, list: LIST_USAGE, export: EXPORT_USAGE, bench: BENCH_USAGE, train: TRAIN_USAGE, eval: EVAL_USAGE, explain: EXPLAIN_USAGE, segment: SEGMENT_USAGE };

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const run = commands[command];
  if (!run) throw new ArgumentError(`unknown command '${command}' (commands: ${Object.keys(commands).join(', ')})`);
  try {
    await run(rest);
  } catch (e) {
    if (!(e instanceof HelpRequest)) throw e;
    console.log(`usage: ${usages[command]}\noptions: ${e.options.join(', ')}\n(resnest --help: every command; docs/cli.md: each option)`);
    return 0;
  }
  // A command may set its own status (train stopped by Ctrl-C: 130).
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

const verbose = process.argv.includes('--verbose');
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof ResnestError) {
      process.stderr.write(`resnest: ${e.message}\n`);
      process.exitCode = e instanceof ArgumentError ? 2 : 1;
    } else {
      process.stderr.write(`resnest: internal error: ${(e as Error)?.message ?? String(e)}${verbose ? '' : ' (run with --verbose for details)'}\n`);
      process.exitCode = 70;
    }
    if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  },
);
