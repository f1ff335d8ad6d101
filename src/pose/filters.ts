/**
 * Clean-up of keypoint traces, as Facemap does it when it loads keypoints (facemap.md section 1):
 *
 * 1. Confidence filter (optional): baseline = likelihood - its Gaussian smoothing (sigma 200 frames,
 *    scipy's gaussian_filter1d: reflected edges, kernel truncated at 4 sigma); a frame whose baseline
 *    falls below -8 standard deviations of the baseline (per keypoint) gets x, y = NaN.
 * 2. Outlier filter (optional): x and y become NaN where |x[t] - x[t-1]| or |y[t] - y[t-1]| > 25 px
 *    (a jump), then where |x - m| or |y - m| > 25 px with m the running nan-median over 50 frames
 *    (a spike); then every NaN frame (these and earlier ones) is filled by linear interpolation of
 *    the running nan-median over 15 frames, taken at the frames where both are valid (constant
 *    beyond the first and last).
 * Running nan-medians follow Facemap's `nanmedian_filter`: the window of frame t covers
 * t - floor(w/2) .. t - floor(w/2) + w - 1, the trace extended by repeating its end values.
 *
 * Traces are filtered one keypoint at a time; the raw traces are never modified (new arrays).
 */
import { ParamError, ShapeError } from '../errors';
import type { KeypointTraces } from './labels/types';

/** Settings of the confidence filter. */
export interface ConfidenceFilterConfig {
  /** Gaussian sigma of the likelihood baseline, frames. Default 200. */
  sigma?: number;
  /** Frames whose baseline-subtracted likelihood is below -nStd standard deviations are dropped. Default 8. */
  nStd?: number;
}

/** Settings of the outlier filter. */
export interface OutlierFilterConfig {
  /** Largest frame-to-frame jump in x or y, px. Default 25. */
  maxJump?: number;
  /** Largest distance in x or y from the running nan-median, px. Default 25. */
  maxSpike?: number;
  /** Window of that running nan-median, frames. Default 50. */
  baselineWindow?: number;
  /** Window of the running nan-median that fills dropped frames, frames. Default 15. */
  fillWindow?: number;
}

/** Which filters run, and how; `false` turns one off. */
export interface TraceFilterConfig {
  confidence?: ConfidenceFilterConfig | false;
  outliers?: OutlierFilterConfig | false;
}

/** Facemap's settings. */
export const FILTER_DEFAULTS = {
  confidence: { sigma: 200, nStd: 8 },
  outliers: { maxJump: 25, maxSpike: 25, baselineWindow: 50, fillWindow: 15 },
} as const;

/** The config with defaults filled in; ParamError naming the field for bad values. */
export function resolveFilterConfig(config: TraceFilterConfig = {}): {
  confidence: Required<ConfidenceFilterConfig> | false;
  outliers: Required<OutlierFilterConfig> | false;
} {
  const positive = (field: string, v: number, integer = false) => {
    if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new ParamError(field, v, integer ? 'an integer >= 1' : 'a number > 0');
    return v;
  };
  const c = config.confidence === false ? false : { ...FILTER_DEFAULTS.confidence, ...(config.confidence ?? {}) };
  if (c) {
    positive('confidence.sigma', c.sigma);
    positive('confidence.nStd', c.nStd);
  }
  const o = config.outliers === false ? false : { ...FILTER_DEFAULTS.outliers, ...(config.outliers ?? {}) };
  if (o) {
    positive('outliers.maxJump', o.maxJump);
    positive('outliers.maxSpike', o.maxSpike);
    positive('outliers.baselineWindow', o.baselineWindow, true);
    positive('outliers.fillWindow', o.fillWindow, true);
  }
  return { confidence: c, outliers: o };
}

/**
 * scipy.ndimage.gaussian_filter1d(x, sigma) (mode 'reflect': x[-1-i] = x[i]; kernel radius
 * round(4 sigma)). x: one trace; returns a new Float64Array.
 */
export function gaussianFilter1d(x: ArrayLike<number>, sigma: number): Float64Array {
  const n = x.length;
  const radius = Math.round(4 * sigma);
  const w = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    w[i + radius] = Math.exp((-0.5 * i * i) / (sigma * sigma));
    sum += w[i + radius];
  }
  for (let i = 0; i < w.length; i++) w[i] /= sum;
  const reflect = (j: number): number => {
    // Period 2n: 0..n-1 forwards, then n-1..0 backwards.
    const p = 2 * n;
    let m = j % p;
    if (m < 0) m += p;
    return m < n ? m : p - 1 - m;
  };
  const out = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    let s = 0;
    if (t - radius >= 0 && t + radius < n) {
      for (let i = -radius; i <= radius; i++) s += w[i + radius] * x[t + i];
    } else {
      for (let i = -radius; i <= radius; i++) s += w[i + radius] * x[reflect(t + i)];
    }
    out[t] = s;
  }
  return out;
}

/** k-th smallest of buf[0..n-1] (reorders buf). */
function select(buf: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const p = buf[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (buf[i] < p) i++;
      while (buf[j] > p) j--;
      if (i <= j) {
        const t = buf[i];
        buf[i] = buf[j];
        buf[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return buf[k];
  }
  return buf[k];
}

/**
 * Running nan-median (Facemap's nanmedian_filter): frame t gets the median of the non-NaN values
 * among x[clamp(t - floor(win/2) + i)], i = 0..win-1 (edge values repeated); NaN when all are NaN.
 * Even counts give the mean of the two middle values, as numpy.
 */
export function nanMedianFilter(x: ArrayLike<number>, win: number): Float64Array {
  if (!Number.isInteger(win) || win < 1) throw new ParamError('win', win, 'an integer >= 1');
  const n = x.length;
  const half = Math.floor(win / 2);
  const out = new Float64Array(n);
  const buf = new Float64Array(win);
  for (let t = 0; t < n; t++) {
    let m = 0;
    for (let i = 0; i < win; i++) {
      const j = Math.min(Math.max(t - half + i, 0), n - 1);
      const v = x[j];
      if (!Number.isNaN(v)) buf[m++] = v;
    }
    if (m === 0) {
      out[t] = NaN;
    } else if (m % 2 === 1) {
      out[t] = select(buf, m, (m - 1) / 2);
    } else {
      const a = select(buf, m, m / 2 - 1);
      // After selecting rank m/2 - 1, the next rank is the smallest of the upper part.
      let b = buf[m / 2];
      for (let i = m / 2 + 1; i < m; i++) if (buf[i] < b) b = buf[i];
      out[t] = (a + b) / 2;
    }
  }
  return out;
}

/** Frames (indices) the confidence filter drops for one keypoint's likelihood trace. */
export function confidenceOutliers(likelihood: ArrayLike<number>, config: ConfidenceFilterConfig = {}): boolean[] {
  const { sigma, nStd } = { ...FILTER_DEFAULTS.confidence, ...config };
  const n = likelihood.length;
  const smooth = gaussianFilter1d(likelihood, sigma);
  const base = new Float64Array(n);
  let mean = 0;
  for (let t = 0; t < n; t++) {
    base[t] = likelihood[t] - smooth[t];
    mean += base[t];
  }
  mean /= n;
  let v = 0;
  for (let t = 0; t < n; t++) v += (base[t] - mean) ** 2;
  const threshold = -nStd * Math.sqrt(v / n);
  return Array.from(base, (b) => b < threshold);
}

/** Linear interpolation of (xs, ys) at q, constant beyond the ends (numpy.interp); xs increasing. */
function interp(q: number, xs: number[], ys: Float64Array, from: { i: number }): number {
  const last = xs.length - 1;
  if (q <= xs[0]) return ys[xs[0]];
  if (q >= xs[last]) return ys[xs[last]];
  while (xs[from.i + 1] < q) from.i++;
  const a = xs[from.i];
  const b = xs[from.i + 1];
  return ys[a] + ((ys[b] - ys[a]) * (q - a)) / (b - a);
}

/**
 * Facemap's outlier filter on one keypoint's trace (see the module comment). x, y: nFrames values
 * (NaN = missing); returns new arrays and the number of frames replaced.
 */
export function filterOutliers(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  config: OutlierFilterConfig = {},
): { x: Float64Array; y: Float64Array; replaced: number } {
  const { maxJump, maxSpike, baselineWindow, fillWindow } = { ...FILTER_DEFAULTS.outliers, ...config };
  const n = x.length;
  if (y.length !== n) throw new ShapeError(`x has ${n} frames but y has ${y.length}`);
  const xs = Float64Array.from(x);
  const ys = Float64Array.from(y);
  // Jumps are judged on the raw trace (before any frame is dropped).
  const drop = new Uint8Array(n);
  for (let t = 1; t < n; t++) {
    if (Math.abs(x[t] - x[t - 1]) > maxJump || Math.abs(y[t] - y[t - 1]) > maxJump) drop[t] = 1;
  }
  for (let t = 0; t < n; t++) {
    if (drop[t]) xs[t] = ys[t] = NaN;
  }
  const xb = nanMedianFilter(xs, baselineWindow);
  const yb = nanMedianFilter(ys, baselineWindow);
  for (let t = 0; t < n; t++) {
    if (Math.abs(xs[t] - xb[t]) > maxSpike || Math.abs(ys[t] - yb[t]) > maxSpike) xs[t] = ys[t] = NaN;
  }
  const xf = nanMedianFilter(xs, fillWindow);
  const yf = nanMedianFilter(ys, fillWindow);
  const replace: number[] = [];
  const good: number[] = [];
  for (let t = 0; t < n; t++) {
    if (Number.isNaN(xs[t]) || Number.isNaN(xf[t])) replace.push(t);
    else good.push(t);
  }
  if (replace.length > 0 && good.length > 0) {
    const cx = { i: 0 };
    const cy = { i: 0 };
    for (const t of replace) {
      xs[t] = interp(t, good, xf, cx);
      ys[t] = interp(t, good, yf, cy);
    }
  }
  return { x: xs, y: ys, replaced: replace.length };
}

/** Per-keypoint counts of what {@link filterTraces} changed. */
export interface FilterReport {
  /** Keypoint names, in trace order. */
  keypoints: string[];
  /** Frames set to NaN by the confidence filter, per keypoint. */
  lowConfidence: number[];
  /** Frames replaced by interpolation in the outlier filter (dropped ones and earlier NaNs), per keypoint. */
  replaced: number[];
}

/**
 * Filters every keypoint of `traces` (see the module comment); returns new traces (likelihood
 * unchanged) and a report. The input is not modified.
 */
export function filterTraces(traces: KeypointTraces, config: TraceFilterConfig = {}): { traces: KeypointTraces; report: FilterReport } {
  const cfg = resolveFilterConfig(config);
  const { nFrames, names } = traces;
  const K = names.length;
  for (const f of ['x', 'y', 'likelihood'] as const) {
    if (traces[f].length !== nFrames * K) throw new ShapeError(`traces.${f} has ${traces[f].length} values; expected ${nFrames} x ${K}`);
  }
  const out: KeypointTraces = { names: [...names], nFrames, x: traces.x.slice(), y: traces.y.slice(), likelihood: traces.likelihood.slice() };
  const report: FilterReport = { keypoints: [...names], lowConfidence: [], replaced: [] };
  const col = (a: Float32Array, k: number): Float64Array => {
    const c = new Float64Array(nFrames);
    for (let t = 0; t < nFrames; t++) c[t] = a[t * K + k];
    return c;
  };
  for (let k = 0; k < K; k++) {
    let x = col(traces.x, k);
    let y = col(traces.y, k);
    let low = 0;
    if (cfg.confidence && nFrames > 0) {
      const drop = confidenceOutliers(col(traces.likelihood, k), cfg.confidence);
      drop.forEach((d, t) => {
        if (d) {
          x[t] = y[t] = NaN;
          low++;
        }
      });
    }
    let replaced = 0;
    if (cfg.outliers && nFrames > 0) {
      const r = filterOutliers(x, y, cfg.outliers);
      x = r.x;
      y = r.y;
      replaced = r.replaced;
    }
    for (let t = 0; t < nFrames; t++) {
      out.x[t * K + k] = x[t];
      out.y[t * K + k] = y[t];
    }
    report.lowConfidence.push(low);
    report.replaced.push(replaced);
  }
  return { traces: out, report };
}
