// One entry point for weight files: picks the parser from the first bytes, not the file name.

import { FormatError } from '../errors.js';
import type { StateDict } from './raw.js';
import { isNpy } from './npy.js';
import { isSafetensors, loadSafetensors } from './safetensors.js';
import { loadTorch } from './torch.js';
import { isZip } from './zip.js';

export function loadCheckpoint(bytes: Uint8Array, file?: string): StateDict {
  if (isZip(bytes)) return loadTorch(bytes, file);
  // Before the pickle test: a header length such as 0x280 also starts with 0x80 0x02.
  if (isSafetensors(bytes)) return loadSafetensors(bytes, file);
  // Legacy torch.save: a protocol-2+ pickle whose first object is a LONG1 magic number.
  if (bytes.length >= 3 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return loadTorch(bytes, file);
  let hint = '';
  if (isNpy(bytes)) hint = ' (it is a single .npy array; use readNpy)';
  else if (bytes[0] === 0x1f && bytes[1] === 0x8b) hint = ' (it is gzip-compressed; decompress it first)';
  else if (bytes.length === 0) hint = ' (the file is empty)';
  throw new FormatError(`not a PyTorch checkpoint (.pth/.pt, zip or legacy format) or a safetensors file${hint}`, file);
}
