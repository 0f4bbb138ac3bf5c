// Element-wise programs: fill, unary maps, the strided walk shared by broadcasting binary
// ops and strided copies (contiguous(), cat), and the f32 ⇄ storage conversions of uploads
// and read-backs. One thread per output element.

import type { BinaryOp, UnaryOp } from '../../backend.js';
import { elementHead, type ElementType, type ProgramSpec } from '../program.js';

/** Dimensions a strided kernel walks; views are coalesced to fewer before this limit applies. */
export const MAX_RANK = 8;


/** Moves tensor elements without arithmetic: 'bits' for float tensors, 'u32' for int32. */
export type MoveType = Extract<ElementType, 'bits' | 'u32'>;

/** Fills with `p.bits`: a float's bits as stored (f32, or f16 in the low half), or an int32. */
export function fillProgram(wg: number, type: MoveType): ProgramSpec {
  return {
    key: `fill/${type}/${wg}`,
    params: [['n', 'u32'], ['bits', 'u32']],
    storage: [{ name: 't_y', type, write: true }],
    body: `${elementHead(wg)}  t_y[p.t_y_off + i] = ${type === 'bits' ? 'sb_of(p.bits)' : 'p.bits'};\n}`,
  };
}

/**
 * Float tensors between f32 and the storage type: 'store' converts f32 (an upload) into
 * storage, 'load' converts storage into f32 (for a read-back).
 */
export function convertProgram(direction: 'store' | 'load', wg: number): ProgramSpec {
  const store = direction === 'store';
  return {
    key: `convert/${direction}/${wg}`,
    params: [['n', 'u32']],
    storage: [{ name: 't_x', type: store ? 'f32' : 'float' }, { name: 't_y', type: store ? 'float' : 'f32', write: true }],
    body: `${elementHead(wg)}  t_y[p.t_y_off + i] = ${store ? 'SF' : 'f32'}(t_x[p.t_x_off + i]);\n}`,
  };
}

const UNARY: Record<UnaryOp, string> = {
  relu: 'select(v, 0.0, v <= 0.0 && !is_nan(v))',
  sigmoid: '1.0 / (1.0 + exp(-v))',
  exp: 'exp(v)',
  neg: '-v',
  sqrt: 'sqrt(v)',
  // 1/sqrt rather than inverseSqrt: the latter may be a low-precision approximation.
  rsqrt: '1.0 / sqrt(v)',
  addScalar: 'v + p.alpha',
  mulScalar: 'v * p.alpha',
};

export function unaryProgram(op: UnaryOp, wg: number): ProgramSpec {
  return {
    key: `unary/${op}/${wg}`,
    params: [['n', 'u32'], ['alpha', 'f32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `${elementHead(wg)}  let v = f32(t_x[p.t_x_off + i]);\n  t_y[p.t_y_off + i] = SF(${UNARY[op]});\n}`,
  };
}

const BINARY: Record<BinaryOp, string> = { add: 'a + b', sub: 'a - b', mul: 'a * b', div: 'a / b' };

/**
 * Index arithmetic of the strided walk, unrolled for one rank (a pipeline per rank): the
 * offsets of element i in each listed operand. Loops with dynamically indexed parameters
 * are several times slower on software adapters, and ranks are few after coalescing.
 */
function walk(names: string[], rank: number): string {
  const at = (v: string, d: number) => `p.${v}[${d >> 2}][${d & 3}]`;
  const lines = [`  var rest = i;`];
  for (let d = rank - 1; d >= 0; d--) {
    if (d > 0) {
      lines.push(`  let d${d} = rest % ${at('shape', d)};`, `  rest = rest / ${at('shape', d)};`);
    } else lines.push(`  let d0 = rest;`);
  }
  for (const n of names) {
    lines.push(`  let i_${n} = ${Array.from({ length: rank }, (_, d) => `d${d} * ${at(`s_${n}`, d)}`).join(' + ')};`);
  }
  return `${lines.join('\n')}\n`;
}

export function binaryProgram(op: BinaryOp, rank: number, wg: number): ProgramSpec {
  return {
    key: `binary/${op}/${rank}/${wg}`,
    params: [['shape', 'u32x8'], ['s_a', 'u32x8'], ['s_b', 'u32x8'], ['n', 'u32']],
    storage: [{ name: 't_a', type: 'float' }, { name: 't_b', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `${elementHead(wg)}${walk(['a', 'b'], rank)}  let a = f32(t_a[p.t_a_off + i_a]);
  let b = f32(t_b[p.t_b_off + i_b]);
  t_y[p.t_y_off + i] = SF(${BINARY[op]});\n}`,
  };
}

export function copyProgram(rank: number, wg: number, type: MoveType): ProgramSpec {
  return {
    key: `copy/${type}/${rank}/${wg}`,
    params: [['shape', 'u32x8'], ['s_x', 'u32x8'], ['s_y', 'u32x8'], ['n', 'u32']],
    storage: [{ name: 't_x', type }, { name: 't_y', type, write: true }],
    body: `${elementHead(wg)}${walk(['x', 'y'], rank)}  t_y[p.t_y_off + i_y] = t_x[p.t_x_off + i_x];\n}`,
  };
}
