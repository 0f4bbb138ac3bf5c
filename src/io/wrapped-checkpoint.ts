// The ResNeSt authors' segmentation toolkit (PyTorch-Encoding) publishes each checkpoint as
// `{name}-{sha1[:8]}.zip` holding one `{name}-{sha1[:8]}.pth`. That outer zip is a different
// thing from the zip torch.save writes (the .pth itself), and unlike torch.save's it may be
// deflated: this tells the two apart and extracts the member, bounded and CRC-checked, so a
// lying directory can neither allocate gigabytes nor hand over damaged bytes. No node:
// imports: it runs in browsers too.

import { FormatError, ResourceLimitError } from '../errors.js';
import { inflateRaw, MAX_DEFLATE_RATIO } from './image/inflate.js';
import { memorySource, type ByteSource } from './source.js';
import { checkCrc, crc32, isZip, readZipIndex, type ZipEntry } from './zip.js';

/** Default cap on the extracted member, in bytes (2 GiB; the toolkit's largest is far smaller). */
export const MAX_WRAPPED_BYTES = 2 ** 31;


export interface WrappedMember {
  /** The member's name in the zip, e.g. `deeplab_resnest50_ade-2225f09d.pth`. */
  name: string;
  entry: ZipEntry;
}

export interface UnwrapOptions {
  /** Refuse a member larger than this, declared or inflated (default MAX_WRAPPED_BYTES). */
  maxBytes?: number;
}

/**
 * The one checkpoint inside a wrapper zip read through `src`, or null when the zip is not
 * such a wrapper (a torch.save archive, several files, a member that is no .pth/.pt).
 * Folders and macOS's `__MACOSX/` resource forks, which zip tools add, do not count. Reads
 * only the directory; a damaged one is a FormatError naming `file`.
 */
export function findWrappedCheckpoint(src: ByteSource, file?: string): WrappedMember | null {
  const index = readZipIndex(src, file, { allowDeflate: true });
  // A torch.save archive holds <prefix>/data.pkl and other records, never a lone .pth, so
  // the one-member rule alone keeps it from being taken for a wrapper.
  const members = [...index.keys()].filter((n) => !n.endsWith('/') && !n.startsWith('__MACOSX/'));
  if (members.length !== 1 || !/\.pth?$/i.test(members[0]!)) return null;
  return { name: members[0]!, entry: index.get(members[0]!)! };
}

/** The member's bytes (a view into `src`'s when stored in memory), checked against its size and CRC-32. */
export function readWrappedMember(src: ByteSource, member: WrappedMember, file?: string, opts: UnwrapOptions = {}): Uint8Array {
  const { name, entry: e } = member;
  const where = file ? `${file}: ` : '';
  const max = opts.maxBytes ?? MAX_WRAPPED_BYTES;
  if (e.size > max) throw new ResourceLimitError(`${where}zip member '${name}' declares ${e.size} bytes, over the limit of ${max}`);
  let out: Uint8Array;
  if (e.method === 0) {
    out = src.read(e.offset, e.size);
  } else {
    // A member declaring more than deflate can expand its compressed length to cannot be honest.
    if (e.size > e.compressedSize * MAX_DEFLATE_RATIO) {
      throw new ResourceLimitError(
        `${where}zip member '${name}' declares ${e.size} bytes from ${e.compressedSize} compressed, beyond deflate's ${MAX_DEFLATE_RATIO}:1 (a decompression bomb or a damaged directory)`,
      );
    }
    try {
      // maxOutput is the declared size: a stream that would run past it stops there.
      out = inflateRaw(src.read(e.offset, e.compressedSize), { maxOutput: e.size, expectedSize: e.size, file });
    } catch (err) {
      if (err instanceof ResourceLimitError) throw new FormatError(`zip member '${name}' inflates to more than the ${e.size} bytes its directory records`, file);
      throw err;
    }
    if (out.length !== e.size) throw new FormatError(`zip member '${name}' inflates to ${out.length} bytes, its directory records ${e.size}`, file);
  }
  checkCrc(name, e, crc32(out), file);
  return out;
}

/**
 * The checkpoint inside the toolkit's wrapper zip: its name and bytes, or null when `bytes`
 * is not such a wrapper (not a zip, a torch.save archive, anything but one .pth/.pt file).
 * Damage is a FormatError and an oversized member a ResourceLimitError, each naming `file`.
 */
export function unwrapCheckpointZip(bytes: Uint8Array, file?: string, opts: UnwrapOptions = {}): { name: string; bytes: Uint8Array } | null {
  if (!isZip(bytes)) return null;
  const src = memorySource(bytes);
  const member = findWrappedCheckpoint(src, file);
  return member && { name: member.name, bytes: readWrappedMember(src, member, file, opts) };
}
