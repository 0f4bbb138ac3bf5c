// npm run fuzz [-- --count N] [--seed N] [--parser name[,name]] [--seconds N] [--jobs N]
//               [--index I] [--out DIR] [--slow-ms N] [--replay FILE --parser name] [--json FILE]
// Mutates the valid fixtures of each parser and reports, per parser, how many cases ended in
// a typed error, a success or a failure (an untyped exception, a case over 2 s, an allocation
// over its bound, a hang). Failing inputs are written to --out (default test/fuzz/failures).
// Exit status 1 when anything failed.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatTable, runFuzz, type ParserSummary } from './engine.js';
import { findTarget, ROOT, SELF_TESTS, TARGETS } from './targets.js';
import { ResnestError } from '../../src/errors.js';

function parse(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const [k, v] = a.includes('=') ? a.slice(2).split('=', 2) as [string, string] : [a.slice(2), argv[++i] ?? ''];
    m.set(k, v);
  }
  return m;
}

const USAGE = `usage: npm run fuzz -- [--count 10000] [--seed 1] [--parser ${TARGETS.map((t) => t.name).join(',')}]
                     [--seconds N] [--jobs N] [--index I] [--out DIR] [--slow-ms 2000] [--json FILE]
       npm run fuzz -- --replay FILE --parser NAME`;

async function main(): Promise<number> {
  let args: Map<string, string>;
  try {
    args = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.has('help')) {
    console.log(USAGE);
    return 0;
  }
  const num = (k: string, d?: number) => {
    const v = args.get(k);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} must be a non-negative number, got '${v}'`);
    return n;
  };
  const parsers = args.get('parser')?.split(',').filter(Boolean);

  const replay = args.get('replay');
  if (replay) {
    const t = parsers?.length === 1 ? findTarget(parsers[0]!) : undefined;
    if (!t) throw new Error('--replay needs --parser NAME');
    const bytes = new Uint8Array(readFileSync(replay));
    const t0 = performance.now();
    try {
      t.run(bytes, replay);
      console.log(`parsed without error in ${(performance.now() - t0).toFixed(1)} ms`);
      return 0;
    } catch (e) {
      const typed = e instanceof ResnestError;
      console.log(`${typed ? 'typed error' : 'FAILURE: untyped exception'} after ${(performance.now() - t0).toFixed(1)} ms`);
      console.log(typed ? `${(e as Error).name}: ${(e as Error).message}` : String((e as Error)?.stack ?? e));
      return typed ? 0 : 1;
    }
  }

  const index = num('index');
  const seed = num('seed', 1)!;
  const count = index !== undefined ? 1 : num('count', 10_000)!;
  const seconds = num('seconds');
  const outDir = args.get('out') ?? join(ROOT, 'test/fuzz/failures');
  const names = parsers ?? TARGETS.map((t) => t.name);
  for (const n of names) if (!findTarget(n)) throw new Error(`unknown parser '${n}' (parsers: ${TARGETS.map((t) => t.name).join(', ')}; self-tests: ${SELF_TESTS.map((t) => t.name).join(', ')})`);
  console.log(`fuzz: seed ${seed}, ${count} cases per parser${seconds !== undefined ? `, at most ${seconds} s` : ''}, parsers ${names.join(', ')}`);
  const t0 = Date.now();
  const rows: ParserSummary[] = await runFuzz({
    seed, count, parsers: names, outDir,
    ...(index !== undefined ? { from: index } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
    ...(num('jobs') !== undefined ? { jobs: num('jobs')! } : {}),
    ...(num('slow-ms') !== undefined ? { slowMs: num('slow-ms')! } : {}),
    onParserDone: (s) => console.log(`  ${s.parser}: ${s.cases} cases, ${s.failures.length} failures, ${s.seconds.toFixed(1)} s; slowest case ${s.slowest} (${s.maxMs.toFixed(1)} ms); typed errors ${JSON.stringify(s.errorKinds)}`),
  });
  console.log(`\n${formatTable(rows)}\n\nwall time ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const failures = rows.flatMap((r) => r.failures.map((f) => ({ parser: r.parser, ...f })));
  for (const f of failures.slice(0, 30)) {
    console.log(`\nFAIL ${f.parser} case ${f.index} [${f.kinds.join(', ')}] ${f.file ?? ''}\n  ${f.ops.join('\n  ')}\n  ${f.message.split('\n').slice(0, 6).join('\n  ')}`);
  }
  if (failures.length > 30) console.log(`\n… and ${failures.length - 30} more in ${outDir}`);
  const json = args.get('json');
  if (json) writeFileSync(json, JSON.stringify({ seed, count, seconds: (Date.now() - t0) / 1000, rows }, null, 1));
  return failures.length ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    console.error(`fuzz: ${(e as Error)?.message ?? String(e)}`);
    process.exitCode = 2;
  },
);
