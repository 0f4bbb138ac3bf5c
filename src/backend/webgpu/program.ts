// A compute program: WGSL text plus the layout of its uniform parameters and storage
// bindings, declared once so that the WGSL struct and the bytes packed for it can never
// disagree. Every storage binding gets a `<name>_off` parameter: the element offset of the
// tensor inside the window that is actually bound (binding offsets need 256-byte alignment,
// element offsets do not).
//
// Float tensors are stored as f32, or as f16 where the backend was created with `f16: true`
// (shader-f16). That choice is made here, in the declarations, and nowhere else: kernel
// bodies are written once against the alias `SF` (the storage float type), read with
// `f32(t_x[i])`, compute in f32 and write `t_y[i] = SF(v)`. With f32 storage these are
// identity conversions and the kernels are the f32 kernels.

export type ParamType = 'u32' | 'i32' | 'f32' | 'u32x8';

/** How float tensors are stored in GPU buffers. */
export type FloatStorage = 'f32' | 'f16';

/**
 * Element type of a storage binding:
 * - 'float': a float tensor in the storage type (`array<SF>`), converted to f32 by the kernel;
 * - 'bits': a float tensor moved without arithmetic (copies, fills): u32 words with f32
 *   storage, so that every bit pattern survives, f16 with f16 storage;
 * - 'u32': 32-bit words (int32 tensors);
 * - 'f32': always f32, whatever the storage (the staging side of conversions).
 */
export type ElementType = 'float' | 'bits' | 'u32' | 'f32';

export interface StorageDecl {
  name: string;
  type: ElementType;
  write?: boolean;
}

/** Bytes per element of a binding of this type. */
export function elementBytes(type: ElementType, storage: FloatStorage): number {
  return (type === 'float' || type === 'bits') && storage === 'f16' ? 2 : 4;
}

function wgslElement(type: ElementType, storage: FloatStorage): string {
  if (type === 'float') return 'SF';
  if (type === 'bits') return 'SB';
  return type;
}

export interface ProgramSpec {
  /** Cache key: equal keys must mean equal WGSL (for one storage type; wgslOf adds the declarations). */
  key: string;
  params: [string, ParamType][];
  storage: StorageDecl[];
  /** WGSL after the declarations: helpers and the entry point `main`. */
  body: string;
}

export interface Layout {
  offsets: Map<string, number>;
  types: Map<string, ParamType>;
  size: number;
}

const ALIGN: Record<ParamType, number> = { u32: 4, i32: 4, f32: 4, u32x8: 16 };
const SIZE: Record<ParamType, number> = { u32: 4, i32: 4, f32: 4, u32x8: 32 };
const WGSL_TYPE: Record<ParamType, string> = { u32: 'u32', i32: 'i32', f32: 'f32', u32x8: 'array<vec4<u32>, 2>' };

export function allParams(spec: ProgramSpec): [string, ParamType][] {
  return [...spec.params, ...spec.storage.map((s) => [`${s.name}_off`, 'u32'] as [string, ParamType])];
}

/** WGSL's uniform layout rules for the scalar and vec4-array members used here. */
export function layoutOf(params: [string, ParamType][]): Layout {
  const offsets = new Map<string, number>(), types = new Map<string, ParamType>();
  let at = 0;
  for (const [name, type] of params) {
    at = Math.ceil(at / ALIGN[type]) * ALIGN[type];
    offsets.set(name, at);
    types.set(name, type);
    at += SIZE[type];
  }
  return { offsets, types, size: Math.max(16, Math.ceil(at / 16) * 16) };
}

export function wgslOf(spec: ProgramSpec, storage: FloatStorage): string {
  const params = allParams(spec);
  // SF: a float tensor's element; SB: the same moved as bits; sb_of: a fill value's bits
  // (f32 bits, or f16 bits in the low half) as an SB (unpack2x16float is exact on f16 bits;
  // naga, Deno's compiler, has no bitcast from u32 to vec2<f16>).
  const lines = storage === 'f16'
    ? ['enable f16;', 'alias SF = f16;', 'alias SB = f16;', 'fn sb_of(b: u32) -> SB { return SB(unpack2x16float(b).x); }']
    : ['alias SF = f32;', 'alias SB = u32;', 'fn sb_of(b: u32) -> SB { return b; }'];
  lines.push('struct Params {', ...params.map(([n, t]) => `  ${n}: ${WGSL_TYPE[t]},`), '}',
    '@group(0) @binding(0) var<uniform> p: Params;');
  spec.storage.forEach((s, i) => {
    lines.push(`@group(0) @binding(${i + 1}) var<storage, ${s.write ? 'read_write' : 'read'}> ${s.name}: array<${wgslElement(s.type, storage)}>;`);
  });
  lines.push(
    '// Workgroups are laid out over up to three grid dimensions (each is capped by the adapter).',
    'fn flat_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + nwg.x * (wid.y + nwg.y * wid.z); }',
    '// NaN by its bits: shader compilers may assume no NaNs and fold v != v or v <= 0.0.',
    'fn is_nan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }',
  );
  return `${lines.join('\n')}\n${spec.body}`;
}

/** Packs parameter values into `dst` (a uniform slot) following `layout`. */
export function packParams(layout: Layout, values: Record<string, number | readonly number[]>, dst: DataView): void {
  for (const [name, off] of layout.offsets) {
    const v = values[name];
    if (v === undefined) throw new Error(`webgpu: parameter '${name}' has no value`);
    const type = layout.types.get(name)!;
    if (type === 'u32x8') {
      const arr = v as readonly number[];
      for (let i = 0; i < 8; i++) dst.setUint32(off + 4 * i, arr[i] ?? 0, true);
    } else if (type === 'f32') dst.setFloat32(off, v as number, true);
    else if (type === 'i32') dst.setInt32(off, v as number, true);
    else dst.setUint32(off, v as number, true);
  }
}

/** WGSL for an activation applied to `v`. */
export function activationWgsl(act: string): string {
  if (act === 'relu') return 'select(v, 0.0, v <= 0.0 && !is_nan(v))'; // NaN stays NaN, as in PyTorch
  if (act === 'sigmoid') return '1.0 / (1.0 + exp(-v))';
  return 'v';
}

export const ENTRY = '@compute @workgroup_size(WG) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32)';

/** The opening of a one-thread-per-element kernel: its entry point, element i, and the bounds check on p.n. */
export const elementHead = (wg: number) => `const WG = ${wg}u;\n${ENTRY} {\n  let i = flat_id(wid, nwg) * WG + lid;\n  if (i >= p.n) { return; }\n`;

const made = new Map<string, ProgramSpec>();

/** Builds a program's text once per key: generators run on every dispatch. */
export function memo(key: string, make: () => Omit<ProgramSpec, 'key'>): ProgramSpec {
  let spec = made.get(key);
  if (!spec) made.set(key, (spec = { key, ...make() }));
  return spec;
}
