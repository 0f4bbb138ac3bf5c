import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeOrphans, writeFileAtomic, ORPHAN_TMP } from '../src/io/files.js';
import { FileError } from '../src/errors.js';
import { tempDirsPerTest } from './helpers/http.js';

const freshDir = tempDirsPerTest(test, 'resnest-write-');

/** A pid that certainly existed and has certainly exited: a child that has been waited for. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

function age(file: string, seconds: number): void {
  const t = Date.now() / 1000 - seconds;
  utimesSync(file, t, t);
}

test('writeFileAtomic writes the bytes and leaves only the file', async () => {
  const dir = freshDir();
  const path = join(dir, 'last.pth');
  await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
  await writeFileAtomic(path, new Uint8Array([4, 5]));
  assert.equal([...readFileSync(path)], [4, 5]);
  assert.equal(readdirSync(dir), ['last.pth']);
});

test('a failed write (the target is a folder) is a FileError naming it, and leaves no temp file', async () => {
  const dir = freshDir();
  const path = join(dir, 'out.pth');
  mkdirSync(path);
  writeFileSync(join(path, 'keep'), 'x'); // a non-empty folder: rename cannot replace it
  try {
    await writeFileAtomic(path, new Uint8Array(1000));
    assert.unreachable('writing over a folder must fail');
  } catch (e) {
    assert.instance(e, FileError);
    assert.ok((e as Error).message.startsWith(`${path}: cannot write`), (e as Error).message);
  }
  assert.equal(readdirSync(dir), ['out.pth']);
});

test("writeFileAtomic removes a dead process's old temp files, and nothing else", async () => {
  const dir = freshDir();
  const dead = deadPid();
  const names = {
    deadOld: `.last.pth.${dead}.0123abcd.tmp`,
    deadYoung: `.last.pth.${dead}.89abcdef.tmp`,
    liveOld: `.last.pth.${process.ppid}.00ff00ff.tmp`,
    oursOld: `.other.json.${process.pid}.deadbeef.tmp`,
    notOurs: `.last.pth.${dead}.nothex00.tmp`,
    plain: 'notes.txt',
  };
  for (const n of Object.values(names)) writeFileSync(join(dir, n), 'partial');
  for (const n of [names.deadOld, names.liveOld, names.oursOld, names.notOurs, names.plain]) age(join(dir, n), 3600);
  await writeFileAtomic(join(dir, 'last.pth'), new Uint8Array([7]));
  const left = readdirSync(dir).sort();
  assert.equal(left, ['last.pth', ...Object.values(names).filter((n) => n !== names.deadOld)].sort());
});

test('removeOrphans: only names of the pattern, a dead pid, older than the age limit', async () => {
  const dir = freshDir();
  const dead = deadPid();
  const old = `.model.pth.${dead}.a1b2c3d4.tmp`;
  writeFileSync(join(dir, old), '');
  age(join(dir, old), 120);
  assert.equal(await removeOrphans(dir, ORPHAN_TMP, 300_000), [], 'younger than the limit');
  assert.equal(await removeOrphans(dir, ORPHAN_TMP), [old]);
  assert.equal(readdirSync(dir), []);
  assert.equal(await removeOrphans(join(dir, 'missing'), ORPHAN_TMP), [], 'a missing folder is not an error');
});

test.run();
