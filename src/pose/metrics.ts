/**
 * Keypoint accuracy: Euclidean pixel error between predictions and labels in original-frame
 * pixels, summarised as mean, median and 95th percentile (numpy's linear interpolation), overall
 * and per keypoint, and PCK (percentage of correct keypoints: the fraction with error <= a
 * threshold) at absolute thresholds in pixels and at fractions of a reference size per frame
 * (by default the side of the frame's crop square). Unlabelled (NaN) keypoints are ignored; a NaN
 * prediction of a labelled keypoint counts as an infinite error (a miss).
 */
import { ParamError, ShapeError } from '../errors';

/** Summary of a set of errors. */
export interface ErrorSummary {
  /** Labelled keypoints counted. */
  n: number;
  /** Pixels; NaN when n = 0. */
  mean: number;
  median: number;
  p95: number;
  /** PCK per threshold, keyed '5px', '10px', ... and '0.05ref', ...; fractions 0..1. */
  pck: Record<string, number>;
}

/** Metrics of one prediction set. */
export interface PoseMetrics extends ErrorSummary {
  /** One summary per keypoint, in `keypoints` order. */
  perKeypoint: (ErrorSummary & { keypoint: string })[];
  thresholdsPx: number[];
  fractions: number[];
}

/** Options of {@link poseMetrics}. */
export interface MetricOptions {
  /** Absolute PCK thresholds, px. Default [5, 10]. */
  thresholdsPx?: number[];
  /** PCK thresholds as fractions of the reference size. Default [0.05]. */
  fractions?: number[];
  /** Reference size per frame (px), or one for all. Without it the fraction PCKs are omitted. */
  referenceSize?: number | Float32Array | number[];
}

/** q-th quantile (0..1) of ascending values, linear interpolation; NaN when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  if (sorted[hi] === sorted[lo]) return sorted[lo];
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Errors of every keypoint: [N*K] px, NaN where the label is missing.
 * pred, truth: x and y each [N*K] (frame-major), original-frame pixels.
 */
export function keypointErrors(pred: { x: ArrayLike<number>; y: ArrayLike<number> }, truth: { x: ArrayLike<number>; y: ArrayLike<number> }): Float64Array {
  const m = truth.x.length;
  if (truth.y.length !== m || pred.x.length !== m || pred.y.length !== m) {
    throw new ShapeError(`predictions have ${pred.x.length}/${pred.y.length} values and labels ${truth.x.length}/${truth.y.length}; expected equal`);
  }
  const err = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    if (!Number.isFinite(truth.x[i]) || !Number.isFinite(truth.y[i])) err[i] = NaN;
    else {
      const e = Math.hypot(pred.x[i] - truth.x[i], pred.y[i] - truth.y[i]);
      err[i] = Number.isNaN(e) ? Infinity : e;
    }
  }
  return err;
}

function summarise(errs: number[], refs: number[], thresholdsPx: number[], fractions: number[]): ErrorSummary {
  const sorted = Float64Array.from(errs).sort();
  const n = sorted.length;
  const pck: Record<string, number> = {};
  for (const t of thresholdsPx) pck[`${t}px`] = n ? errs.filter((e) => e <= t).length / n : NaN;
  if (refs.length) for (const f of fractions) pck[`${f}ref`] = n ? errs.filter((e, i) => e <= f * refs[i]).length / n : NaN;
  const mean = n ? sorted.reduce((a, b) => a + b, 0) / n : NaN;
  return { n, mean, median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), pck };
}

/**
 * Metrics of predictions against labels for N frames and K = keypoints.length keypoints;
 * pred/truth x and y [N*K] frame-major, original-frame pixels.
 */
export function poseMetrics(
  pred: { x: ArrayLike<number>; y: ArrayLike<number> },
  truth: { x: ArrayLike<number>; y: ArrayLike<number> },
  keypoints: readonly string[],
  options: MetricOptions = {},
): PoseMetrics {
  const K = keypoints.length;
  const thresholdsPx = options.thresholdsPx ?? [5, 10];
  const fractions = options.fractions ?? [0.05];
  for (const t of [...thresholdsPx, ...fractions]) if (!(t > 0)) throw new ParamError('thresholds', t, 'numbers > 0');
  const err = keypointErrors(pred, truth);
  if (K < 1 || err.length % K !== 0) throw new ShapeError(`${err.length} values are not N x ${K} keypoints`);
  const N = err.length / K;
  const ref = options.referenceSize;
  const refOf = ref === undefined ? null : (i: number): number => (typeof ref === 'number' ? ref : ref[i]);
  if (ref !== undefined && typeof ref !== 'number' && ref.length !== N) throw new ShapeError(`${ref.length} reference sizes for ${N} frames`);
  const all: number[] = [];
  const allRefs: number[] = [];
  const per: { e: number[]; r: number[] }[] = keypoints.map(() => ({ e: [], r: [] }));
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < K; k++) {
      const e = err[i * K + k];
      if (Number.isNaN(e)) continue;
      all.push(e);
      per[k].e.push(e);
      if (refOf) {
        allRefs.push(refOf(i));
        per[k].r.push(refOf(i));
      }
    }
  }
  return {
    ...summarise(all, allRefs, thresholdsPx, fractions),
    perKeypoint: per.map((p, k) => ({ keypoint: keypoints[k], ...summarise(p.e, p.r, thresholdsPx, fractions) })),
    thresholdsPx,
    fractions: refOf ? fractions : [],
  };
}
