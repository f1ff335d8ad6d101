/**
 * Putting behaviour (camera clock, ~50 Hz) and neural activity (~3 Hz) on one time axis.
 *
 * Two conventions, as in Facemap:
 * - deep encoder: behaviour at camera frame t predicts the neural sample after it (`delay = -1`);
 *   latents are taken at the camera frame nearest each neural timestamp ({@link frameToNeural},
 *   {@link nearestCameraFrames}).
 * - linear models: behaviour is Gaussian-smoothed over time with sigma = ceil(nCam / nNeural / 4)
 *   camera frames and linearly interpolated to the neural timestamps ({@link behaviorAtNeuralTimes}).
 */
import { ParamError, ShapeError } from '../errors';
import { facemapSplit, Split, SplitOptions } from '../synth/splits';
import { checkTimestamps } from './recording';

export { facemapSplit };
export type { Split, SplitOptions };

/** Camera frame times, s: `offsetS + f / fps` for f = 0..nFrames-1. */
export function cameraTimes(nFrames: number, fps: number, offsetS = 0): Float64Array {
  if (!Number.isInteger(nFrames) || nFrames < 1) throw new ParamError('nFrames', nFrames, 'an integer >= 1');
  if (!(fps > 0)) throw new ParamError('fps', fps, 'a number > 0 (Hz)');
  return Float64Array.from({ length: nFrames }, (_, f) => offsetS + f / fps);
}

/**
 * Gaussian filter along time of each column of a rows x cols matrix (scipy's gaussian_filter1d:
 * mode 'reflect', kernel truncated at 4 sigma). sigma in samples; 0 returns a copy.
 */
export function gaussianSmoothColumns(data: Float32Array, rows: number, cols: number, sigma: number): Float32Array {
  if (data.length !== rows * cols) throw new ShapeError(`data has ${data.length} values, expected ${rows} x ${cols}`);
  if (!(sigma >= 0)) throw new ParamError('sigma', sigma, 'a number >= 0 (samples)');
  if (sigma === 0) return data.slice();
  const r = Math.floor(4 * sigma + 0.5);
  const w = new Float64Array(2 * r + 1);
  let s = 0;
  for (let k = -r; k <= r; k++) s += w[k + r] = Math.exp((-0.5 * k * k) / (sigma * sigma));
  for (let k = 0; k < w.length; k++) w[k] /= s;
  const reflect = (i: number): number => {
    const period = 2 * rows;
    let j = ((i % period) + period) % period;
    if (j >= rows) j = period - 1 - j;
    return j;
  };
  const out = new Float32Array(rows * cols);
  for (let t = 0; t < rows; t++) {
    for (let k = -r; k <= r; k++) {
      const src = reflect(t + k) * cols;
      const wk = w[k + r];
      for (let c = 0; c < cols; c++) out[t * cols + c] += wk * data[src + c];
    }
  }
  return out;
}

/**
 * Linear interpolation of each column of `data` (rows sampled at ascending `times`) at `at`;
 * values outside the range are held at the first/last row.
 * Shapes: data times.length x cols; result at.length x cols.
 */
export function interpolateRows(data: Float32Array, times: ArrayLike<number>, cols: number, at: ArrayLike<number>): Float32Array {
  const n = times.length;
  if (data.length !== n * cols) throw new ShapeError(`data has ${data.length} values, expected times.length x cols = ${n} x ${cols}`);
  const out = new Float32Array(at.length * cols);
  let j = 0;
  for (let i = 0; i < at.length; i++) {
    const t = at[i];
    while (j < n - 2 && times[j + 1] <= t) j++;
    let a: number;
    let b: number;
    let f: number;
    if (n === 1 || t <= times[0]) [a, b, f] = [0, 0, 0];
    else if (t >= times[n - 1]) [a, b, f] = [n - 1, n - 1, 0];
    else {
      while (j > 0 && times[j] > t) j--;
      [a, b, f] = [j, j + 1, (t - times[j]) / (times[j + 1] - times[j])];
    }
    for (let c = 0; c < cols; c++) out[i * cols + c] = (1 - f) * data[a * cols + c] + f * data[b * cols + c];
  }
  return out;
}

export interface BehaviorAtNeuralOptions {
  /** Gaussian-smooth before interpolating (default true, Facemap's linear models). */
  smooth?: boolean;
  /** Smoothing SD in camera frames (default ceil(nCam / nNeural / 4)). */
  sigma?: number;
}

/**
 * Behaviour resampled at the neural timestamps for linear models: each column Gaussian-smoothed
 * with sigma = ceil(nCam / nNeural / 4) camera frames (Facemap), then linearly interpolated.
 * Shapes: beh camTimes.length x nFeatures (row-major); result neuralTimes.length x nFeatures.
 * Times in s on one clock; both ascending.
 */
export function behaviorAtNeuralTimes(
  beh: Float32Array,
  camTimes: ArrayLike<number>,
  neuralTimes: ArrayLike<number>,
  opts: BehaviorAtNeuralOptions = {},
): Float32Array {
  const nCam = camTimes.length;
  if (nCam < 1 || beh.length % nCam !== 0) throw new ShapeError(`behaviour has ${beh.length} values, not a multiple of ${nCam} camera times`);
  checkTimestamps(camTimes, 'camera', 'camera times');
  checkTimestamps(neuralTimes, 'neural', 'neural times');
  const cols = beh.length / nCam;
  const sigma = opts.sigma ?? Math.ceil(nCam / Math.max(1, neuralTimes.length) / 4);
  const sm = (opts.smooth ?? true) ? gaussianSmoothColumns(beh, nCam, cols, sigma) : beh;
  return interpolateRows(sm, camTimes, cols, neuralTimes);
}

function nearestIndex(times: ArrayLike<number>, t: number, from: number): number {
  let j = from;
  while (j < times.length - 1 && times[j + 1] <= t) j++;
  if (j < times.length - 1 && Math.abs(times[j + 1] - t) < Math.abs(times[j] - t)) return j + 1;
  return j;
}

/** For each neural time, the index of the nearest camera frame (ties: the earlier). Length neuralTimes.length. */
export function nearestCameraFrames(camTimes: ArrayLike<number>, neuralTimes: ArrayLike<number>): Int32Array {
  const out = new Int32Array(neuralTimes.length);
  let j = 0;
  for (let i = 0; i < neuralTimes.length; i++) {
    while (j < camTimes.length - 1 && camTimes[j + 1] <= neuralTimes[i]) j++;
    out[i] = nearestIndex(camTimes, neuralTimes[i], j);
  }
  return out;
}

/**
 * For each camera frame, the neural sample it predicts: the neural sample nearest the frame's time,
 * shifted by `-delay` (Facemap's delay -1: the sample after it), or -1 when that falls outside the
 * recording. Length camTimes.length.
 */
export function frameToNeural(camTimes: ArrayLike<number>, neuralTimes: ArrayLike<number>, delay = -1): Int32Array {
  if (!Number.isInteger(delay)) throw new ParamError('delay', delay, 'an integer (Facemap: -1)');
  const out = new Int32Array(camTimes.length);
  let j = 0;
  for (let f = 0; f < camTimes.length; f++) {
    while (j < neuralTimes.length - 1 && neuralTimes[j + 1] <= camTimes[f]) j++;
    const n = nearestIndex(neuralTimes, camTimes[f], j) - delay;
    out[f] = n >= 0 && n < neuralTimes.length ? n : -1;
  }
  return out;
}

/** Column means and SDs (population) of a rows x cols matrix over `rowIdx` (default all rows). */
export function columnStats(data: Float32Array, rows: number, cols: number, rowIdx?: ArrayLike<number>): { mean: Float64Array; sd: Float64Array } {
  const idx = rowIdx ?? Int32Array.from({ length: rows }, (_, i) => i);
  const mean = new Float64Array(cols);
  const sd = new Float64Array(cols);
  for (let k = 0; k < idx.length; k++) for (let c = 0; c < cols; c++) mean[c] += data[idx[k] * cols + c];
  for (let c = 0; c < cols; c++) mean[c] /= Math.max(1, idx.length);
  for (let k = 0; k < idx.length; k++) for (let c = 0; c < cols; c++) sd[c] += (data[idx[k] * cols + c] - mean[c]) ** 2;
  for (let c = 0; c < cols; c++) sd[c] = Math.sqrt(sd[c] / Math.max(1, idx.length));
  return { mean, sd };
}

/** Z-scored copy of a rows x cols matrix, statistics over `rowIdx` (default all rows); constant columns become 0. */
export function zscoreColumns(data: Float32Array, rows: number, cols: number, rowIdx?: ArrayLike<number>): Float32Array {
  const { mean, sd } = columnStats(data, rows, cols, rowIdx);
  const out = new Float32Array(rows * cols);
  for (let t = 0; t < rows; t++) for (let c = 0; c < cols; c++) out[t * cols + c] = sd[c] > 0 ? (data[t * cols + c] - mean[c]) / sd[c] : 0;
  return out;
}
