// Pretrained-weights cache (Node only). Modelled on torch.hub, with more checks:
//  - a download streams into its own temp file next to the destination and is renamed into
//    place only after it is complete, hashed against the expected sha256 (the whole digest
//    where one is known, else torch.hub's name prefix) and fsynced, so nothing partial is
//    ever visible; temp files of a process that died meanwhile are removed later;
//  - beside each download a record `.<name>.json` keeps its size, sha256 and mtime. A cached
//    file whose size differs from the record (truncated, or grown) or, once its mtime has
//    changed, whose sha256 differs, is downloaded again; so is one that fails the expected
//    digest (files cached before records existed are hashed once, then recorded). An
//    unchanged file is not hashed again: a cache hit costs two stats and a small read;
//  - plain http:// is refused (anyone on the way could swap the file, and a prefix of 8 hex
//    digits is no defence against a chosen file), unless allowHttp / RESNEST_ALLOW_HTTP=1,
//    or the host is a loopback address (the bytes never leave the machine: local mirrors and
//    the tests). Redirects are followed here, not by fetch, so each hop is checked before
//    anything connects to it.

import { createHash, randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError, DownloadError, FileError, ResnestError } from '../errors.js';
import { isFile, removeOrphans, sha256File } from './files.js';
import { readRecord, recordPath, writeRecord } from './cache-record.js';

/** Default cap on a download's size, in bytes (2 GiB). */
export const DEFAULT_MAX_BYTES = 2 ** 31;

export type ProgressCallback = (done: number, total: number | undefined) => void;

export interface DownloadOptions {
  /** Leading hex digits of the expected sha256, as in torch.hub's `resnest50-528c19ca.pth`. */
  sha256Prefix?: string;
  /** The whole expected sha256 (64 hex digits), where it is known: checked instead of trusting a prefix. */
  sha256?: string;
  /**
   * Allow plain http:// to hosts other than loopback ones (a trusted mirror on a private
   * network). Default: whether $RESNEST_ALLOW_HTTP is '1'.
   */
  allowHttp?: boolean;
  /** Name in the cache; defaults to the URL's last path segment. */
  fileName?: string;
  /** Cache directory; defaults to cacheDir(). */
  dir?: string;
  /**
   * Refuse bodies larger than this many bytes, announced or streamed: a hostile server could
   * otherwise fill the disk. Default 2 GiB (the largest published checkpoint is ~440 MB).
   */
  maxBytes?: number;
  /** Give up when no data arrives for this long (ms); default 30 000. */
  timeoutMs?: number;
  /** true: progress bar on stderr when it is a TTY; a function: called after every chunk. */
  progress?: boolean | ProgressCallback;
  signal?: AbortSignal;
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.RESNEST_HOME ? env.RESNEST_HOME : join(homedir(), '.cache', 'resnest-ts');
}

export function pretrainedFileName(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    throw new DownloadError('invalid URL', url);
  }
  // Not percent-decoded, like torch.hub: a decoded %2F could smuggle a path separator in.
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (!name) throw new DownloadError('URL has no file name in its path', url);
  return name;
}

/** The temp names of downloads, `<name>.<pid>.<12 hex>.partial`; group 1 is the pid. */
export const ORPHAN_PARTIAL = /^.+\.(\d+)\.[0-9a-f]{12}\.partial$/;
const MAX_REDIRECTS = 20;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Refuses (DownloadError) a URL that is neither https:// nor allowed plain http:// (see the top of this file). */
export function checkUrl(url: string, allowHttp: boolean, asked = url): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DownloadError(url === asked ? 'invalid URL' : `redirected to an invalid URL '${url}'`, asked);
  }
  if (u.protocol === 'https:') return;
  const via = url === asked ? '' : `redirected to ${url}: `;
  if (u.protocol !== 'http:') throw new DownloadError(`${via}unsupported scheme ${u.protocol} (https: only)`, asked);
  if (!allowHttp && !isLoopback(u.hostname)) {
    throw new DownloadError(`${via}plain http:// is refused: anyone on the way could alter the file (use https://, or allowHttp / RESNEST_ALLOW_HTTP=1 for a trusted mirror)`, asked);
  }
}

function expectedDigest(opts: DownloadOptions): { full?: string; prefix?: string } {
  const full = opts.sha256?.toLowerCase();
  const prefix = opts.sha256Prefix?.toLowerCase() || undefined;
  if (full !== undefined && !/^[0-9a-f]{64}$/.test(full)) throw new ArgumentError(`sha256 must be 64 hex digits, got '${opts.sha256}'`);
  if (prefix !== undefined && !/^[0-9a-f]{1,64}$/.test(prefix)) throw new ArgumentError(`sha256Prefix must be hex digits, got '${opts.sha256Prefix}'`);
  return { full, prefix };
}

/** How `digest` fails the expected one, or undefined when it matches (or nothing is expected). */
function digestMismatch(digest: string, want: { full?: string; prefix?: string }): string | undefined {
  if (want.full && digest !== want.full) return `expected ${want.full}, got ${digest}`;
  if (want.prefix && !digest.startsWith(want.prefix)) return `expected prefix ${want.prefix}, got ${digest}`;
  return undefined;
}

/** Why the cached `dest` cannot be used, or undefined when it can. */
async function cacheProblem(dest: string, record: string, want: { full?: string; prefix?: string }): Promise<string | undefined> {
  const st = await stat(dest);
  const rec = await readRecord(record, 'sha256');
  if (rec && rec.size !== st.size) return `${st.size} bytes, the download had ${rec.size}`;
  if (rec && rec.mtimeMs === st.mtimeMs && !digestMismatch(rec.digest, want)) return undefined;
  if (!rec && !want.full && !want.prefix) return undefined; // nothing to check it against, as torch.hub
  const digest = await sha256File(dest);
  const bad = digestMismatch(digest, want) ?? (rec && rec.digest !== digest ? `expected ${rec.digest} (as downloaded), got ${digest}` : undefined);
  if (bad) return `sha256 mismatch: ${bad}`;
  await writeRecord(dest, record, 'sha256', digest);
  return undefined;
}

export async function downloadToCache(url: string, opts: DownloadOptions = {}): Promise<string> {
  const dir = opts.dir ?? cacheDir();
  const name = opts.fileName ?? pretrainedFileName(url);
  if (!name || name === '.' || name === '..' || /[/\\]/.test(name)) {
    throw new FileError('not a plain file name', name);
  }
  const want = expectedDigest(opts);
  const dest = join(dir, name);
  let damaged: string | undefined;
  if (await isFile(dest)) {
    damaged = await cacheProblem(dest, recordPath(dir, name), want);
    if (damaged === undefined) return dest;
  }
  try {
    return await fetchIntoCache(url, dir, name, want, opts);
  } catch (e) {
    // The damaged copy stays (it is no worse than nothing) and is checked again next time.
    if (damaged === undefined || !(e instanceof ResnestError)) throw e;
    const err = new DownloadError(`the cached ${dest} is damaged (${damaged}), and fetching it again failed: ${e.message.replace(`${url}: `, '')}`, url);
    err.cause = e;
    throw err;
  }
}

async function fetchIntoCache(url: string, dir: string, name: string, want: { full?: string; prefix?: string }, opts: DownloadOptions): Promise<string> {
  const dest = join(dir, name);
  const allowHttp = opts.allowHttp ?? process.env.RESNEST_ALLOW_HTTP === '1';
  checkUrl(url, allowHttp);
  if (opts.signal?.aborted) throw new DownloadError('aborted', url);

  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new FileError(`cannot create cache directory: ${errText(e)}`, dir);
  }
  await removeOrphans(dir, ORPHAN_PARTIAL);
  // pid + random: concurrent downloads, in this process or others, never share a temp file.
  const tmp = join(dir, `${name}.${process.pid}.${randomBytes(6).toString('hex')}.partial`);
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'wx');
  } catch (e) {
    throw new FileError(`cannot create temp file: ${errText(e)}`, tmp);
  }

  const timeoutMs = opts.timeoutMs ?? 30_000;
  const ac = new AbortController();
  let why: 'timeout' | 'aborted' | 'interrupted' | undefined;
  const stop = (reason: NonNullable<typeof why>) => {
    why ??= reason;
    ac.abort();
  };
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stop('timeout'), timeoutMs);
  };
  const onAbort = () => stop('aborted');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // Listening for a signal replaces Node's default exit, and finally-blocks never run on that
  // exit anyway, so delete the temp file synchronously here and then re-raise the signal
  // unless somebody else is listening (they decide whether the process ends).
  const onSignal = (sig: NodeJS.Signals) => {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    stop('interrupted');
    unlisten();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  const unlisten = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const fail = (e: unknown, done?: number, total?: number): DownloadError => {
    let msg: string;
    if (why === 'timeout') msg = `timed out after ${+(timeoutMs / 1000).toFixed(3)} s without data`;
    else if (why) msg = why;
    // undici reports a connection closed before Content-Length as a generic socket error.
    else if (total !== undefined && done !== undefined && done < total) {
      msg = `truncated: got ${done} of ${total} bytes (${networkCause(e)})`;
    } else msg = `network error: ${networkCause(e)}`;
    const err = new DownloadError(msg, url);
    err.cause = e;
    return err;
  };

  const sink = progressSink(opts.progress, name);
  let closed = false;
  let renamed = false;
  try {
    arm();
    let res: Response;
    for (let hop = 0, target = url; ; hop++) {
      try {
        // identity: Content-Length must count the bytes we receive, or truncation is undetectable.
        res = await fetch(target, { signal: ac.signal, headers: { 'accept-encoding': 'identity' }, redirect: 'manual' });
      } catch (e) {
        throw fail(e);
      }
      const location = res.headers.get('location');
      if (![301, 302, 303, 307, 308].includes(res.status) || location === null) break;
      await res.body?.cancel().catch(() => {});
      if (hop === MAX_REDIRECTS) throw new DownloadError(`more than ${MAX_REDIRECTS} redirects`, url);
      let next: string;
      try {
        next = new URL(location, target).href;
      } catch {
        throw new DownloadError(`redirected to an invalid URL '${location.slice(0, 200)}'`, url);
      }
      checkUrl(next, allowHttp, url);
      target = next;
      arm();
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw new DownloadError(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, url);
    }
    const encoding = res.headers.get('content-encoding');
    const lengthHeader = res.headers.get('content-length');
    const total =
      lengthHeader !== null && /^\d+$/.test(lengthHeader) && (!encoding || encoding === 'identity')
        ? Number(lengthHeader)
        : undefined;

    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    if (total !== undefined && total > maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new DownloadError(`too large: Content-Length ${total} bytes exceeds the limit of ${maxBytes}`, url);
    }

    const hash = createHash('sha256');
    let done = 0;
    sink?.update(0, total);
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw fail(e, done, total);
        }
        if (chunk.done) break;
        arm();
        if (chunk.value.byteLength === 0) continue;
        if (done + chunk.value.byteLength > (total ?? maxBytes)) {
          await reader.cancel().catch(() => {});
          throw new DownloadError(
            total !== undefined
              ? `body longer than its Content-Length of ${total} bytes`
              : `too large: more than the limit of ${maxBytes} bytes`,
            url,
          );
        }
        hash.update(chunk.value);
        try {
          await fh.write(chunk.value);
        } catch (e) {
          throw new FileError(`write failed: ${errText(e)}`, tmp);
        }
        done += chunk.value.byteLength;
        sink?.update(done, total);
      }
    }
    clearTimeout(timer);
    if (why) throw fail(undefined);
    if (total !== undefined && done < total) {
      throw new DownloadError(`truncated: got ${done} of ${total} bytes`, url);
    }

    const digest = hash.digest('hex');
    const mismatch = digestMismatch(digest, want);
    if (mismatch) throw new DownloadError(`sha256 mismatch: ${mismatch}`, url);
    try {
      await fh.sync();
      closed = true;
      await fh.close();
    } catch (e) {
      throw new FileError(`cannot flush temp file: ${errText(e)}`, tmp);
    }
    if (why) throw fail(undefined); // a signal arrived during the fsync
    try {
      await rename(tmp, dest);
    } catch (e) {
      // Windows refuses to replace a file another download just renamed into place; that
      // file is a complete copy, so it serves as well as ours would.
      if (!(await isFile(dest))) throw new FileError(`cannot move download into place: ${errText(e)}`, dest);
    }
    renamed = true;
    await writeRecord(dest, recordPath(dir, name), 'sha256', digest);
    sink?.end(true);
    return dest;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    unlisten();
    if (!closed) await fh.close().catch(() => {});
    if (!renamed) {
      await rm(tmp, { force: true }).catch(() => {});
      sink?.end(false);
    }
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// undici wraps the useful part ("connect ECONNREFUSED …", "other side closed") in `cause`.
function networkCause(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const c = e.cause as { message?: string; code?: string } | undefined;
  const detail = c ? c.message || c.code : undefined;
  return detail ? `${e.message}: ${detail}` : e.message;
}

interface ProgressSink {
  update(done: number, total: number | undefined): void;
  end(ok: boolean): void;
}

function progressSink(progress: DownloadOptions['progress'], label: string): ProgressSink | undefined {
  if (typeof progress === 'function') return { update: progress, end: () => {} };
  // A bar in a log file or pipe is just noise made of carriage returns.
  if (progress === true && process.stderr.isTTY) return new Bar(label, process.stderr);
  return undefined;
}

class Bar implements ProgressSink {
  private readonly start = performance.now();
  private lastDraw = -Infinity;
  private drawn = false;
  private done = 0;
  private total: number | undefined;

  constructor(
    private readonly label: string,
    private readonly out: NodeJS.WriteStream,
  ) {}

  update(done: number, total: number | undefined): void {
    this.done = done;
    this.total = total;
    const now = performance.now();
    if (now - this.lastDraw < 100) return; // terminals choke on thousands of redraws a second
    this.lastDraw = now;
    this.draw(now);
  }

  end(ok: boolean): void {
    if (ok) this.draw(performance.now());
    if (this.drawn) this.out.write('\n');
  }

  private draw(now: number): void {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? `${mb(this.done / secs)} MB/s` : '';
    const cols = this.out.columns || 80;
    let line: string;
    if (this.total) {
      const frac = Math.min(1, this.done / this.total);
      const pct = `${Math.floor(frac * 100)}%`.padStart(4);
      const tail = `| ${mb(this.done)}/${mb(this.total)} MB  ${rate}`;
      const width = Math.max(10, Math.min(30, cols - 1 - (this.label.length + pct.length + 3 + tail.length)));
      const filled = Math.round(frac * width);
      line = `${this.label} ${pct} |${'█'.repeat(filled)}${'░'.repeat(width - filled)}${tail}`;
    } else {
      line = `${this.label}  ${mb(this.done)} MB  ${rate}`;
    }
    this.out.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
    this.drawn = true;
  }
}
