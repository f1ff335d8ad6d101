/** Labelled frames as flat arrays for training, and seeded k-fold splits. */
import { ParamError } from '../../errors';
import { Rng } from '../../util/random';
import type { LabelSet } from './types';
import { imagePath } from './validate';

/** Labelled frames as arrays. */
export interface LabelArrays {
  /** nFrames absolute image (or video) paths. */
  images: string[];
  /** nFrames frame numbers within the video, -1 for image files. */
  frameIndex: Int32Array;
  /** nFrames x nKeypoints x 2 (x, y), row-major, px; NaN where not labelled. */
  xy: Float32Array;
  /** nFrames x nKeypoints, 1 where both x and y are finite, else 0. */
  mask: Uint8Array;
  keypoints: string[];
}

/** Flattens a label set (see {@link LabelArrays} for shapes). */
export function labelsToArrays(set: LabelSet): LabelArrays {
  const nK = set.keypoints.length;
  const n = set.frames.length;
  const xy = new Float32Array(n * nK * 2);
  const mask = new Uint8Array(n * nK);
  set.frames.forEach((f, i) => {
    for (let k = 0; k < nK; k++) {
      const ok = Number.isFinite(f.x[k]) && Number.isFinite(f.y[k]);
      mask[i * nK + k] = ok ? 1 : 0;
      xy[(i * nK + k) * 2] = ok ? f.x[k] : NaN;
      xy[(i * nK + k) * 2 + 1] = ok ? f.y[k] : NaN;
    }
  });
  return {
    images: set.frames.map((f) => imagePath(set, f)),
    frameIndex: Int32Array.from(set.frames, (f) => f.frameIndex ?? -1),
    xy,
    mask,
    keypoints: [...set.keypoints],
  };
}

/** One fold: indices into the frames, each sorted ascending; train and test are disjoint and cover 0..n-1. */
export interface Fold {
  train: Int32Array;
  test: Int32Array;
}

/**
 * k folds of `n` items: a seeded shuffle (same seed, same folds) cut into k test parts whose sizes
 * differ by at most one; each fold trains on the rest. Requires 2 <= k <= n.
 */
export function kFold(n: number, k: number, seed: number): Fold[] {
  if (!Number.isInteger(n) || n < 2) throw new ParamError('n', n, 'an integer >= 2');
  if (!Number.isInteger(k) || k < 2 || k > n) throw new ParamError('k', k, `an integer 2..${n} (the number of items)`);
  const rng = new Rng(seed);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const folds: Fold[] = [];
  for (let f = 0; f < k; f++) {
    const lo = Math.floor((f * n) / k);
    const hi = Math.floor(((f + 1) * n) / k);
    const test = order.slice(lo, hi).sort();
    const inTest = new Uint8Array(n);
    for (const i of test) inTest[i] = 1;
    const train = Int32Array.from({ length: n }, (_, i) => i).filter((i) => !inTest[i]);
    folds.push({ train, test });
  }
  return folds;
}
