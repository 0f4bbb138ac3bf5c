// JPEG decoding through jpeg-js, fenced in: we walk the marker structure ourselves first, so
// that absurd dimensions are refused before jpeg-js allocates anything, truncated files are
// reported as such (jpeg-js would quietly fill the missing part with grey), and variants it
// cannot decode get a clear NotSupportedError. Whatever jpeg-js still throws becomes a typed
// error naming the file. Output is 8-bit RGB; grayscale is replicated to three channels.
//
// jpeg-js upsamples chroma by pixel replication and uses its own IDCT, so colours differ by
// a level or two from libjpeg (PIL); EXIF orientation is not applied (PIL does not either).

import jpeg from 'jpeg-js';
import { FormatError, NotSupportedError, ResourceLimitError } from '../../errors.js';
import { checkImageLimits, type DecodedImage, type ImageLimits } from './png.js';

export interface JpegOptions extends ImageLimits {
  /** jpeg-js's own budget for its working buffers (it needs roughly 10–14 bytes per pixel). Default 1024. */
  maxMemoryUsageInMB?: number;
}

export interface JpegInfo {
  width: number;
  height: number;
  components: number;
  progressive: boolean;
}

/** Most scans accepted in one image (progressive files use about 10). */
const MAX_SCANS = 500;

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xd8;
}

/**
 * Validates the marker structure from SOI to EOI and returns the frame header. Checks the
 * limits as soon as the frame header is read, before looking further.
 */
export function readJpegInfo(bytes: Uint8Array, file?: string, limits?: ImageLimits): JpegInfo {
  const n = bytes.length;
  if (n < 2 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new FormatError('not a JPEG image (no SOI marker)', file);
  let info: JpegInfo | undefined;
  let sawScan = false;
  let pos = 2;
  // Frame components (id → sampling factors), and the number and size of the scans.
  const sampling = new Map<number, [number, number]>();
  let scans = 0;
  let scanBytes = 0;
  for (;;) {
    // Like libjpeg, skip stray bytes before a marker and any 0xFF fill bytes.
    while (pos < n && bytes[pos] !== 0xff) pos++;
    while (pos < n && bytes[pos] === 0xff) pos++;
    if (pos >= n) throw new FormatError('truncated JPEG (no EOI marker)', file);
    const marker = bytes[pos++]!;
    if (marker === 0xd9) break; // EOI
    if (marker === 0xd8) throw new FormatError('corrupt JPEG (second SOI marker)', file);
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // no payload
    if (pos + 2 > n) throw new FormatError('truncated JPEG (marker segment cut off)', file);
    const len = (bytes[pos]! << 8) | bytes[pos + 1]!;
    if (len < 2) throw new FormatError(`corrupt JPEG (segment length ${len} at byte ${pos})`, file);
    if (pos + len > n) throw new FormatError('truncated JPEG (marker segment cut off)', file);
    const seg = pos + 2;
    pos += len;

    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (marker !== 0xc0 && marker !== 0xc1 && marker !== 0xc2) {
        const kind = marker === 0xc3 || marker === 0xcb ? 'lossless' : marker & 8 ? 'arithmetic-coded' : 'hierarchical';
        throw new NotSupportedError(`${file ? `${file}: ` : ''}${kind} JPEG (SOF${marker - 0xc0}) is not supported`);
      }
      if (info) throw new FormatError('corrupt JPEG (more than one frame header)', file);
      if (len < 8) throw new FormatError('corrupt JPEG (short frame header)', file);
      const precision = bytes[seg]!;
      const height = (bytes[seg + 1]! << 8) | bytes[seg + 2]!;
      const width = (bytes[seg + 3]! << 8) | bytes[seg + 4]!;
      const components = bytes[seg + 5]!;
      if (len !== 8 + 3 * components) throw new FormatError('corrupt JPEG (frame header length does not match its components)', file);
      if (precision !== 8) throw new NotSupportedError(`${file ? `${file}: ` : ''}${precision}-bit JPEG is not supported`);
      if (width === 0) throw new FormatError('corrupt JPEG (width 0)', file);
      if (height === 0) throw new NotSupportedError(`${file ? `${file}: ` : ''}JPEG with the height in a DNL marker is not supported`);
      if (components !== 1 && components !== 3 && components !== 4) {
        throw new NotSupportedError(`${file ? `${file}: ` : ''}JPEG with ${components} colour components is not supported`);
      }
      for (let c = 0; c < components; c++) {
        const hv = bytes[seg + 7 + 3 * c]!;
        const h = hv >> 4;
        const v = hv & 15;
        if (h < 1 || h > 4 || v < 1 || v > 4) throw new FormatError('corrupt JPEG (invalid sampling factor)', file);
        sampling.set(bytes[seg + 6 + 3 * c]!, [h, v]);
      }
      checkImageLimits(width, height, 'JPEG', file, limits);
      info = { width, height, components, progressive: marker === 0xc2 };
    } else if (marker === 0xda) {
      if (!info) throw new FormatError('corrupt JPEG (scan before frame header)', file);
      sawScan = true;
      if (++scans > MAX_SCANS) {
        // Each scan is a pass over the whole image in the decoder, and a progressive scan can
        // cover every block in a few bytes: the cap bounds the work (libjpeg-turbo has a similar limit).
        throw new ResourceLimitError(`${file ? `${file}: ` : ''}JPEG has more than ${MAX_SCANS} scans`);
      }
      const dataStart = pos;
      // Entropy-coded data runs to the next marker other than a stuffed 0xFF00 or RSTn.
      for (;;) {
        const ff = bytes.indexOf(0xff, pos);
        if (ff < 0 || ff + 1 >= n) throw new FormatError('truncated JPEG (scan data cut off)', file);
        const next = bytes[ff + 1]!;
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) {
          pos = ff + (next === 0xff ? 1 : 2);
          continue;
        }
        pos = ff;
        break;
      }
      scanBytes += pos - dataStart;
    }
  }
  if (!info) throw new FormatError('corrupt JPEG (no frame header)', file);
  if (!sawScan) throw new FormatError('corrupt JPEG (no image data)', file);
  // Every 8×8 block of a component costs at least one bit (its DC code) in the first scan
  // that codes the component, so scan data shorter than that cannot be a whole image: a few
  // hundred bytes declaring 9000×9000 would otherwise have jpeg-js allocate and fill
  // hundreds of megabytes with grey before anything noticed.
  let hmax = 1, vmax = 1;
  for (const [h, v] of sampling.values()) {
    hmax = Math.max(hmax, h);
    vmax = Math.max(vmax, v);
  }
  // Every frame component counts, scanned or not: jpeg-js allocates them all at the frame header.
  let blocks = 0;
  for (const hv of sampling.values()) {
    const bw = Math.ceil(Math.ceil((info.width * hv[0]) / hmax) / 8);
    const bh = Math.ceil(Math.ceil((info.height * hv[1]) / vmax) / 8);
    blocks = Math.max(blocks, bw * bh);
  }
  if (scanBytes * 8 < blocks) {
    throw new FormatError(
      `truncated JPEG (${scanBytes} bytes of scan data cannot hold the ${blocks} blocks of a ${info.width}×${info.height} image)`,
      file,
    );
  }
  return info;
}

export function decodeJpeg(bytes: Uint8Array, file?: string, opts?: JpegOptions): DecodedImage {
  const info = readJpegInfo(bytes, file, opts);
  const where = file ? `${file}: ` : '';
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      // The limits were already checked exactly; this is only jpeg-js's own backstop.
      maxResolutionInMP: Math.max(1, Math.ceil((info.width * info.height) / 1e6)),
      maxMemoryUsageInMB: opts?.maxMemoryUsageInMB ?? 1024,
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/maxMemoryUsageInMB|maxResolutionInMP|allocate enough memory|allocation failed/.test(msg)) {
      throw new ResourceLimitError(`${where}JPEG decoding needs more memory than allowed: ${msg} (raise maxMemoryUsageInMB)`);
    }
    if (/Unsupported color mode/.test(msg)) throw new NotSupportedError(`${where}JPEG colour mode is not supported: ${msg}`);
    throw new FormatError(`corrupt JPEG (${msg})`, file);
  }
  if (img.width !== info.width || img.height !== info.height || img.data.length !== img.width * img.height * 3) {
    throw new FormatError('corrupt JPEG (decoder output does not match the frame header)', file);
  }
  return { width: img.width, height: img.height, channels: 3, data: img.data };
}
