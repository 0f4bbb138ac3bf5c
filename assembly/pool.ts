// Pooling over [planes, h, w] with PyTorch's window rules (see src/backend/js/pool.ts, the
// reference). Interior windows of stride-1 and stride-2 pools run four outputs per step;
// windows touching the border take the scalar path. Forward pools split output rows across
// threads (all planes of them), the backward passes planes.

import { loadPartial } from './simd';
import { claim, partStart, planesPerTask, PIXEL_SPLIT_MIN } from './tasks';
import { arg } from './args';
import { PoolArg, RowsArg, MaxPoolBackwardArg } from '../src/backend/wasm/ids';

/** Four consecutive outputs' tap t: inputs at s·j + t for j = 0..3 (s = 1 or 2). */
@inline function taps(p: usize, s: i32): v128 {
  if (s == 1) return v128.load(p);
  return v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
}

/**
 * One output row of a pool. `isMax` and `s` (the horizontal stride when it is 1 or 2, else
 * 0) are literals at every call site, so after inlining each variant is branch-free inside
 * its loops. Max uses pmax (one instruction) and tracks NaN separately, because PyTorch's
 * max pool returns NaN when a window holds one.
 */
@inline function poolRow(isMax: bool, s: i32, base: usize, o: usize, w: i32, h: i32, kw: i32, sw: i32, pw: i32,
  ow: i32, ys: i32, ye: i32, y0: i32, y1: i32, xa: i32, xb: i32, includePad: bool): void {
  let ox = 0;
  while (ox < ow) {
    if (s != 0 && ox >= xa && ox + 3 <= xb && ox + 3 < ow) {
      const xs = ox * sw - pw;
      let acc = isMax ? f32x4.splat(-Infinity) : f32x4.splat(0);
      let nan = f32x4.splat(0);
      for (let iy = y0; iy < y1; iy++) {
        const row = base + <usize>(iy * w + xs) * 4;
        for (let t = 0; t < kw; t++) {
          const v = taps(row + <usize>t * 4, s);
          if (isMax) {
            acc = f32x4.pmax(acc, v);
            nan = v128.or(nan, f32x4.ne(v, v));
          } else {
            acc = f32x4.add(acc, v);
          }
        }
      }
      if (isMax) acc = v128.bitselect(f32x4.splat(NaN), acc, nan);
      else acc = f32x4.div(acc, f32x4.splat(<f32>(includePad ? (ye - ys) * kw : (y1 - y0) * kw)));
      v128.store(o + <usize>ox * 4, acc);
      ox += 4;
      continue;
    }
    const xs = ox * sw - pw, xe = min(xs + kw, w + pw);
    const x0 = max(xs, 0), x1 = min(xe, w);
    let acc: f32 = isMax ? -Infinity : 0;
    for (let iy = y0; iy < y1; iy++) {
      for (let ix = x0; ix < x1; ix++) {
        const v = load<f32>(base + <usize>(iy * w + ix) * 4);
        if (isMax) {
          if (v > acc || v != v) acc = v;
        } else acc += v;
      }
    }
    if (!isMax) acc /= <f32>(includePad ? (ye - ys) * (xe - xs) : (y1 - y0) * (x1 - x0));
    store<f32>(o + <usize>ox * 4, acc);
    ox++;
  }
}

/** Planes a task takes where tasks are planes (tasks.ts): runs of at least 1024 input floats. */
const MIN_TASK_FLOATS: i32 = 1024;

function pool(args: usize, tid: i32, nth: i32, isMax: bool): void {
  const x = <usize>arg(args, PoolArg.X), out = <usize>arg(args, PoolArg.Out);
  const planes = arg(args, PoolArg.Planes), h = arg(args, PoolArg.H), w = arg(args, PoolArg.W), kh = arg(args, PoolArg.Kh), kw = arg(args, PoolArg.Kw);
  const sh = arg(args, PoolArg.StrideH), sw = arg(args, PoolArg.StrideW), ph = arg(args, PoolArg.PadH), pw = arg(args, PoolArg.PadW);
  const oh = arg(args, PoolArg.Oh), ow = arg(args, PoolArg.Ow), includePad = arg(args, PoolArg.CountIncludePad) != 0, images = max(1, arg(args, PoolArg.Images));
  // Output columns whose whole window lies inside the row: ox·sw − pw ≥ 0 and ox·sw − pw + kw ≤ w.
  const xa = (pw + sw - 1) / sw;
  const xb = w - kw + pw >= 0 ? (w - kw + pw) / sw : -1;
  // Tasks on large maps: (image, block of output rows), every plane of the image, so that a
  // thread's tasks cover contiguous pixels as the convs' do (tasks.ts), about four a thread;
  // on small maps, planes (contiguous ones a thread, as the convs there split channels).
  if (nth > 1 && h * w < PIXEL_SPLIT_MIN) {
    const per = planesPerTask(h * w, MIN_TASK_FLOATS), blocks = (planes + per - 1) / per;
    for (let b = claim(args, tid, nth, blocks); b < blocks; b = claim(args, tid, nth, blocks, b)) {
      poolPlanes(x, out, b * per, min(planes, (b + 1) * per), h, w, kh, kw, sh, sw, ph, pw, oh, ow, 0, oh, xa, xb, includePad, isMax);
    }
    return;
  }
  const perImage = planes / images;
  const blocks = nth > 1 ? min(oh, max(1, (4 * nth + images - 1) / images)) : 1;
  const total = images * blocks;
  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    const b = t / blocks, rb = t - b * blocks;
    poolPlanes(x, out, b * perImage, (b + 1) * perImage, h, w, kh, kw, sh, sw, ph, pw, oh, ow,
      partStart(rb, oh, blocks, 1), partStart(rb + 1, oh, blocks, 1), xa, xb, includePad, isMax);
  }
}

/** Output rows [oy0, oy1) of planes [p0, p1). */
@inline function poolPlanes(x: usize, out: usize, p0: i32, p1: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  oh: i32, ow: i32, oy0: i32, oy1: i32, xa: i32, xb: i32, includePad: bool, isMax: bool): void {
  for (let pl = p0; pl < p1; pl++) {
    const base = x + <usize>(pl * h * w) * 4;
    const o = out + <usize>(pl * oh * ow) * 4;
    for (let oy = oy0; oy < oy1; oy++) {
      const ys = oy * sh - ph, ye = min(ys + kh, h + ph);
      const y0 = max(ys, 0), y1 = min(ye, h);
      const row = o + <usize>(oy * ow) * 4;
      if (isMax) {
        if (sw == 1) poolRow(true, 1, base, row, w, h, kw, sw, pw, ow, ys, ye, y0, y1, xa, xb, includePad);
        else if (sw == 2) poolRow(true, 2, base, row, w, h, kw, sw, pw, ow, ys, ye, y0, y1, xa, xb, includePad);
        else poolRow(true, 0, base, row, w, h, kw, sw, pw, ow, ys, ye, y0, y1, xa, xb, includePad);
      } else {
        if (sw == 1) poolRow(false, 1, base, row, w, h, kw, sw, pw, ow, ys, ye, y0, y1, xa, xb, includePad);
        else if (sw == 2) poolRow(false, 2, base, row, w, h, kw, sw, pw, ow, ys, ye, y0, y1, xa, xb, includePad);
        else poolRow(false, 0, base, row, w, h, kw, sw, pw, ow, ys, ye, y0, y1, xa, xb, includePad);
      }
    }
  }
}

export function maxPool2d(args: usize, tid: i32, nth: i32): void {
  pool(args, tid, nth, true);
}

export function avgPool2d(args: usize, tid: i32, nth: i32): void {
  pool(args, tid, nth, false);
}

/** out[r] = mean of row r (hw values), rows split across threads. */
export function meanRows(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, RowsArg.X), out = <usize>arg(args, RowsArg.Out), rows = arg(args, RowsArg.Rows), hw = arg(args, RowsArg.Cols);
  for (let r = tid; r < rows; r += nth) {
    store<f32>(out + <usize>r * 4, rowSum(x + <usize>(r * hw) * 4, hw) / <f32>hw);
  }
}

export function rowSum(p: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 = f32x4.add(a0, v128.load(p + <usize>i * 4));
    a1 = f32x4.add(a1, v128.load(p + <usize>i * 4, 16));
  }
  if (i + 4 <= n) {
    a0 = f32x4.add(a0, v128.load(p + <usize>i * 4));
    i += 4;
  }
  a0 = f32x4.add(a0, f32x4.add(a1, loadPartial(p + <usize>i * 4, n - i)));
  return f32x4.extract_lane(a0, 0) + f32x4.extract_lane(a0, 1) + f32x4.extract_lane(a0, 2) + f32x4.extract_lane(a0, 3);
}

/**
 * Max pool's gradient: each dy to the first maximum of its window in row-major order (a NaN
 * wins, as in PyTorch's CPU kernel), overlapping windows adding up; planes split over
 * threads, each zeroing and filling its own dx planes. Interior windows of stride-1 and
 * stride-2 pools find the maxima of four outputs at once (values and indices per lane); the
 * adds then go out one by one, in output order.
 */
export function maxPool2dBackward(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, MaxPoolBackwardArg.X), dy = <usize>arg(args, MaxPoolBackwardArg.Dy), dx = <usize>arg(args, MaxPoolBackwardArg.Dx);
  const planes = arg(args, MaxPoolBackwardArg.Planes), h = arg(args, MaxPoolBackwardArg.H), w = arg(args, MaxPoolBackwardArg.W);
  const kh = arg(args, MaxPoolBackwardArg.Kh), kw = arg(args, MaxPoolBackwardArg.Kw);
  const sh = arg(args, MaxPoolBackwardArg.StrideH), sw = arg(args, MaxPoolBackwardArg.StrideW), ph = arg(args, MaxPoolBackwardArg.PadH), pw = arg(args, MaxPoolBackwardArg.PadW);
  const oh = arg(args, MaxPoolBackwardArg.Oh), ow = arg(args, MaxPoolBackwardArg.Ow);
  const xa = (pw + sw - 1) / sw;
  const xb = w - kw + pw >= 0 ? (w - kw + pw) / sw : -1;
  const lanes = i32x4(0, sw, 2 * sw, 3 * sw);
  const per = planesPerTask(h * w, MIN_TASK_FLOATS), blocks = (planes + per - 1) / per;
  for (let bl = claim(args, tid, nth, blocks); bl < blocks; bl = claim(args, tid, nth, blocks, bl)) {
    const p0 = bl * per, p1 = min(planes, p0 + per);
    memory.fill(dx + <usize>(p0 * h * w) * 4, 0, <usize>((p1 - p0) * h * w) * 4);
    for (let pl = p0; pl < p1; pl++) {
      const base = x + <usize>(pl * h * w) * 4, g = dy + <usize>(pl * oh * ow) * 4, d = dx + <usize>(pl * h * w) * 4;
      for (let oy = 0; oy < oh; oy++) {
        const y0 = max(oy * sh - ph, 0), y1 = min(oy * sh - ph + kh, h);
        const gr = g + <usize>(oy * ow) * 4;
        let ox = 0;
        while (ox < ow) {
          if ((sw == 1 || sw == 2) && ox >= xa && ox + 3 <= xb && ox + 3 < ow && y1 > y0) {
            const xs = ox * sw - pw;
            let m = f32x4.splat(-Infinity);
            let idx = i32x4.add(i32x4.splat(y0 * w + xs), lanes);
            for (let iy = y0; iy < y1; iy++) {
              const row = base + <usize>(iy * w + xs) * 4;
              for (let t = 0; t < kw; t++) {
                const v = sw == 1 ? v128.load(row + <usize>t * 4) : taps(row + <usize>t * 4, 2);
                const take = v128.or(f32x4.gt(v, m), f32x4.ne(v, v));
                m = v128.bitselect(v, m, take);
                idx = v128.bitselect(i32x4.add(i32x4.splat(iy * w + xs + t), lanes), idx, take);
              }
            }
            const q = gr + <usize>ox * 4;
            addAt(d, i32x4.extract_lane(idx, 0), load<f32>(q));
            addAt(d, i32x4.extract_lane(idx, 1), load<f32>(q, 4));
            addAt(d, i32x4.extract_lane(idx, 2), load<f32>(q, 8));
            addAt(d, i32x4.extract_lane(idx, 3), load<f32>(q, 12));
            ox += 4;
            continue;
          }
          const x0 = max(ox * sw - pw, 0), x1 = min(ox * sw - pw + kw, w);
          let m: f32 = -Infinity;
          let at = y0 * w + x0;
          for (let iy = y0; iy < y1; iy++) {
            for (let ix = x0; ix < x1; ix++) {
              const v = load<f32>(base + <usize>(iy * w + ix) * 4);
              if (v > m || v != v) {
                m = v;
                at = iy * w + ix;
              }
            }
          }
          addAt(d, at, load<f32>(gr + <usize>ox * 4));
          ox++;
        }
      }
    }
  }
}

@inline function addAt(d: usize, i: i32, v: f32): void {
  const p = d + <usize>i * 4;
  store<f32>(p, load<f32>(p) + v);
}

/** Average pool's gradient: dy / (the forward's divisor) added over each window; planes split over threads. */
export function avgPool2dBackward(args: usize, tid: i32, nth: i32): void {
  const dy = <usize>arg(args, PoolArg.X), dx = <usize>arg(args, PoolArg.Out);
  const planes = arg(args, PoolArg.Planes), h = arg(args, PoolArg.H), w = arg(args, PoolArg.W), kh = arg(args, PoolArg.Kh), kw = arg(args, PoolArg.Kw);
  const sh = arg(args, PoolArg.StrideH), sw = arg(args, PoolArg.StrideW), ph = arg(args, PoolArg.PadH), pw = arg(args, PoolArg.PadW);
  const oh = arg(args, PoolArg.Oh), ow = arg(args, PoolArg.Ow), includePad = arg(args, PoolArg.CountIncludePad) != 0;
  const per = planesPerTask(h * w, MIN_TASK_FLOATS), blocks = (planes + per - 1) / per;
  // Windows that tile the input without overlap or padding (avg_down's shortcut pool, kernel =
  // stride): each input takes its one window's share, stored once; no zeroing, no adds.
  const tiles = kh == sh && kw == sw && ph == 0 && pw == 0 && oh * sh >= h && ow * sw >= w;
  for (let bl = claim(args, tid, nth, blocks); bl < blocks; bl = claim(args, tid, nth, blocks, bl)) {
    const p0 = bl * per, p1 = min(planes, p0 + per);
    if (tiles) {
      for (let pl = p0; pl < p1; pl++) spreadTiles(dy + <usize>(pl * oh * ow) * 4, dx + <usize>(pl * h * w) * 4, h, w, kh, kw, oh, ow);
      continue;
    }
    for (let pl = p0; pl < p1; pl++) {
      spreadPlane(dy + <usize>(pl * oh * ow) * 4, dx + <usize>(pl * h * w) * 4, h, w, kh, kw, sh, sw, ph, pw, oh, ow, includePad);
    }
  }
}

/**
 * dx of one plane, output row by output row. A window's count is a product of its rows and
 * its columns, so each output row spreads along x once, into the first of its window's rows
 * that no earlier window reached (zeroed first); that row is then copied to the window's
 * other new rows and added to the rows it shares with earlier windows. Rows no window covers
 * are zeroed. Only where a window has no new row (the last rows of a clipped or ceil-mode
 * pool) does the spread go into each of its rows.
 */
function spreadPlane(g: usize, d: usize, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32,
  includePad: bool): void {
  const rowBytes = <usize>w * 4;
  let done = 0;
  for (let oy = 0; oy < oh; oy++) {
    const ys = oy * sh - ph, ye = min(ys + kh, h + ph);
    const y0 = max(ys, 0), y1 = min(ye, h);
    const rowCount = includePad ? ye - ys : y1 - y0;
    const gRow = g + <usize>(oy * ow) * 4;
    const f = max(y0, done);
    if (f >= y1) {
      for (let iy = y0; iy < y1; iy++) spreadRow(gRow, d + <usize>iy * rowBytes, w, kw, sw, pw, ow, rowCount, includePad);
      continue;
    }
    const fresh = d + <usize>f * rowBytes;
    memory.fill(d + <usize>done * rowBytes, 0, <usize>(f + 1 - done) * rowBytes);
    spreadRow(gRow, fresh, w, kw, sw, pw, ow, rowCount, includePad);
    for (let iy = f + 1; iy < y1; iy++) memory.copy(d + <usize>iy * rowBytes, fresh, rowBytes);
    for (let iy = y0; iy < f; iy++) addRow(d + <usize>iy * rowBytes, fresh, w);
    done = y1;
  }
  if (done < h) memory.fill(d + <usize>done * rowBytes, 0, <usize>(h - done) * rowBytes);
}

/** Adds each output of the row at g, over its window's count (rowCount times its columns), to its window's inputs in one row. */
@inline function spreadRow(g: usize, row: usize, w: i32, kw: i32, sw: i32, pw: i32, ow: i32, rowCount: i32, includePad: bool): void {
  for (let ox = 0; ox < ow; ox++) {
    const xs = ox * sw - pw, xe = min(xs + kw, w + pw);
    const x0 = max(xs, 0), x1 = min(xe, w);
    const v = load<f32>(g + <usize>ox * 4) / <f32>(rowCount * (includePad ? xe - xs : x1 - x0));
    for (let ix = x0; ix < x1; ix++) store<f32>(row + <usize>ix * 4, load<f32>(row + <usize>ix * 4) + v);
  }
}

@inline function addRow(dst: usize, src: usize, w: i32): void {
  let i = 0;
  for (; i + 4 <= w; i += 4) v128.store(dst + <usize>i * 4, f32x4.add(v128.load(dst + <usize>i * 4), v128.load(src + <usize>i * 4)));
  for (; i < w; i++) store<f32>(dst + <usize>i * 4, load<f32>(dst + <usize>i * 4) + load<f32>(src + <usize>i * 4));
}

/**
 * dx of one plane where the windows tile it (kernel = stride, no padding, every input in a
 * window): dy over the window's count of inputs, which is also count_include_pad's divisor
 * here (a ceil-mode window past the edge pads nothing).
 */
@inline function spreadTiles(g: usize, d: usize, h: i32, w: i32, kh: i32, kw: i32, oh: i32, ow: i32): void {
  for (let oy = 0; oy < oh; oy++) {
    const y0 = oy * kh, y1 = min(y0 + kh, h);
    let ox = 0;
    if (kw == 2) {
      // 2-wide windows (avg_down's 2×2): four outputs a step, each stored to its two columns.
      const count = f32x4.splat(<f32>((y1 - y0) * 2));
      for (; 2 * ox + 8 <= w; ox += 4) {
        const v = f32x4.div(v128.load(g + <usize>(oy * ow + ox) * 4), count);
        const lo = v128.shuffle<f32>(v, v, 0, 0, 1, 1), hi = v128.shuffle<f32>(v, v, 2, 2, 3, 3);
        for (let iy = y0; iy < y1; iy++) {
          const at = d + <usize>(iy * w + 2 * ox) * 4;
          v128.store(at, lo);
          v128.store(at, hi, 16);
        }
      }
    }
    for (; ox < ow; ox++) {
      const x0 = ox * kw, x1 = min(x0 + kw, w);
      const v = load<f32>(g + <usize>(oy * ow + ox) * 4) / <f32>((y1 - y0) * (x1 - x0));
      for (let iy = y0; iy < y1; iy++) {
        const row = d + <usize>(iy * w) * 4;
        for (let ix = x0; ix < x1; ix++) store<f32>(row + <usize>ix * 4, v);
      }
    }
  }
}
