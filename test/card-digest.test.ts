// A model card names the weights it was written for (size + sha256); new weights beside an old
// card (a crash between the two renames of `resnest train`, or a card copied to other weights)
// are refused by the loader and by the CLI, naming both files.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModelCard, defaultModelPaths } from '../src/node.js';
import { FormatError } from '../src/errors.js';
import { runCli } from './helpers/cli.js';
import { tempDirsPerTest } from './helpers/http.js';

const freshDir = tempDirsPerTest(test, 'resnest-card-');
const { weights: DEFAULT_PTH, card: DEFAULT_CARD } = defaultModelPaths();
const pth = readFileSync(DEFAULT_PTH);
const SHA = createHash('sha256').update(pth).digest('hex');

/** model.pth (the default model's weights) and model.json (its card, with `weights` as given). */
function pair(weights: unknown): { dir: string; pth: string; card: string } {
  const dir = freshDir();
  const out = { dir, pth: join(dir, 'model.pth'), card: join(dir, 'model.json') };
  copyFileSync(DEFAULT_PTH, out.pth);
  const card = JSON.parse(readFileSync(DEFAULT_CARD, 'utf8')) as Record<string, unknown>;
  if (weights !== undefined) card.weights = weights;
  writeFileSync(out.card, JSON.stringify(card));
  return out;
}

async function refused(p: Promise<unknown>, card: string, pthFile: string, what: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, FormatError);
    const m = (e as Error).message;
    assert.ok(m.startsWith(`${card}: `) && m.includes(pthFile), m);
    assert.match(m, what);
    return;
  }
  assert.unreachable('expected the card to be refused');
}

test('a card naming its weights (size, sha256) is accepted; one without the field too', async () => {
  const good = pair({ size: pth.length, sha256: SHA });
  assert.equal((await readModelCard(good.pth))!.weights, { size: pth.length, sha256: SHA });
  const legacy = pair(undefined);
  assert.is((await readModelCard(legacy.pth))!.labels[8], 'Bag');
});

test('a card written for other weights is refused, naming both files: same size, other size', async () => {
  const other = pair({ size: pth.length, sha256: SHA.replace(/^./, (c) => (c === '0' ? '1' : '0')) });
  await refused(readModelCard(other.pth), other.card, other.pth, /written for other weights .*sha256 [0-9a-f]{16}…; file: \d+ bytes, sha256 /);
  const shorter = pair({ size: pth.length + 1, sha256: SHA });
  await refused(readModelCard(shorter.pth), shorter.card, shorter.pth, new RegExp(`card: ${pth.length + 1} bytes.*file: ${pth.length} bytes\\)`));
});

test("a malformed 'weights' field is a FormatError", async () => {
  const bad = pair({ size: -1, sha256: 'abc' });
  await refused(readModelCard(bad.pth), bad.card, "'weights' must be", /size: bytes, sha256/);
});

test('CLI: classify --weights refuses a mismatched card with one line and exit 1; the matching card classifies', async () => {
  const other = pair({ size: pth.length, sha256: '0'.repeat(64) });
  const r = await runCli(['classify', 'examples/bag.png', '--weights', other.pth]);
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(r.stderr.includes(other.card) && r.stderr.includes(other.pth) && r.stderr.includes('written for other weights'), r.stderr);

  const good = pair({ size: pth.length, sha256: SHA });
  const ok = await runCli(['classify', 'examples/bag.png', '--weights', good.pth, '--top', '1']);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /Bag/);
});

test.run();
