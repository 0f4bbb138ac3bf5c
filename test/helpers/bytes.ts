// Byte-level helpers shared by the format tests and the fuzzer (no dependencies, so the
// fuzz runner loads nothing else).

/** The parts one after another in a new array; number arrays are taken as bytes. */
export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
