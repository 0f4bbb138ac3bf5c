// The record beside a file in the download cache, `.<name>.json`: its size, its digest and
// its mtime when the digest was taken. An unchanged file (same size and mtime) is then trusted
// without hashing it again; a truncated one is noticed from its size alone. Shared by the
// seed's checkpoints (sha256) and the segmentation toolkit's (sha1).

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './files.js';

export type DigestKind = 'sha256' | 'sha1';

export interface CacheRecord {
  size: number;
  mtimeMs: number;
  digest: string;
}

export const recordPath = (dir: string, name: string) => join(dir, `.${name}.json`);

export async function readRecord(path: string, kind: DigestKind): Promise<CacheRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    const digest = r[kind];
    return Number.isSafeInteger(r.size) && typeof digest === 'string' && typeof r.mtimeMs === 'number'
      ? { size: r.size as number, mtimeMs: r.mtimeMs, digest } : undefined;
  } catch {
    return undefined; // none, or unreadable: the file is hashed instead
  }
}

/** Best effort: without a record (a read-only cache, say) the file is only hashed again next time. */
export async function writeRecord(file: string, path: string, kind: DigestKind, digest: string): Promise<void> {
  try {
    const st = await stat(file);
    await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify({ size: st.size, [kind]: digest, mtimeMs: st.mtimeMs }) + '\n'));
  } catch {
    // see above
  }
}
