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
