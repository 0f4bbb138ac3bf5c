// Random access to bytes: an in-memory buffer, or (Node) a file read piece by piece, so that a
// checkpoint's tensors can be copied into a model one at a time without holding the file.

export interface ByteSource {
  readonly size: number;
  /** Bytes [offset, offset + length); the caller has checked the range against `size`. */
  read(offset: number, length: number): Uint8Array;
}

export function memorySource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}
