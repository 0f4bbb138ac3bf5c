// A Winograd convolution's tasks, for either tile: F(2×2, 3×3) (winograd.ts) or F(4×4, 3×3)
// (winograd4.ts), which differ in their transforms and their number of products ξ. Per task:
// the input's transform V (packed for the micro-kernel), the weights' U (the call's, or the
// task's own), the ξ GEMMs M[ξ] = U[ξ] · V[ξ], and the output transform with the epilogue.

import { claim, partStart } from './tasks';
import { micro, NR } from './gemm';
import { transformInput, transformKernels, outputTiles2, planeBytes, TB, OC, TASK_U, MAX_CG } from './winograd';
import { transformInput4, transformKernels4, outputTiles4, TB4 } from './winograd4';
import { Conv2dArg, WinogradWeightsArg, WINOGRAD_PLANE_PAD } from '../src/backend/wasm/ids';
import { arg } from './args';

/**
 * The conv2d argument block (see conv.ts) with slot WinogradWeights = U from the
 * WinogradWeights kernel, or with slot WinogradInTask = 1 (2: flipped, as that kernel's flip)
 * each task transforms its own chunk's weights from slot W into its scratch: on small maps
 * (one tile block) no chunk is transformed twice, and the transform is read from cache rather
 * than memory. Slot WinogradF4 picks the tile.
 */
/**
 * U[g][ξ][o][c] = (G g Gᵀ)[ξ] for every output channel o (all groups), split over threads;
 * each (g, ξ) plane is og·cg floats and WINOGRAD_PLANE_PAD more. With slot Flip, w holds the
 * weights of the conv whose input gradient this conv computes (see transformKernels); slot
 * F4 picks the tile.
 */
export function winogradWeights(args: usize, tid: i32, nth: i32): void {
  const w = <usize>arg(args, WinogradWeightsArg.W), u = <usize>arg(args, WinogradWeightsArg.U), o = arg(args, WinogradWeightsArg.O);
  const cg = arg(args, WinogradWeightsArg.Cg), groups = arg(args, WinogradWeightsArg.Groups), flip = arg(args, WinogradWeightsArg.Flip) != 0;
  const f4 = arg(args, WinogradWeightsArg.F4) != 0;
  const og = o / groups;
  const xi = planeBytes(og * cg);
  for (let oc = tid; oc < o; oc += nth) {
    const g = oc / og, oo = oc - g * og;
    if (f4) transformKernels4(w, flip, og, cg, g, oo, u + <usize>(g * 36) * xi + <usize>(oo * cg) * 4, xi);
    else transformKernels(w, flip, og, cg, g, oo, u + <usize>(g * 16) * xi + <usize>(oo * cg) * 4, xi);
  }
}

export function winogradConv(args: usize, tid: i32, nth: i32): void {
  if (arg(args, Conv2dArg.WinogradF4) != 0) tasks(args, tid, nth, true);
  else tasks(args, tid, nth, false);
}

@inline function tasks(args: usize, tid: i32, nth: i32, f4: bool): void {
  const x = <usize>arg(args, Conv2dArg.X), bias = <usize>arg(args, Conv2dArg.Bias), res = <usize>arg(args, Conv2dArg.Residual), out = <usize>arg(args, Conv2dArg.Out);
  const n = arg(args, Conv2dArg.N), c = arg(args, Conv2dArg.C), h = arg(args, Conv2dArg.H), w = arg(args, Conv2dArg.Wd), o = arg(args, Conv2dArg.O);
  const ph = arg(args, Conv2dArg.PadH), pw = arg(args, Conv2dArg.PadW), groups = arg(args, Conv2dArg.Groups), oh = arg(args, Conv2dArg.Oh), ow = arg(args, Conv2dArg.Ow);
  const act = arg(args, Conv2dArg.Act);
  const scratch = <usize>arg(args, Conv2dArg.Scratch) + <usize>(tid * arg(args, Conv2dArg.ScratchStride));
  const u = <usize>arg(args, Conv2dArg.WinogradWeights), fac = <usize>arg(args, Conv2dArg.Factor);
  const inTask = arg(args, Conv2dArg.WinogradInTask) != 0, flip = arg(args, Conv2dArg.WinogradInTask) == 2, wt = <usize>arg(args, Conv2dArg.W);
  const cg = c / groups, og = o / groups;
  const xis = f4 ? 36 : 16, tb = f4 ? TB4 : TB;
  const tilesY = f4 ? (oh + 3) >> 2 : (oh + 1) >> 1, tilesX = f4 ? (ow + 3) >> 2 : (ow + 1) >> 1, T = tilesY * tilesX;
  // Tiles run over (image, tile) of the whole batch: small maps (a 4×4 map has 4 2×2 tiles) of
  // several images share one block, so each U row is streamed once per block, not per image.
  const TT = n * T;
  // Tile blocks of even sizes (partStart: whole panels of NR tiles but the last, at most tb),
  // so threads get equal shares.
  const tBlocks = (TT + tb - 1) / tb;
  // Tasks: (tile block, group, output-channel chunk). With threads, chunks shrink (to 32
  // channels) until there are four tasks a thread, so that a thread slowed down elsewhere
  // holds up little: a thread transforms each tile block's input once, whatever the chunks.
  let chunk = !inTask ? OC : f4 ? min(OC, ((TASK_U - xis * WINOGRAD_PLANE_PAD) / (xis * cg)) & ~3) : min(OC, (TASK_U / (16 * cg)) & ~3);
  while (nth > 1 && chunk > 32 && groups * tBlocks * ((og + chunk - 1) / chunk) < 4 * nth) chunk >>= 1;
  const chunks = (og + chunk - 1) / chunk;
  const total = groups * tBlocks * chunks;
  // Scratch: V (xis planes of MAX_CG·tb), M (xis of OC·tb), a task's own U, F(4×4)'s buffer.
  const v = scratch, m = v + <usize>xis * planeBytes(MAX_CG * tb), uTask = m + <usize>xis * planeBytes(OC * tb);
  const tmp = uTask + <usize>TASK_U * 4;
  const imgStride = c * h * w;
  let lastV = -1;
  for (let task = claim(args, tid, nth, total); task < total; task = claim(args, tid, nth, total, task)) {
    // Tile blocks outermost, as the GEMM's column blocks (conv.ts).
    const ch = task % chunks;
    const key = task / chunks;
    const g = key % groups;
    const block = key / groups;
    const t0 = partStart(block, TT, tBlocks, NR), tn = partStart(block + 1, TT, tBlocks, NR) - t0;
    if (tn <= 0) continue;
    const panels = (tn + NR - 1) / NR;
    const vXi = planeBytes(panels * cg * NR), mXi = planeBytes(OC * panels * NR);
    if (key != lastV) {
      const xg = x + <usize>(g * cg * h * w) * 4;
      if (f4) transformInput4(xg, imgStride, T, cg, h, w, ph, pw, tilesX, t0, tn, v, vXi, tmp);
      else transformInput(xg, imgStride, T, cg, h, w, ph, pw, tilesX, t0, tn, v, vXi);
      lastV = key;
    }
    const o0 = ch * chunk, on = min(chunk, og - o0);
    // U's ξ planes: this task's own transform, or the call's (all output channels of the group).
    const uXi = inTask ? planeBytes(on * cg) : planeBytes(og * cg);
    const u0 = inTask ? uTask : u + <usize>(g * xis) * uXi + <usize>(o0 * cg) * 4;
    if (inTask) {
      for (let r = 0; r < on; r++) {
        if (f4) transformKernels4(wt, flip, og, cg, g, o0 + r, uTask + <usize>(r * cg) * 4, uXi);
        else transformKernels(wt, flip, og, cg, g, o0 + r, uTask + <usize>(r * cg) * 4, uXi);
      }
    }
    // M[ξ][o][t] = U[g][ξ][o][:] · V[ξ][:][t]: xis GEMMs of on × cg × (8·panels).
    const ldm = <usize>(panels * NR) * 4;
    for (let xi = 0; xi < xis; xi++) {
      const uRows = u0 + <usize>xi * uXi;
      const vPanels = v + <usize>xi * vXi;
      const mRows = m + <usize>xi * mXi;
      for (let r = 0; r < on; r += 4) {
        for (let p = 0; p < panels; p++) {
          micro(cg, uRows + <usize>(r * cg) * 4, <usize>cg * 4, min(4, on - r), vPanels + <usize>(p * cg * NR) * 4,
            mRows + <usize>r * ldm + <usize>p * 32, ldm, NR, false, false, 0, 0, 0);
        }
      }
    }
    if (f4) outputTiles4(m, mXi, ldm, t0, tn, T, tilesX, o, oh, ow, g * og + o0, on, out, res, fac, bias, act, tmp);
    else outputTiles2(m, mXi, ldm, t0, tn, T, tilesX, o, oh, ow, g * og + o0, on, out, res, fac, bias, act);
  }
}
