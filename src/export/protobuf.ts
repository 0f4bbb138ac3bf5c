// A small protobuf encoder: exactly what writing ONNX needs (varints, 32-bit floats,
// length-delimited bytes, strings and nested messages, packed repeated fields). A message
// is a list of byte chunks; nesting one only prepends a header, so large payloads (tensor
// data) are copied once, when the finished message is flattened.

const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Len = 2,
  Fixed32 = 5,
}

const utf8 = new TextEncoder();
const TWO_64 = 1n << 64n;

export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  /** Small values (tags, varints, floats) waiting to become one chunk. */
  private pending: number[] = [];
  private flushed = 0;

  /** Encoded size in bytes so far. */
  get length(): number {
    return this.flushed + this.pending.length;
  }

  private tag(field: number, wire: Wire): void {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) throw new RangeError(`protobuf: bad field number ${field}`);
    this.rawVarint(field * 8 + wire);
  }

  /** A base-128 varint; negative numbers as 64-bit two's complement (ten bytes), as int64 requires. */
  private rawVarint(v: number | bigint): void {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new RangeError(`protobuf: ${v} is not a safe integer`);
      if (v >= 0 && v < 0x80000000) {
        while (v > 0x7f) {
          this.pending.push((v & 0x7f) | 0x80);
          v >>>= 7;
        }
        this.pending.push(v);
        return;
      }
      v = BigInt(v);
    }
    let u = v < 0n ? v + TWO_64 : v;
    if (u < 0n || u >= TWO_64) throw new RangeError(`protobuf: ${v} does not fit in 64 bits`);
    while (u > 0x7fn) {
      this.pending.push(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    this.pending.push(Number(u));
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.parts.push(Uint8Array.from(this.pending));
    this.flushed += this.pending.length;
    this.pending = [];
  }

  private chunk(bytes: Uint8Array): void {
    if (bytes.length < 64) {
      for (const b of bytes) this.pending.push(b);
      return;
    }
    this.flush();
    this.parts.push(bytes);
    this.flushed += bytes.length;
  }

  /** int32 / int64 / enum / bool field (wire type 0). */
  varint(field: number, value: number | bigint | boolean): this {
    this.tag(field, Wire.Varint);
    this.rawVarint(typeof value === 'boolean' ? (value ? 1 : 0) : value);
    return this;
  }

  /** float field (wire type 5, little-endian IEEE 754). */
  float(field: number, value: number): this {
    this.tag(field, Wire.Fixed32);
    const b = new Uint8Array(new Float32Array([value]).buffer);
    this.pending.push(b[0]!, b[1]!, b[2]!, b[3]!);
    return this;
  }

  /** double field (wire type 1). */
  double(field: number, value: number): this {
    this.tag(field, Wire.Fixed64);
    for (const b of new Uint8Array(new Float64Array([value]).buffer)) this.pending.push(b);
    return this;
  }

  /** bytes field; the array is referenced, not copied, until finish(). */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, Wire.Len);
    this.rawVarint(data.length);
    this.chunk(data);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /** An embedded message. */
  message(field: number, m: ProtoWriter): this {
    m.flush();
    this.tag(field, Wire.Len);
    this.rawVarint(m.flushed);
    this.flush();
    for (const p of m.parts) this.parts.push(p);
    this.flushed += m.flushed;
    return this;
  }

  /** A packed repeated varint field (int32/int64). */
  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.rawVarint(v);
    inner.flush();
    this.tag(field, Wire.Len);
    this.rawVarint(inner.flushed);
    for (const p of inner.parts) this.chunk(p);
    return this;
  }

  /** A packed repeated float field. */
  packedFloats(field: number, values: ArrayLike<number>): this {
    const f = Float32Array.from(values);
    return this.bytes(field, new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  }

  /** The encoded message as one array. */
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.flushed);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** Little-endian bytes of a typed array (a view when the platform is little-endian, as every JS engine in practice). */
export function littleEndianBytes(a: Float32Array | Int32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
