/**
 * FMnet's output maps as plain arrays and their decoding to keypoints, without tfjs (so that an
 * inference worker running ONNX Runtime loads no tfjs). The geometry constants shared with
 * targets.ts live here.
 */
import { ShapeError } from '../errors';

/** Network-input pixels per heatmap cell. */
export const HEATMAP_STRIDE = 4;
/** Offsets are stored in units of this many cells. */
export const OFFSET_SCALE = 6;

/** Decoded keypoints of N images x K keypoints; arrays [N*K] row-major (image-major). */
export interface DecodedKeypoints {
  n: number;
  nKeypoints: number;
  /** Column coordinate in pixels (network input, or original frame after keypointsInFrame). */
  x: Float32Array;
  /** Row coordinate in pixels. */
  y: Float32Array;
  /** sigmoid of the heatmap maximum, in (0, 1). */
  likelihood: Float32Array;
}

/** FMnet's three maps as plain arrays, in either layout (ONNX Runtime gives NCHW, tfjs NHWC). */
export interface RawMaps {
  /** Heatmap after ReLU, n x K x G x G (NCHW) or n x G x G x K (NHWC). */
  heatmap: Float32Array;
  rowOffset: Float32Array;
  colOffset: Float32Array;
  n: number;
  nKeypoints: number;
  /** Side G of each map. */
  grid: number;
  layout: 'NCHW' | 'NHWC';
}

/**
 * {@link decodeKeypoints} on plain arrays: same argmax (first maximum in row-major order, as
 * tf.argMax), offsets and likelihood, in network-input pixels.
 */
export function decodeMaps(maps: RawMaps): DecodedKeypoints {
  const { n, nKeypoints: k, grid: g, layout } = maps;
  const cells = g * g;
  for (const [name, a] of [['heatmap', maps.heatmap], ['rowOffset', maps.rowOffset], ['colOffset', maps.colOffset]] as const) {
    if (a.length < n * k * cells) throw new ShapeError(`${name} has ${a.length} values; expected n x K x G x G = ${n} x ${k} x ${g} x ${g}`);
  }
  const x = new Float32Array(n * k);
  const y = new Float32Array(n * k);
  const likelihood = new Float32Array(n * k);
  const nchw = layout === 'NCHW';
  const hm = maps.heatmap;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      // Element (cell c) of map (i, j) sits at base + c * step.
      const base = nchw ? (i * k + j) * cells : i * cells * k + j;
      const step = nchw ? 1 : k;
      let best = 0;
      let max = hm[base];
      for (let c = 1, p = base + step; c < cells; c++, p += step) {
        const v = hm[p];
        if (v > max) {
          max = v;
          best = c;
        }
      }
      const at = base + best * step;
      const row = Math.floor(best / g);
      const col = best % g;
      const o = i * k + j;
      x[o] = HEATMAP_STRIDE * (col - OFFSET_SCALE * maps.colOffset[at]);
      y[o] = HEATMAP_STRIDE * (row - OFFSET_SCALE * maps.rowOffset[at]);
      likelihood[o] = 1 / (1 + Math.exp(-max));
    }
  }
  return { n, nKeypoints: k, x, y, likelihood };
}

/**
 * Flip-averaging (test-time augmentation): writes the left-right mirror of each of `n` images
 * (S x S, row-major, in `pixels` from offset 0) into the next `n` slots, so that one forward pass
 * of 2n images predicts both. `pixels` must hold 2n images.
 */
export function appendMirrored(pixels: Float32Array, n: number, S: number): void {
  if (pixels.length < 2 * n * S * S) throw new ShapeError(`pixels has ${pixels.length} values; expected room for 2 x ${n} images of ${S} x ${S}`);
  for (let i = 0; i < n; i++) {
    const src = i * S * S;
    const dst = (n + i) * S * S;
    for (let r = 0; r < S; r++) {
      const a = src + r * S;
      const b = dst + r * S + S - 1;
      for (let c = 0; c < S; c++) pixels[b - c] = pixels[a + c];
    }
  }
}

/**
 * The average of the keypoints of n images (entries 0..n-1) and of their mirrors (entries
 * n..2n-1, from {@link appendMirrored}), in network-input pixels: x of a mirror maps back as
 * S - 1 - x (pixel centres at integers); y and likelihood are averaged as they are.
 */
export function averageMirrored(kp: DecodedKeypoints, n: number, S: number): DecodedKeypoints {
  const K = kp.nKeypoints;
  if (kp.n !== 2 * n) throw new ShapeError(`${kp.n} decoded images; expected 2 x ${n} (images and their mirrors)`);
  const x = new Float32Array(n * K);
  const y = new Float32Array(n * K);
  const likelihood = new Float32Array(n * K);
  for (let o = 0; o < n * K; o++) {
    const m = n * K + o;
    x[o] = (kp.x[o] + (S - 1 - kp.x[m])) / 2;
    y[o] = (kp.y[o] + kp.y[m]) / 2;
    likelihood[o] = (kp.likelihood[o] + kp.likelihood[m]) / 2;
  }
  return { n, nKeypoints: K, x, y, likelihood };
}
