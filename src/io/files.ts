// File helpers for Node: typed errors naming the file, and atomic writes (temp file in the
// same directory, then rename) so that an interrupted run never leaves a half-written output.

import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
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

export async function readBytes(path: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new FileError(`cannot read: ${reason(e)}`, path);
  }
}

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes, { flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new FileError(`cannot write: ${reason(e)}`, path);
  }
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
