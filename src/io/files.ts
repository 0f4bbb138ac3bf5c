// File helpers for Node: typed errors naming the file, and atomic, durable writes (temp file
// in the same directory, fsync, rename, fsync of the directory) so that neither an
// interrupted run nor a power cut leaves a half-written or empty output.

import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { lstat, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileError } from '../errors.js';
import type { ByteSource } from './source.js';

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'no such file';
  if (err?.code === 'EACCES' || err?.code === 'EPERM') return 'permission denied';
  if (err?.code === 'EISDIR') return 'is a directory';
  return err?.message ?? String(e);
}

/** Whether `path` is a regular file (false when it is missing or anything else). */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function readBytes(path: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new FileError(`cannot read: ${reason(e)}`, path);
  }
}

/**
 * Writes `bytes` to `path` so that a crash at any moment leaves either the old file or the
 * new one, never an empty or half-written one: a temp file beside it (created with 'wx', so
 * two writers never share one) is written and fsynced, renamed over `path`, and the folder is
 * fsynced so that the rename itself survives a power cut (without it, a journaling file
 * system may replay the rename before the data and leave an empty file). Temp files that a
 * crashed process left in the folder are removed first (see removeOrphans).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await removeOrphans(dir, ORPHAN_TMP);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx');
    await fh.writeFile(bytes);
    await fh.sync();
    const closing = fh;
    fh = undefined;
    await closing.close();
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw new FileError(`cannot write: ${reason(e)}`, path);
  }
  await syncDir(dir, path);
}

/** fsyncs a folder, so that a rename into it is on disk; a no-op where folders cannot be fsynced. */
export async function syncDir(dir: string, forFile: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Windows cannot open a folder (EISDIR / EPERM), some file systems refuse to fsync one (EINVAL).
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EBADF') {
      throw new FileError(`written, but its folder cannot be flushed: ${reason(e)}`, forFile);
    }
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** writeFileAtomic's temp names, `.<name>.<pid>.<8 hex>.tmp`; group 1 is the writer's pid. */
export const ORPHAN_TMP = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** Whether process `pid` exists (EPERM: it does, but belongs to someone else). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException)?.code !== 'ESRCH';
  }
}

/**
 * Removes the temp files in `dir` that a killed process left behind: names matching
 * `pattern` (group 1 is the pid that made them) whose process is gone and that have not been
 * touched for `minAgeMs`. A live pid's file is never removed, even if old (a slow download or
 * a big write under way); the age guard covers a pid that died just now and a folder shared
 * between machines, where another host's pid means nothing here. Best effort: nothing here
 * throws.
 */
export async function removeOrphans(dir: string, pattern: RegExp, minAgeMs = 60_000): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const now = Date.now();
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1]);
    // pid 0 and below address process groups in kill(2): never a writer's pid.
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || pidAlive(pid)) continue;
    const file = join(dir, name);
    try {
      const st = await lstat(file);
      if (!st.isFile() || now - st.mtimeMs < minAgeMs) continue;
      await rm(file, { force: true });
      removed.push(name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

/** The file's sha256 as hex, read as a stream (a checkpoint is never held whole for it). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (e) {
    throw new FileError(`cannot read: ${reason(e)}`, path);
  }
  return hash.digest('hex');
}

/**
 * A file read piece by piece (each read opens, reads and closes it, so nothing stays open).
 * A file that changes size while it is being read is an error, not silently mixed data.
 */
export function fileSource(path: string): ByteSource {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new FileError(`cannot read: ${reason(e)}`, path);
  }
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      const out = new Uint8Array(length);
      let fd: number | undefined;
      try {
        fd = openSync(path, 'r');
        if (fstatSync(fd).size !== size) throw new FileError('changed while it was being read', path);
        for (let done = 0; done < length; ) {
          const n = readSync(fd, out, done, length - done, offset + done);
          if (n === 0) throw new FileError(`ended early: read ${offset + done} of ${size} bytes`, path);
          done += n;
        }
      } catch (e) {
        if (e instanceof FileError) throw e;
        throw new FileError(`cannot read: ${reason(e)}`, path);
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
      return out;
    },
  };
}
