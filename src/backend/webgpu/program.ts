// A compute program: WGSL text plus the layout of its uniform parameters and storage
// bindings, declared once so that the WGSL struct and the bytes packed for it can never
// disagree. Every storage binding gets a `<name>_off` parameter: the element offset of the
// tensor inside the window that is actually bound (binding offsets need 256-byte alignment,
// element offsets do not).

export type ParamType = 'u32' | 'i32' | 'f32' | 'u32x8';

export interface StorageDecl {
  name: string;
  /** Element type as the shader sees it; u32 moves float32 and int32 bits alike. */
  type: 'f32' | 'u32';
  write?: boolean;
}

export interface ProgramSpec {
  /** Cache key: equal keys must mean equal WGSL. */
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

export function wgslOf(spec: ProgramSpec): string {
  const params = allParams(spec);
  const lines = ['struct Params {', ...params.map(([n, t]) => `  ${n}: ${WGSL_TYPE[t]},`), '}',
    '@group(0) @binding(0) var<uniform> p: Params;'];
  spec.storage.forEach((s, i) => {
    lines.push(`@group(0) @binding(${i + 1}) var<storage, ${s.write ? 'read_write' : 'read'}> ${s.name}: array<${s.type}>;`);
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

const made = new Map<string, ProgramSpec>();

/** Builds a program's text once per key: generators run on every dispatch. */
export function memo(key: string, make: () => Omit<ProgramSpec, 'key'>): ProgramSpec {
  let spec = made.get(key);
  if (!spec) made.set(key, (spec = { key, ...make() }));
  return spec;
}
