// The segmentation toolkit's checkpoints in the cache (Node only). The toolkit publishes a
// zip per checkpoint and the full SHA-1 of the .pth inside it, never a digest of the zip, so
// the zip is downloaded unchecked (downloadToCache: temp file, size bounds, https), the .pth
// extracted from it is hashed, and only a .pth with the published SHA-1 is written into the
// cache (atomically) and the zip removed. Beside the .pth, `.<name>.pth.json` records its
// size, sha1 and mtime, as download.ts records sha256: a later call trusts an unchanged file
// without hashing it, and fetches again one that is truncated or changed.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ArgumentError, DownloadError, FileError, ResnestError } from '../errors.js';
import { cacheDir, downloadToCache, type DownloadOptions } from './download.js';
import { isFile, readBytes, writeFileAtomic } from './files.js';
import { readRecord, recordPath, writeRecord } from './cache-record.js';
import { memorySource } from './source.js';
import { findWrappedCheckpoint, readWrappedMember } from './wrapped-checkpoint.js';
import { isZip } from './zip.js';
import { TOOLKIT_BASE_URL, toolkitZipUrl } from '../models/segmentation/zoo.js';

// Where the toolkit (PyTorch-Encoding) publishes `{name}-{sha1[:8]}.zip`: TOOLKIT_BASE_URL, which
// $RESNEST_SEGMENTATION_URL replaces.
export { TOOLKIT_BASE_URL };

export interface ToolkitOptions extends Omit<DownloadOptions, 'sha256Prefix' | 'sha256' | 'fileName'> {
  /** The folder URL holding the zips; default $RESNEST_SEGMENTATION_URL, else TOOLKIT_BASE_URL. */
  baseUrl?: string;
}

export function sha1Hex(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

/** The file's SHA-1 as hex, read as a stream. */
export async function sha1File(path: string): Promise<string> {
  const hash = createHash('sha1');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (e) {
    throw new FileError(`cannot read: ${(e as Error).message}`, path);
  }
  return hash.digest('hex');
}

/** A SHA-1 given by a caller, lower-cased; anything but 40 hex digits is an ArgumentError. */
export function checkSha1Arg(sha1: string): string {
  const s = sha1.toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(s)) throw new ArgumentError(`sha1 must be 40 hex digits, got '${sha1}'`);
  return s;
}

function checkName(name: string): void {
  // It becomes a URL path segment and a file name: nothing that could leave either.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new ArgumentError(`not a toolkit checkpoint name: '${name}'`);
}

/** The zip's URL: `{base}/{name}-{sha1[:8]}.zip`. */
export function toolkitUrl(name: string, sha1: string, base: string = process.env.RESNEST_SEGMENTATION_URL || TOOLKIT_BASE_URL): string {
  checkName(name);
  return toolkitZipUrl(name, checkSha1Arg(sha1), base);
}

/** Why the cached .pth cannot be used, or undefined when it can. */
async function cacheProblem(pth: string, record: string, want: string): Promise<string | undefined> {
  let size: number, mtimeMs: number;
  try {
    ({ size, mtimeMs } = await stat(pth));
  } catch {
    return 'missing';
  }
  const rec = await readRecord(record, 'sha1');
  if (rec && rec.size !== size) return `${size} bytes, the extracted file had ${rec.size}`;
  if (rec && rec.mtimeMs === mtimeMs && rec.digest === want) return undefined;
  const digest = await sha1File(pth);
  if (digest !== want) return `sha1 mismatch: expected ${want}, got ${digest}`;
  await writeRecord(pth, record, 'sha1', digest);
  return undefined;
}

/**
 * The path of the toolkit's checkpoint `name` in the cache, its SHA-1 checked: downloaded
 * (`{base}/{name}-{sha1[:8]}.zip`) and extracted to `{name}-{sha1[:8]}.pth` the first time,
 * re-used afterwards while its size and record hold. A .pth whose SHA-1 is not `sha1` is a
 * DownloadError naming the URL and both digests, and nothing is left in the cache.
 */
export async function toolkitCheckpoint(name: string, sha1: string, opts: ToolkitOptions = {}): Promise<string> {
  const want = checkSha1Arg(sha1);
  const { baseUrl, ...download } = opts;
  const url = toolkitUrl(name, want, baseUrl);
  const dir = opts.dir ?? cacheDir();
  const stem = `${name}-${want.slice(0, 8)}`;
  const pth = join(dir, `${stem}.pth`);
  const record = recordPath(dir, `${stem}.pth`);
  let damaged: string | undefined;
  if (await isFile(pth)) {
    damaged = await cacheProblem(pth, record, want);
    if (damaged === undefined) return pth;
  }
  try {
    return await fetchAndExtract(url, dir, stem, want, pth, record, download);
  } catch (e) {
    // As in downloadToCache: the damaged copy stays and is checked again next time.
    if (damaged === undefined || !(e instanceof ResnestError)) throw e;
    const err = new DownloadError(`the cached ${pth} is damaged (${damaged}), and fetching it again failed: ${e.message.replace(`${url}: `, '')}`, url);
    err.cause = e;
    throw err;
  }
}

async function fetchAndExtract(url: string, dir: string, stem: string, want: string, pth: string, record: string, opts: DownloadOptions): Promise<string> {
  const zipName = `${stem}.zip`;
  const zip = await downloadToCache(url, { ...opts, dir, fileName: zipName });
  try {
    let bytes: Uint8Array;
    try {
      bytes = await readBytes(zip);
    } catch (e) {
      // Another call for the same checkpoint extracted it and removed the zip meanwhile.
      if ((await cacheProblem(pth, record, want)) === undefined) return pth;
      throw e;
    }
    if (!isZip(bytes)) throw new DownloadError("not a zip archive (the toolkit's checkpoints are zips holding one .pth)", url);
    const src = memorySource(bytes);
    const member = findWrappedCheckpoint(src, url);
    if (!member) throw new DownloadError("not the toolkit's checkpoint zip: it holds something other than one .pth file", url);
    const inner = readWrappedMember(src, member, url, { maxBytes: opts.maxBytes });
    const got = sha1Hex(inner);
    if (got !== want) throw new DownloadError(`sha1 mismatch of '${member.name}': expected ${want}, got ${got}`, url);
    await writeFileAtomic(pth, inner);
    await writeRecord(pth, record, 'sha1', got);
    return pth;
  } finally {
    // Never kept: it has no digest of its own, and the .pth is the copy that is checked.
    await rm(zip, { force: true }).catch(() => {});
    await rm(recordPath(dir, zipName), { force: true }).catch(() => {});
  }
}
