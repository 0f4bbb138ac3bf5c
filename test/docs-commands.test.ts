// The newcomer's first commands: every `npx resnest …` line in the README and docs/ names a
// command and options that exist, and the ones that need no network, data set or file of the
// user's run exactly as written, through npx, in a folder laid out like a clone after
// `npm install && npm start` (npm links the package's own command there: package.json lists it
// as its own dev dependency).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrainArgs, recipeOptions } from '../src/cli/train-options.js';

const root = process.cwd();

interface Documented { file: string; line: number; text: string }

/** Each `npx resnest` line of an indented code block, continuation lines joined, comment dropped. */
function documented(): Documented[] {
  const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
  const out: Documented[] = [];
  for (const file of files) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/^ {4}npx resnest\b/.test(lines[i]!)) continue;
      let text = lines[i]!.trim();
      const line = i + 1;
      while (text.endsWith('\\')) text = `${text.slice(0, -1).trim()} ${lines[++i]!.trim()}`;
      out.push({ file, line, text: text.replace(/\s+#\s.*$/, '').trim() });
    }
  }
  return out;
}

const npx = (cmd: string, cwd: string) =>
  spawnSync('sh', ['-c', cmd], { cwd, encoding: 'utf8', timeout: 180_000, env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' } });

const help = new Map<string, Set<string>>();
function optionsOf(command: string): Set<string> | undefined {
  if (!help.has(command)) {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'resnest.js'), command, '--help'], { encoding: 'utf8' });
    const m = r.status === 0 ? /^options: (.*)$/m.exec(r.stdout) : null;
    help.set(command, new Set(m ? m[1]!.split(', ') : []));
  }
  const s = help.get(command)!;
  return s.size ? s : undefined;
}

test('every documented resnest command names a real command and real options', () => {
  const lines = documented();
  assert.ok(lines.length >= 20, `found ${lines.length} documented commands`);
  for (const { file, line, text } of lines) {
    const [, , command] = text.split(/\s+/);
    const options = optionsOf(command!);
    assert.ok(options, `${file}:${line}: 'resnest ${command}' is not a command`);
    for (const opt of text.match(/--[a-z][\w-]*/g) ?? []) assert.ok(options!.has(opt), `${file}:${line}: resnest ${command} has no option ${opt}`);
  }
});

test('every documented resnest train line of the classification recipe is a valid combination of options', () => {
  let checked = 0;
  for (const { file, line, text } of documented()) {
    const args = text.split(/\s+/).slice(2);
    if (args[0] !== 'train' || /[<>[\]|…]|\.\.\./.test(text) || /--arch (fcn|deeplab)_/.test(text)) continue;
    try {
      recipeOptions(parseTrainArgs(args.slice(1)));
    } catch (e) {
      assert.unreachable(`${file}:${line}: ${text}\n${(e as Error).message}`);
    }
    checked++;
  }
  assert.ok(checked >= 1, 'the README\'s training command at least');
});

// Options whose value is written, not read; a line whose every other path exists in the clone runs as written.
const OUTPUTS = new Set(['--out', '--output', '--save', '--onnx', '--checkpoint-dir', '--log', '--plot']);
function runnable(text: string): boolean {
  if (/[<>[\]|…]|\.\.\.|--pretrained|--data\b|--resume\b/.test(text)) return false;
  const tokens = text.split(/\s+/).slice(3);
  return tokens.every((t, i) => t.startsWith('--') || OUTPUTS.has(tokens[i - 1] ?? '') || !/\/|\.(png|jpe?g|pth|npy|json|jsonl|safetensors|onnx|svg)$/i.test(t) || t.includes('*') || existsSync(join(root, t)));
}

test('the documented commands that need nothing of the user run exactly as written via npx', () => {
  const work = mkdtempSync(join(tmpdir(), 'resnest-docs-'));
  try {
    for (const d of ['node_modules', 'examples', 'scripts', 'models']) symlinkSync(join(root, d), join(work, d));
    const ran: string[] = [];
    for (const { file, line, text } of documented()) {
      if (!runnable(text) || ran.includes(text)) continue;
      const r = npx(text, work);
      assert.is(r.status, 0, `${file}:${line}: ${text}\n${r.stderr}`);
      assert.not.match(r.stderr, /not found|internal error/, `${file}:${line}: ${text}`);
      ran.push(text);
    }
    // The README's own four: list, classify examples, explain (its output folder written).
    for (const want of ['npx resnest list', 'npx resnest classify examples/*.png --top 3', 'npx resnest explain examples/bag.png --block layer2.0 --out explained/']) {
      assert.ok(ran.includes(want), `did not run: ${want} (ran: ${ran.join('; ')})`);
    }
    assert.ok(existsSync(join(work, 'explained', 'index.html')), 'explain --out wrote its page');
    const classified = npx('npx resnest classify examples/*.png --top 3', work).stdout;
    assert.match(classified, /examples\/bag\.png\n +1\. +[\d.]+% +Bag/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('resnest <command> --help prints that command\'s usage and options, exit 0; a clone before the build says how to build', () => {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'resnest.js'), 'eval', '--help'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: resnest eval --data <dir>/);
  assert.match(r.stdout, /^options: .*--val-split/m);
  const clone = mkdtempSync(join(tmpdir(), 'resnest-unbuilt-'));
  try {
    mkdirSync(join(clone, 'bin'));
    copyFileSync(join(root, 'bin', 'resnest.js'), join(clone, 'bin', 'resnest.js'));
    const u = spawnSync(process.execPath, [join(clone, 'bin', 'resnest.js'), 'list'], { encoding: 'utf8' });
    assert.is(u.status, 1);
    assert.match(u.stderr, /^resnest: .*dist\/cli\.js is not built yet: run `npm run build`/);
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
});

test.run();
