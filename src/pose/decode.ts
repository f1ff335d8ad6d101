/**
 * From FMnet's maps to keypoints: per map, the argmax cell (row, col) of the heatmap, refined by
 * the offsets there, x = 4 * (col - 6 * colOffset), y = 4 * (row - 6 * rowOffset) in network-input
 * pixels (the inverse of targets.ts), likelihood = sigmoid(max heatmap value). Then, optionally,
 * back to original-frame pixels through preprocess.ts's transform.
 */
import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../errors';
import type { FMnetOutput } from './fmnet';
import { type CropTransform, toFrameCoords } from './preprocess';
import { type DecodedKeypoints, HEATMAP_STRIDE, OFFSET_SCALE } from './maps';

export { decodeMaps, type DecodedKeypoints, type RawMaps } from './maps';

/** Decodes a batch of maps (each [N, G, G, K]). Disposes nothing it was given; leaks nothing. */
export function decodeKeypoints(out: FMnetOutput): DecodedKeypoints {
  const [n, g, g2, k] = out.heatmap.shape;
  if (g !== g2) throw new ShapeError(`heatmap is ${g}x${g2}; expected square`);
  const [idx, mx, rowOff, colOff] = tf.tidy(() => {
    const flat = (t: tf.Tensor4D): tf.Tensor3D => t.transpose([0, 3, 1, 2]).reshape([n, k, g * g]) as tf.Tensor3D;
    const hm = flat(out.heatmap);
    const argmax = hm.argMax(2) as tf.Tensor2D; // [N, K]
    // A one-hot product, not tf.gather with batchDims: wasm's gather with batchDims = 2 returns
    // wrong values (tfjs 4.22; cpu is right).
    const hot = tf.oneHot(argmax, g * g);
    const pick = (t: tf.Tensor4D): tf.Tensor2D => flat(t).mul(hot).sum(2) as tf.Tensor2D;
    return [argmax, hm.max(2), pick(out.rowOffset), pick(out.colOffset)];
  });
  const [iv, mv, rv, cv] = [idx, mx, rowOff, colOff].map((t) => t.dataSync());
  tf.dispose([idx, mx, rowOff, colOff]);
  const x = new Float32Array(n * k);
  const y = new Float32Array(n * k);
  const likelihood = new Float32Array(n * k);
  for (let i = 0; i < n * k; i++) {
    const row = Math.floor(iv[i] / g);
    const col = iv[i] % g;
    x[i] = HEATMAP_STRIDE * (col - OFFSET_SCALE * cv[i]);
    y[i] = HEATMAP_STRIDE * (row - OFFSET_SCALE * rv[i]);
    likelihood[i] = 1 / (1 + Math.exp(-mv[i]));
  }
  return { n, nKeypoints: k, x, y, likelihood };
}

/**
 * Maps decoded keypoints from network-input pixels to original-frame pixels. `transforms`: one for
 * all images, or one per image (each frame may have its own crop box). Returns a new object.
 */
export function keypointsInFrame(kp: DecodedKeypoints, transforms: CropTransform | CropTransform[]): DecodedKeypoints {
  const list = Array.isArray(transforms) ? transforms : null;
  if (list && list.length !== kp.n) throw new ShapeError(`${list.length} transforms for ${kp.n} images`);
  const x = new Float32Array(kp.x.length);
  const y = new Float32Array(kp.y.length);
  for (let i = 0; i < kp.n; i++) {
    const t = list ? list[i] : (transforms as CropTransform);
    for (let j = 0; j < kp.nKeypoints; j++) {
      const p = i * kp.nKeypoints + j;
      [x[p], y[p]] = toFrameCoords(t, kp.x[p], kp.y[p]);
    }
  }
  return { ...kp, x, y, likelihood: kp.likelihood.slice() };
}

