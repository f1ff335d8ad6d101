/**
 * Training targets for FMnet on its heatmap grid (G = inputSize/4 cells a side, 64 for 256 px).
 *
 * A keypoint at (x, y) in network-input pixels sits at grid position (gx, gy) = (x/4, y/4).
 *  - heatmap: Gaussian exp(-d^2 / (2 sigma^2)) with sigma = 3 cells, scaled to sum to 10;
 *  - offsets: rowOffset = (row - gy) / 6, colOffset = (col - gx) / 6 at every cell, so that
 *    y = 4 * (row - 6 * rowOffset) recovers the keypoint from any cell (decode.ts);
 *  - offsetMask: 1 within sigma of the keypoint (d <= sigma), where the offset error is penalised;
 *  - visible: 0 for a keypoint whose x or y is NaN (all its maps and masks are zero).
 */
import * as tf from '@tensorflow/tfjs';
import { ParamError, ShapeError } from '../errors';

import { HEATMAP_STRIDE, OFFSET_SCALE } from './maps';

export { HEATMAP_STRIDE, OFFSET_SCALE };
/** Heatmap Gaussian width in cells. */
export const HEATMAP_SIGMA = 3;
/** Each visible keypoint's target heatmap sums to this. */
export const HEATMAP_SUM = 10;

/** Targets for N images and K keypoints; maps are [N, G, G, K] row-major (NHWC), visible [N, K]. */
export interface PoseTargets {
  n: number;
  nKeypoints: number;
  grid: number;
  heatmap: Float32Array;
  rowOffset: Float32Array;
  colOffset: Float32Array;
  offsetMask: Float32Array;
  visible: Float32Array;
}

/** The same targets as tensors (caller disposes, e.g. with tf.dispose(Object.values(t))). */
export interface PoseTargetTensors {
  heatmap: tf.Tensor4D;
  rowOffset: tf.Tensor4D;
  colOffset: tf.Tensor4D;
  offsetMask: tf.Tensor4D;
  visible: tf.Tensor2D;
}

/**
 * Builds targets. keypoints: [N*K*2] (x, y interleaved) in network-input pixels, NaN = not labelled.
 * @param grid heatmap side G (inputSize / 4; default 64).
 */
export function makeTargets(keypoints: Float32Array | Float64Array, n: number, nKeypoints: number, grid = 64, sigma = HEATMAP_SIGMA): PoseTargets {
  if (!Number.isInteger(grid) || grid < 1) throw new ParamError('grid', grid, 'a positive integer');
  if (!(sigma > 0)) throw new ParamError('sigma', sigma, 'a positive number');
  if (keypoints.length !== n * nKeypoints * 2) {
    throw new ShapeError(`keypoints has ${keypoints.length} values; expected N*K*2 = ${n}*${nKeypoints}*2`);
  }
  const K = nKeypoints;
  const size = n * grid * grid * K;
  const t: PoseTargets = {
    n,
    nKeypoints: K,
    grid,
    heatmap: new Float32Array(size),
    rowOffset: new Float32Array(size),
    colOffset: new Float32Array(size),
    offsetMask: new Float32Array(size),
    visible: new Float32Array(n * K),
  };
  const g = new Float64Array(grid * grid);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < K; k++) {
      const x = keypoints[(i * K + k) * 2];
      const y = keypoints[(i * K + k) * 2 + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      t.visible[i * K + k] = 1;
      const gx = x / HEATMAP_STRIDE;
      const gy = y / HEATMAP_STRIDE;
      let sum = 0;
      for (let r = 0; r < grid; r++) {
        for (let c = 0; c < grid; c++) {
          const d2 = (r - gy) ** 2 + (c - gx) ** 2;
          const v = Math.exp(-d2 / (2 * sigma * sigma));
          g[r * grid + c] = v;
          sum += v;
          const at = ((i * grid + r) * grid + c) * K + k;
          t.rowOffset[at] = (r - gy) / OFFSET_SCALE;
          t.colOffset[at] = (c - gx) / OFFSET_SCALE;
          t.offsetMask[at] = d2 <= sigma * sigma ? 1 : 0;
        }
      }
      // A keypoint far outside the grid has a vanishing Gaussian: leave it all zero, not 0/0.
      const scale = sum > 1e-12 ? HEATMAP_SUM / sum : 0;
      for (let p = 0; p < grid * grid; p++) t.heatmap[(i * grid * grid + p) * K + k] = g[p] * scale;
    }
  }
  return t;
}

/** Copies targets into tensors of shapes [N, G, G, K] and visible [N, K]. */
export function targetsToTensors(t: PoseTargets): PoseTargetTensors {
  const shape: [number, number, number, number] = [t.n, t.grid, t.grid, t.nKeypoints];
  return {
    heatmap: tf.tensor4d(t.heatmap, shape),
    rowOffset: tf.tensor4d(t.rowOffset, shape),
    colOffset: tf.tensor4d(t.colOffset, shape),
    offsetMask: tf.tensor4d(t.offsetMask, shape),
    visible: tf.tensor2d(t.visible, [t.n, t.nKeypoints]),
  };
}
