/**
 * Facemap's train/test split of a neural recording in time: the recording is cut into evenly
 * spaced segments, and in each segment the first part trains, a few samples are skipped (so that
 * temporally smoothed activity does not leak from train into test), and the rest tests.
 */
import { ParamError } from '../errors';

/** Options of {@link facemapSplit}. */
export interface SplitOptions {
  /** Number of evenly spaced segments (Facemap: 10). */
  segments?: number;
  /** Fraction of each segment, from its start, used for training (Facemap: 0.75). */
  trainFraction?: number;
  /** Samples skipped between the train and the test part of each segment (Facemap: 3). */
  gap?: number;
}

/** Sample indices of a train/test split, both sorted ascending and disjoint. */
export interface Split {
  /** Indices (0-based, into the time axis) of training samples. */
  train: Int32Array;
  /** Indices of test samples. */
  test: Int32Array;
  /** `segments + 1` boundaries: segment s spans samples `bounds[s] .. bounds[s + 1] - 1`. */
  bounds: Int32Array;
}

/**
 * Facemap's split of `nSamples` time points. Segment length is `L = floor(nSamples / segments)`;
 * segment s spans `[s L, (s + 1) L)`, except the last, which also takes the `nSamples mod segments`
 * leftover samples. In each segment of length `n`, samples `[0, floor(n * trainFraction))` train,
 * the next `gap` are unused, and the rest test. Every sample is in at most one of train/test.
 * @throws ParamError when a segment would have no train or no test sample.
 */
export function facemapSplit(nSamples: number, opts: SplitOptions = {}): Split {
  const segments = opts.segments ?? 10;
  const trainFraction = opts.trainFraction ?? 0.75;
  const gap = opts.gap ?? 3;
  if (!Number.isInteger(segments) || segments < 1) throw new ParamError('segments', segments, 'an integer >= 1');
  if (!(trainFraction > 0 && trainFraction < 1)) throw new ParamError('trainFraction', trainFraction, 'a number in (0, 1)');
  if (!Number.isInteger(gap) || gap < 0) throw new ParamError('gap', gap, 'an integer >= 0');
  const segLen = Math.floor(nSamples / segments);
  if (!Number.isInteger(nSamples) || segLen < 1 || Math.floor(segLen * trainFraction) < 1 || segLen - Math.floor(segLen * trainFraction) - gap < 1) {
    throw new ParamError('nSamples', nSamples, `an integer large enough for ${segments} segments each holding >= 1 train sample, a gap of ${gap} and >= 1 test sample`);
  }
  const bounds = new Int32Array(segments + 1);
  for (let s = 0; s < segments; s++) bounds[s] = s * segLen;
  bounds[segments] = nSamples;
  const train: number[] = [];
  const test: number[] = [];
  for (let s = 0; s < segments; s++) {
    const start = bounds[s];
    const end = bounds[s + 1];
    const nTrain = Math.floor((end - start) * trainFraction);
    for (let t = start; t < start + nTrain; t++) train.push(t);
    for (let t = start + nTrain + gap; t < end; t++) test.push(t);
  }
  return { train: Int32Array.from(train), test: Int32Array.from(test), bounds };
}
