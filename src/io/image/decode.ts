// Entry point for image bytes: sniff the format from the magic bytes, never the file name.

import { FormatError } from '../../errors.js';
import { decodeJpeg, isJpeg, type JpegOptions } from './jpeg.js';
import { decodePng, isPng, type DecodedImage } from './png.js';

export type { DecodedImage, ImageLimits } from './png.js';
export { DEFAULT_MAX_DIMENSION, DEFAULT_MAX_PIXELS } from './png.js';

/** Size limits (checked against the header before decoding) and jpeg-js's memory budget. */
export type DecodeOptions = JpegOptions;

/** Decodes a PNG or JPEG to 8-bit RGB. `file` only names the source in error messages. */
export function decodeImage(bytes: Uint8Array, file?: string, opts?: DecodeOptions): DecodedImage {
  if (isPng(bytes)) return decodePng(bytes, file, opts);
  if (isJpeg(bytes)) return decodeJpeg(bytes, file, opts);
  throw new FormatError('not a PNG or JPEG image', file);
}
