/**
 * Frame preprocessing for FMnet: crop to a box, pad to a square, bilinear resize to the network
 * input (256 px), normalise each frame to its 1st..99th percentile; and the inverse map from
 * network-input pixels back to original-frame pixels.
 *
 * Coordinates: pixel centres are integers (x = column, y = row), in the original frame, the padded
 * square and the network input alike. The bilinear resize uses half-pixel centres (OpenCV, PyTorch
 * align_corners=false, tf halfPixelCenters=true), so a point maps as
 *   net = (square + 0.5) * (outSize / side) - 0.5,   square = frame - crop origin + pad.
 * Padding is split evenly (the extra pixel, if odd, goes right/bottom) with zeros.
 *
 * Normalisation is per frame, not per batch as in Facemap: Facemap's percentiles span the whole
 * batch, so a frame's input (and hence its keypoints) changes with the batch it is processed in and
 * with the batch size. Per frame, a prediction depends only on its frame.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamError, ShapeError } from '../errors';

/** A crop box in original-frame pixels: columns x0..x1-1, rows y0..y1-1 (end-exclusive). */
export interface CropBox {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** How one frame (of a given size and box) maps to the network input; from {@link cropTransform}. */
export interface CropTransform {
  box: CropBox;
  /** Side of the padded square, max(box width, box height). */
  side: number;
  /** Zero columns added left / rows added top. */
  padLeft: number;
  padTop: number;
  /** Network input side (default 256). */
  outSize: number;
}

/** Whole-frame box. */
export function fullFrameBox(width: number, height: number): CropBox {
  return { x0: 0, x1: width, y0: 0, y1: height };
}

/**
 * `box` grown by `left`, `right`, `top`, `bottom` times its width (left, right) or height (top,
 * bottom) on each side, rounded to whole pixels and clamped to the frame. Training augmentation
 * draws the four fractions; inference uses the mean of their range on every side (see
 * {@link inferenceExpand}), so that frames are seen at the scale the network was trained on.
 */
export function expandBox(box: CropBox, width: number, height: number, left: number, right = left, top = left, bottom = left): CropBox {
  const bw = box.x1 - box.x0;
  const bh = box.y1 - box.y0;
  return {
    x0: Math.max(0, Math.round(box.x0 - left * bw)),
    x1: Math.min(width, Math.round(box.x1 + right * bw)),
    y0: Math.max(0, Math.round(box.y0 - top * bh)),
    y1: Math.min(height, Math.round(box.y1 + bottom * bh)),
  };
}

/** Facemap's training box expansion per side, [min, max] fraction (augment.ts default). */
export const DEFAULT_EXPAND_RANGE: readonly [number, number] = [0.1, 0.3];

/**
 * The box expansion per side used at inference for a model trained with augmentation `augment`
 * (false = none): the mean of its expansion range, 0 without augmentation.
 */
export function inferenceExpand(augment: { expand?: readonly [number, number] | number[] } | false | null | undefined): number {
  if (augment === false || augment === null) return 0;
  const [a, b] = augment?.expand ?? DEFAULT_EXPAND_RANGE;
  return (a + b) / 2;
}

/** Validates `box` against a frame of width x height (box must lie inside it) and returns the transform. */
export function cropTransform(box: CropBox, width: number, height: number, outSize = 256): CropTransform {
  for (const k of ['x0', 'x1', 'y0', 'y1'] as const) {
    if (!Number.isInteger(box[k])) throw new ParamError(`box.${k}`, box[k], 'an integer');
  }
  if (box.x0 < 0 || box.x1 > width || box.x1 <= box.x0) throw new ParamError('box.x0..x1', [box.x0, box.x1], `0 <= x0 < x1 <= ${width}`);
  if (box.y0 < 0 || box.y1 > height || box.y1 <= box.y0) throw new ParamError('box.y0..y1', [box.y0, box.y1], `0 <= y0 < y1 <= ${height}`);
  if (!Number.isInteger(outSize) || outSize < 1) throw new ParamError('outSize', outSize, 'a positive integer');
  const w = box.x1 - box.x0;
  const h = box.y1 - box.y0;
  const side = Math.max(w, h);
  return { box: { ...box }, side, padLeft: Math.floor((side - w) / 2), padTop: Math.floor((side - h) / 2), outSize };
}

/** Original-frame point -> network-input point (same transform as the image). */
export function toNetworkCoords(t: CropTransform, x: number, y: number): [number, number] {
  const s = t.outSize / t.side;
  return [(x - t.box.x0 + t.padLeft + 0.5) * s - 0.5, (y - t.box.y0 + t.padTop + 0.5) * s - 0.5];
}

/** Network-input point -> original-frame point (inverse of {@link toNetworkCoords}). */
export function toFrameCoords(t: CropTransform, x: number, y: number): [number, number] {
  const s = t.side / t.outSize;
  return [(x + 0.5) * s - 0.5 - t.padLeft + t.box.x0, (y + 0.5) * s - 0.5 - t.padTop + t.box.y0];
}

/**
 * Maps keypoints [n*K*2] (x, y interleaved; NaN kept) from network input to original frame; returns
 * a new array. One transform for all.
 */
export function keypointsToFrame(t: CropTransform, xy: Float32Array): Float32Array {
  const out = new Float32Array(xy.length);
  for (let i = 0; i < xy.length; i += 2) {
    const [x, y] = toFrameCoords(t, xy[i], xy[i + 1]);
    out[i] = x;
    out[i + 1] = y;
  }
  return out;
}

/**
 * Crops, pads and resizes one frame. frame: [height*width] row-major grey; returns
 * [outSize*outSize] row-major, not normalised.
 */
export function cropPadResize(frame: Float32Array | Uint8Array, width: number, height: number, t: CropTransform): Float32Array {
  if (frame.length !== width * height) throw new ShapeError(`frame has ${frame.length} pixels; expected ${width}x${height} = ${width * height}`);
  const { box, side, padLeft, padTop, outSize } = t;
  const bw = box.x1 - box.x0;
  const bh = box.y1 - box.y0;
  const sq = (r: number, c: number): number => {
    const fr = r - padTop;
    const fc = c - padLeft;
    if (fr < 0 || fr >= bh || fc < 0 || fc >= bw) return 0;
    return frame[(fr + box.y0) * width + fc + box.x0];
  };
  const out = new Float32Array(outSize * outSize);
  const scale = side / outSize;
  for (let r = 0; r < outSize; r++) {
    const sy = Math.min(Math.max((r + 0.5) * scale - 0.5, 0), side - 1);
    const r0 = Math.floor(sy);
    const r1 = Math.min(r0 + 1, side - 1);
    const fy = sy - r0;
    for (let c = 0; c < outSize; c++) {
      const sx = Math.min(Math.max((c + 0.5) * scale - 0.5, 0), side - 1);
      const c0 = Math.floor(sx);
      const c1 = Math.min(c0 + 1, side - 1);
      const fx = sx - c0;
      const top = sq(r0, c0) + (sq(r0, c1) - sq(r0, c0)) * fx;
      const bot = sq(r1, c0) + (sq(r1, c1) - sq(r1, c0)) * fx;
      out[r * outSize + c] = top + (bot - top) * fy;
    }
  }
  return out;
}

/** q-th quantile (0..1) of sorted values, linear interpolation (numpy's default). */
function quantileSorted(sorted: Float32Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Smallest percentile range divided by: a constant frame normalises to 0, not NaN. */
const MIN_RANGE = 1e-6;

/** Per-frame (X - p1) / (p99 - p1) of one image [nPixels]; returns a new array. */
export function normalizeFrame(img: Float32Array, lowPct = 1, highPct = 99): Float32Array {
  const sorted = Float32Array.from(img).sort();
  const lo = quantileSorted(sorted, lowPct / 100);
  const hi = quantileSorted(sorted, highPct / 100);
  const range = Math.max(hi - lo, MIN_RANGE);
  const out = new Float32Array(img.length);
  for (let i = 0; i < img.length; i++) out[i] = (img[i] - lo) / range;
  return out;
}

/** cropPadResize then normalizeFrame: one frame ready for FMnet, [outSize*outSize]. */
export function preprocessFrame(frame: Float32Array | Uint8Array, width: number, height: number, t: CropTransform): Float32Array {
  return normalizeFrame(cropPadResize(frame, width, height, t));
}

/**
 * Batch version on tensors: frames [N, height, width] or [N, height, width, 1] grey ->
 * [N, outSize, outSize, 1] normalised per frame. Same arithmetic as the pure functions (tf's
 * bilinear resize with half-pixel centres; percentiles by linear interpolation). Caller owns the result.
 */
export function preprocessBatch(frames: tf.Tensor3D | tf.Tensor4D, t: CropTransform): tf.Tensor4D {
  return tf.tidy(() => {
    const x4 = (frames.rank === 3 ? frames.expandDims(-1) : frames).toFloat() as tf.Tensor4D;
    const [n, height, width, ch] = x4.shape;
    if (ch !== 1) throw new ShapeError(`frames have ${ch} channels; expected 1 (grey)`);
    cropTransform(t.box, width, height, t.outSize);
    const { box, side, padLeft, padTop, outSize } = t;
    const bw = box.x1 - box.x0;
    const bh = box.y1 - box.y0;
    const cropped = x4.slice([0, box.y0, box.x0, 0], [n, bh, bw, 1]);
    const padded = cropped.pad([
      [0, 0],
      [padTop, side - bh - padTop],
      [padLeft, side - bw - padLeft],
      [0, 0],
    ]) as tf.Tensor4D;
    const resized = tf.image.resizeBilinear(padded, [outSize, outSize], false, true);
    return normalizeBatch(resized);
  });
}

/** Per-frame percentile normalisation of images [N, H, W, 1]; caller owns the result. */
export function normalizeBatch(x: tf.Tensor4D, lowPct = 1, highPct = 99): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    const m = h * w;
    const flat = x.reshape([n, m]) as tf.Tensor2D;
    // The ranks needed lie near both ends, so top-k from each side is far cheaper than a full sort.
    const quantile = (q: number): tf.Tensor1D => {
      const pos = (m - 1) * q;
      const lo = Math.floor(pos);
      const hi = Math.min(lo + 1, m - 1);
      const frac = pos - lo;
      if (q >= 0.5) {
        const k = m - lo;
        const vals = tf.topk(flat, k).values; // descending: ascending rank r sits at index m-1-r
        const a = vals.slice([0, m - 1 - lo], [n, 1]);
        const b = vals.slice([0, m - 1 - hi], [n, 1]);
        return a.add(b.sub(a).mul(frac)).reshape([n]) as tf.Tensor1D;
      }
      const vals = tf.topk(flat.neg(), hi + 1).values.neg(); // ascending order
      const a = vals.slice([0, lo], [n, 1]);
      const b = vals.slice([0, hi], [n, 1]);
      return a.add(b.sub(a).mul(frac)).reshape([n]) as tf.Tensor1D;
    };
    const p1 = quantile(lowPct / 100).reshape([n, 1, 1, 1]);
    const p99 = quantile(highPct / 100).reshape([n, 1, 1, 1]);
    return x.sub(p1).div(p99.sub(p1).maximum(MIN_RANGE)) as tf.Tensor4D;
  });
}

/**
 * k-th smallest value (0-based) of `a[lo..hi]`, by quickselect; reorders that range so that
 * a[lo..k-1] <= a[k] <= a[k+1..hi]. NaN-free input.
 */
function selectInPlace(a: Float32Array, k: number, lo: number, hi: number): number {
  while (hi > lo) {
    // Median of three as pivot, then Hoare partition.
    const mid = (lo + hi) >>> 1;
    let p = a[mid];
    const x = a[lo];
    const z = a[hi];
    if ((x <= p && p <= z) || (z <= p && p <= x)) {
      // p is the median
    } else if ((p <= x && x <= z) || (z <= x && x <= p)) p = x;
    else p = z;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < p) i++;
      while (a[j] > p) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/** Smallest value of a[lo..hi]. */
function minOf(a: Float32Array, lo: number, hi: number): number {
  let m = a[lo];
  for (let i = lo + 1; i <= hi; i++) if (a[i] < m) m = a[i];
  return m;
}

/**
 * {@link preprocessFrame} for a stream of frames of one size and one transform, about 10x faster:
 * the resize's source indices and weights are computed once, each source row is interpolated
 * horizontally once per frame, and the two percentiles come from quickselect instead of a full
 * sort. The arithmetic is the same, in the same order, so results are bit-identical to
 * preprocessFrame (tested). Not safe to share between concurrent users (it keeps scratch buffers).
 */
export class FramePreprocessor {
  readonly outSize: number;
  private readonly colA: Int32Array;
  private readonly colB: Int32Array;
  private readonly colF: Float64Array;
  private readonly rowA: Int32Array;
  private readonly rowB: Int32Array;
  private readonly rowF: Float64Array;
  private readonly scratch: Float32Array;
  private readonly lineA: Float64Array;
  private readonly lineB: Float64Array;

  /**
   * @param width, height size of the frames that {@link run} will get.
   * @param t the transform (box within those frames, padding, output size), from cropTransform.
   */
  constructor(
    readonly width: number,
    readonly height: number,
    readonly t: CropTransform,
  ) {
    cropTransform(t.box, width, height, t.outSize);
    const { box, side, padLeft, padTop, outSize } = t;
    this.outSize = outSize;
    const scale = side / outSize;
    // Source index in the frame of square coordinate s, or -1 for padding.
    const axis = (n: number, pad: number, extent: number, origin: number) => {
      const a = new Int32Array(n);
      const b = new Int32Array(n);
      const f = new Float64Array(n);
      const src = (s: number): number => (s - pad < 0 || s - pad >= extent ? -1 : s - pad + origin);
      for (let i = 0; i < n; i++) {
        const s = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), side - 1);
        const s0 = Math.floor(s);
        a[i] = src(s0);
        b[i] = src(Math.min(s0 + 1, side - 1));
        f[i] = s - s0;
      }
      return [a, b, f] as const;
    };
    [this.colA, this.colB, this.colF] = axis(outSize, padLeft, box.x1 - box.x0, box.x0);
    [this.rowA, this.rowB, this.rowF] = axis(outSize, padTop, box.y1 - box.y0, box.y0);
    this.scratch = new Float32Array(outSize * outSize);
    this.lineA = new Float64Array(outSize);
    this.lineB = new Float64Array(outSize);
  }

  /** Horizontal interpolation of frame row `r` (-1: a padding row, all zero) into `line`. */
  private interpolateRow(frame: ArrayLike<number>, r: number, line: Float64Array): void {
    const { colA, colB, colF, outSize } = this;
    if (r < 0) {
      line.fill(0);
      return;
    }
    const base = r * this.width;
    for (let c = 0; c < outSize; c++) {
      const ia = colA[c];
      const ib = colB[c];
      const va = ia < 0 ? 0 : frame[base + ia];
      const vb = ib < 0 ? 0 : frame[base + ib];
      line[c] = va + (vb - va) * colF[c];
    }
  }

  /**
   * Preprocesses one frame (`height x width`, row-major grey) into `out[offset .. offset + outSize^2)`,
   * normalised like {@link normalizeFrame}.
   */
  run(frame: Uint8Array | Float32Array, out: Float32Array, offset = 0): void {
    const { outSize, rowA, rowB, rowF, lineA, lineB, scratch } = this;
    if (frame.length !== this.width * this.height) {
      throw new ShapeError(`frame has ${frame.length} pixels; expected ${this.width}x${this.height} = ${this.width * this.height}`);
    }
    const m = outSize * outSize;
    if (offset < 0 || offset + m > out.length) throw new ShapeError(`output holds ${out.length} values; need ${offset + m}`);
    let rowInA = -2;
    let rowInB = -2;
    for (let r = 0; r < outSize; r++) {
      const ra = rowA[r];
      const rb = rowB[r];
      // Reuse the lines already interpolated (neighbouring output rows share source rows).
      if (ra !== rowInA) {
        if (ra === rowInB && ra >= 0) lineA.set(lineB);
        else this.interpolateRow(frame, ra, lineA);
        rowInA = ra;
      }
      if (rb !== rowInB) {
        if (rb === ra) lineB.set(lineA);
        else this.interpolateRow(frame, rb, lineB);
        rowInB = rb;
      }
      const fy = rowF[r];
      const o = r * outSize;
      for (let c = 0; c < outSize; c++) {
        const top = lineA[c];
        scratch[o + c] = top + (lineB[c] - top) * fy;
      }
    }
    out.set(scratch, offset);
    // Percentiles exactly as normalizeFrame: order statistics at floor(pos) and floor(pos) + 1.
    const q = (pct: number): [number, number, number] => {
      const pos = (m - 1) * (pct / 100);
      const lo = Math.floor(pos);
      return [lo, Math.min(lo + 1, m - 1), pos - lo];
    };
    const [l0, l1, lf] = q(1);
    const [h0, h1, hf] = q(99);
    const a0 = selectInPlace(scratch, l0, 0, m - 1);
    const a1 = l1 === l0 ? a0 : minOf(scratch, l1, m - 1);
    const b0 = selectInPlace(scratch, h0, l1, m - 1);
    const b1 = h1 === h0 ? b0 : minOf(scratch, h1, m - 1);
    const lo = a0 + (a1 - a0) * lf;
    const hi = b0 + (b1 - b0) * hf;
    const range = Math.max(hi - lo, MIN_RANGE);
    for (let i = offset; i < offset + m; i++) out[i] = (out[i] - lo) / range;
  }
}
