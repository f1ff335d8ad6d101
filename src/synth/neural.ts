/**
 * A simulated two-photon population with known ground truth: which neurons behaviour drives, how
 * much of each neuron's test variance behaviour can explain (the "oracle"), and planted clusters
 * whose behaviour drive and spatial spread follow the paper's headline relation (clusters well
 * predicted from behaviour are spread across cortex; weakly driven ones are compact).
 *
 * Model, per neuron i at neural sample t (all times in seconds, positions in micrometres):
 *
 *   features  F[t, k]  = z-scored latent l, causally exponential-filtered with time constant tau
 *                        (at the camera rate), taken at the camera frame nearest t_n - lag;
 *                        k runs over (latent, tau, lag); columns z-scored over time.
 *   drive     b_i[t]   = (w_i . F[t] - center_i) / sd_i           (unit variance over all t)
 *   internal  h_i[t]   = (u_i . Z[t]) standardized over all t; Z = nInternal OU processes at the
 *                        neural times, unrelated to behaviour
 *   residual  r_i[t]   = sqrt(q) h_i[t] + sqrt(1 - q) e_i[t],  e_i white N(0, 1) private noise,
 *                        (ziggurat variates from the neuron's own Rng stream), q = internalFraction
 *   activity  x_i[t]   = scale_i * (softplus(gain * b_i[t] + offset_i) + alpha_i * r_i[t])
 *   behaviour beh_i[t] = scale_i * softplus(gain * b_i[t] + offset_i)   (the "true behaviour signal")
 *
 * alpha_i >= 0 is solved per neuron (a quadratic, cross term included) so that the oracle VE below
 * equals rho_i on the test samples; scale_i makes var_t(x_i) = 1 over all samples.
 *
 * rho_i, the neuron's planted share of variance due to behaviour, is drawn from a Beta with mean
 * its cluster's drive (background neurons: `backgroundDrive`) and concentration `veConcentration`.
 * Clusters share weights (w, u) up to a per-neuron jitter, so they are coherent in both the
 * behavioural and the internal part.
 *
 * Oracle VE (saved per neuron, `truth/oracle_ve`): on the test samples T of
 * {@link facemapSplit}(nTimepoints) with default options,
 *   oracle_i = 1 - var_T(x_i - beh_i) / var_T(x_i),
 * var_T the population variance (divide by |T|) over test samples, x_i the stored float32
 * activity and beh_i computed in float64. It is the variance explained on test data by the ideal
 * behaviour-only predictor beh_i + mean_T(x_i - beh_i) (Facemap's 1 - MSE / var); by construction
 * it equals rho_i up to float32 rounding (~1e-7), so its distribution over neurons is the planted
 * Beta mixture: mean driveRange-interpolated per cluster, backgroundDrive for the rest.
 *
 * Keypoint-visible oracle (`truth/oracle_ve_visible`): the VE of the ideal predictor that uses
 * only the behaviour the face keypoints show ({@link KEYPOINT_VISIBLE_LATENTS}) within the
 * encoder's +-2 s reach. With the default drive (every latent, filtered up to 10 s) the neurons
 * also follow arousal, running, the paw and slow filters that no keypoint model sees, so no
 * keypoint model can reach the oracle; and since arousal also sets how often whisking starts, the
 * best prediction from the visible behaviour alone has no closed form: it is not computed (NaN).
 * When `drivingLatents` holds only visible latents and every filter fits in the reach
 * ({@link isKeypointVisibleDrive}; the `visible` session preset), beh_i is a function of visible
 * behaviour and the two oracles are the same numbers.
 *
 * Randomness: one master {@link Rng} draws every per-neuron and per-cluster parameter up front, in a
 * fixed order, plus a 32-bit seed per neuron for its private noise; so the output does not depend
 * on the block size used for streaming.
 */
import { ParamError, ShapeError } from '../errors';
import { matmul, matrix } from '../engine/linalg';
import { writeH5 } from '../io/hdf5';
import { clusterSpread } from '../neural/cluster-analysis';
import { Rng } from '../util/random';
import { facemapSplit } from './splits';
import { BehaviorLatents } from './types';

export { facemapSplit } from './splits';
export type { Split, SplitOptions } from './splits';

/**
 * The behaviour latents that the face keypoints used for encoding show: the eye's opening
 * (`pupil`) and lid (`blink`), the whiskers' sweep amplitude (`whisk_amp`), the nose (`sniff`) and
 * the mouth and tongue (`lick`). Not visible: `arousal` and `running` (no keypoint), `whisk_phase`
 * and `whisk_freq` (they advance even when the whiskers rest), and the paw (`paw`, `paw_x`,
 * `paw_y`), whose keypoint encoding leaves out as in the paper.
 */
export const KEYPOINT_VISIBLE_LATENTS: readonly string[] = Object.freeze(['pupil', 'blink', 'whisk_amp', 'sniff', 'lick']);

/** Temporal reach of Facemap's encoder, s: its conv filters span +-2 s (201 frames at 50 Hz). */
export const ENCODER_REACH_S = 2;

/**
 * Whether a population's drive is keypoint-visible: every driving latent is in
 * {@link KEYPOINT_VISIBLE_LATENTS} and every filter holds ~95% of its weight within the encoder's
 * reach (lag + 3 tau <= {@link ENCODER_REACH_S}). Then the oracle is also the keypoint-visible
 * oracle: the ideal predictor needs nothing a keypoint model cannot see.
 */
export function isKeypointVisibleDrive(config: Pick<NeuralConfig, 'drivingLatents' | 'filterTausS' | 'lagsS'>, latentNames: readonly string[]): boolean {
  const driving = config.drivingLatents.length ? config.drivingLatents : latentNames;
  const reach = Math.max(...config.lagsS) + 3 * Math.max(...config.filterTausS);
  return driving.every((n) => KEYPOINT_VISIBLE_LATENTS.includes(n)) && reach <= ENCODER_REACH_S + 1e-9;
}

/** Configuration of {@link simulateNeural}; every field has a default ({@link DEFAULT_NEURAL_CONFIG}). */
export interface NeuralConfig {
  /** Number of neurons (>= 1). */
  nNeurons: number;
  /** Neural sampling rate, Hz (two-photon: ~3). */
  neuralFps: number;
  /** Offset of the neural clock from the camera clock: neural sample n is at delayS + n / neuralFps (s, >= 0). */
  delayS: number;
  /** SD of Gaussian jitter added to each neural timestamp, s; clipped to +-0.25 / neuralFps so times stay increasing. 0 = regular. */
  jitterS: number;
  /** Width and height of the imaged field, um. */
  fieldUm: [number, number];
  /** Number of planted clusters (>= 0). */
  nClusters: number;
  /** Fraction of neurons that belong to a cluster (the rest are background, cluster id -1). */
  clusterFraction: number;
  /** Mean oracle VE (planted rho) of the weakest and of the strongest cluster; clusters in between are evenly spaced. In (0, 1). */
  driveRange: [number, number];
  /** Mean planted rho of background neurons, in (0, 1). */
  backgroundDrive: number;
  /** Concentration of the Beta distribution of rho around its mean (larger = tighter), > 0. */
  veConcentration: number;
  /** Spatial SD (um) of the weakest and of the strongest cluster's Gaussian blob (paper: strong = spread). */
  clusterSigmaUm: [number, number];
  /** SD of per-neuron weight jitter relative to its cluster's (unit-variance) weights, >= 0. */
  clusterWeightJitter: number;
  /**
   * Names of the behaviour latents whose filtered copies drive the neurons; [] (default) = every
   * latent. {@link KEYPOINT_VISIBLE_LATENTS} with short filters gives a drive that face keypoints
   * show whole (the `visible` session preset).
   */
  drivingLatents: string[];
  /** Time constants of the causal exponential filters applied to each latent, s (> 0). */
  filterTausS: number[];
  /** Lags at which filtered latents are sampled before each neural time, s (>= 0). */
  lagsS: number[];
  /** Number of internal (behaviour-unrelated) OU latent processes, >= 1. */
  nInternal: number;
  /** Time constants of the fastest and slowest internal process (geometric spacing), s. */
  internalTausS: [number, number];
  /** Share of each neuron's non-behaviour variance that comes from the shared internal processes (rest: private noise), in [0, 1]. */
  internalFraction: number;
  /** Input gain of the softplus nonlinearity (larger = more rectified), > 0. */
  gain: number;
  /** SD of the per-neuron softplus offset (sets how many neurons sit near threshold), >= 0. */
  offsetSd: number;
  /** Neurons computed and written per block (bounds memory: blockNeurons x nTimepoints float32). */
  blockNeurons: number;
}

/** Defaults: the `paper` population (50,000 neurons at 3 Hz) without its duration. */
export const DEFAULT_NEURAL_CONFIG: Readonly<NeuralConfig> = Object.freeze({
  nNeurons: 50000,
  neuralFps: 3,
  delayS: 0.05,
  jitterS: 0,
  fieldUm: [2000, 2000],
  nClusters: 20,
  clusterFraction: 0.6,
  driveRange: [0.05, 0.6],
  backgroundDrive: 0.1,
  veConcentration: 20,
  clusterSigmaUm: [100, 1500],
  clusterWeightJitter: 0.3,
  drivingLatents: [] as string[],
  filterTausS: [0.1, 1, 10],
  lagsS: [0, 0.5],
  nInternal: 8,
  internalTausS: [1, 30],
  internalFraction: 0.5,
  gain: 1.5,
  offsetSd: 0.5,
  blockNeurons: 512,
}) as Readonly<NeuralConfig>;

/** A named population size and the behaviour duration it is meant for. */
export interface NeuralPreset {
  config: NeuralConfig;
  /** Intended behaviour (and so recording) duration, s. */
  behaviorSeconds: number;
  /** Intended camera rate of the behaviour latents, Hz. */
  cameraFps: number;
  description: string;
}

export type NeuralPresetName = 'tiny' | 'demo' | 'paper';

/** Presets: `tiny` for unit tests (seconds), `demo` for the ~1 minute demo, `paper` for the paper's scale. */
export const NEURAL_PRESETS: Readonly<Record<NeuralPresetName, NeuralPreset>> = Object.freeze({
  tiny: {
    config: { ...DEFAULT_NEURAL_CONFIG, nNeurons: 500, nClusters: 8, blockNeurons: 128 },
    behaviorSeconds: 300,
    cameraFps: 50,
    description: '500 neurons, 5 min at 3 Hz (900 samples): unit tests',
  },
  demo: {
    config: { ...DEFAULT_NEURAL_CONFIG, nNeurons: 5000, nClusters: 20 },
    behaviorSeconds: 1200,
    cameraFps: 50,
    description: '5,000 neurons, 20 min at 3 Hz (3,600 samples): the demo',
  },
  paper: {
    config: { ...DEFAULT_NEURAL_CONFIG },
    behaviorSeconds: 3600,
    cameraFps: 50,
    description: '50,000 neurons, 1 h at 3 Hz (10,800 samples) from 50 Hz behaviour (180,000 frames): paper scale',
  },
});

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function checkPair(field: string, v: unknown, ok: (x: number) => boolean, expected: string, ordered: boolean): void {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => isNum(x) && ok(x)) || (ordered && v[0] > v[1])) {
    throw new ParamError(field, v, `[a, b] with ${expected}${ordered ? ', a <= b' : ''}`);
  }
}

/**
 * Full, validated configuration: `input` (a preset name or a partial config) over the defaults.
 * @throws ParamError naming the first invalid field, its value and the allowed range.
 */
export function resolveNeuralConfig(input: Partial<NeuralConfig> | NeuralPresetName = {}): NeuralConfig {
  let partial: Partial<NeuralConfig>;
  if (typeof input === 'string') {
    if (!(input in NEURAL_PRESETS)) throw new ParamError('preset', input, Object.keys(NEURAL_PRESETS).join(' | '));
    partial = NEURAL_PRESETS[input].config;
  } else {
    partial = input;
  }
  const c: NeuralConfig = { ...DEFAULT_NEURAL_CONFIG, ...partial };
  const int = (f: keyof NeuralConfig, min: number) => {
    const v = c[f];
    if (!Number.isInteger(v) || (v as number) < min) throw new ParamError(f, v, `an integer >= ${min}`);
  };
  const num = (f: keyof NeuralConfig, ok: (x: number) => boolean, expected: string) => {
    const v = c[f];
    if (!isNum(v) || !ok(v)) throw new ParamError(f, v, expected);
  };
  int('nNeurons', 1);
  num('neuralFps', (x) => x > 0, 'a number > 0 (Hz)');
  num('delayS', (x) => x >= 0, 'a number >= 0 (s)');
  num('jitterS', (x) => x >= 0, 'a number >= 0 (s)');
  checkPair('fieldUm', c.fieldUm, (x) => x > 0, 'a, b > 0 (um)', false);
  int('nClusters', 0);
  num('clusterFraction', (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  if (c.nClusters === 0 && c.clusterFraction > 0) throw new ParamError('clusterFraction', c.clusterFraction, '0 when nClusters is 0');
  checkPair('driveRange', c.driveRange, (x) => x > 0 && x < 1, '0 < a, b < 1', true);
  num('backgroundDrive', (x) => x > 0 && x < 1, 'a number in (0, 1)');
  num('veConcentration', (x) => x > 0, 'a number > 0');
  checkPair('clusterSigmaUm', c.clusterSigmaUm, (x) => x > 0, 'a, b > 0 (um)', false);
  num('clusterWeightJitter', (x) => x >= 0, 'a number >= 0');
  if (!Array.isArray(c.drivingLatents) || !c.drivingLatents.every((x) => typeof x === 'string' && x.length > 0) || new Set(c.drivingLatents).size !== c.drivingLatents.length) {
    throw new ParamError('drivingLatents', c.drivingLatents, 'a list of distinct latent names ([] = all latents)');
  }
  if (!Array.isArray(c.filterTausS) || c.filterTausS.length < 1 || !c.filterTausS.every((x) => isNum(x) && x > 0)) {
    throw new ParamError('filterTausS', c.filterTausS, 'one or more time constants > 0 (s)');
  }
  if (!Array.isArray(c.lagsS) || c.lagsS.length < 1 || !c.lagsS.every((x) => isNum(x) && x >= 0)) {
    throw new ParamError('lagsS', c.lagsS, 'one or more lags >= 0 (s)');
  }
  int('nInternal', 1);
  checkPair('internalTausS', c.internalTausS, (x) => x > 0, 'a, b > 0 (s)', true);
  num('internalFraction', (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  num('gain', (x) => x > 0, 'a number > 0');
  num('offsetSd', (x) => x >= 0, 'a number >= 0');
  int('blockNeurons', 1);
  return c;
}

/** Progress of {@link simulateNeural}: `done` of `total` neurons written. */
export interface NeuralProgress {
  done: number;
  total: number;
}

export interface SimulateNeuralOptions {
  /** Called after each block of neurons is written; throwing (or rejecting) aborts and leaves no file. */
  onProgress?: (p: NeuralProgress) => void | Promise<void>;
}

/** What {@link simulateNeural} wrote. */
export interface NeuralSummary {
  file: string;
  nNeurons: number;
  nTimepoints: number;
  neuralFps: number;
  seed: number;
  /** Mean over neurons of the oracle VE. */
  oracleVeMean: number;
  /** Mean keypoint-visible oracle VE: the oracle's when the drive is keypoint-visible ({@link isKeypointVisibleDrive}), else NaN (not known). */
  oracleVeVisibleMean: number;
  /** Planted mean rho per cluster (length nClusters). */
  clusterDrive: Float32Array;
}

/** Ground truth and activity of a small simulation held in memory ({@link simulateNeuralInMemory}). */
export interface NeuralSimulation {
  config: NeuralConfig;
  seed: number;
  nNeurons: number;
  nTimepoints: number;
  /** nNeurons x nTimepoints, row-major, a.u. (about unit variance per neuron). */
  activity: Float32Array;
  /** nTimepoints neural sample times on the camera clock, s. */
  timestamps: Float64Array;
  /** nNeurons x 2 (x, y), um. */
  positions: Float32Array;
  /** nNeurons cluster ids, -1 for background. */
  cluster: Int32Array;
  /** nNeurons oracle VE (see module doc). */
  oracleVe: Float32Array;
  /** nNeurons planted rho (behaviour share of variance). */
  plantedVe: Float32Array;
  /** nClusters planted mean rho. */
  clusterDrive: Float32Array;
  /** nClusters spatial SD, um. */
  clusterSigmaUm: Float32Array;
  /** nClusters x 2 cluster centres, um. */
  clusterCenterUm: Float32Array;
  /** nTimepoints x nFeatures F, z-scored columns. */
  features: Float32Array;
  featureNames: string[];
  /** nTimepoints x nInternal Z, unit-variance internal processes. */
  internal: Float32Array;
  /** nNeurons x nFeatures behaviour weights w. */
  behaviorWeights: Float32Array;
  /** nNeurons: center_i, sd_i, offset_i, scale_i of the module doc. */
  behaviorCenter: Float32Array;
  behaviorSd: Float32Array;
  offset: Float32Array;
  scale: Float32Array;
}

/** Everything drawn before the neuron blocks are computed. */
interface Prepared {
  config: NeuralConfig;
  seed: number;
  N: number;
  T: number;
  K: number;
  R: number;
  timestamps: Float64Array;
  features: Float32Array;
  featureNames: string[];
  internal: Float32Array;
  positions: Float32Array;
  cluster: Int32Array;
  plantedVe: Float32Array;
  behaviorWeights: Float32Array;
  internalWeights: Float32Array;
  offset: Float32Array;
  noiseSeeds: Uint32Array;
  clusterDrive: Float32Array;
  clusterSigmaUm: Float32Array;
  clusterCenterUm: Float32Array;
  testIdx: Int32Array;
}

/** One computed block of neurons. */
interface Block {
  activity: Float32Array;
  oracleVe: Float32Array;
  behaviorCenter: Float32Array;
  behaviorSd: Float32Array;
  scale: Float32Array;
}

function checkLatents(latents: BehaviorLatents): void {
  const L = latents.names.length;
  if (!(latents.fps > 0)) throw new ParamError('latents.fps', latents.fps, 'a number > 0 (Hz)');
  if (!Number.isInteger(latents.nFrames) || latents.nFrames < 2) throw new ParamError('latents.nFrames', latents.nFrames, 'an integer >= 2');
  if (L < 1) throw new ParamError('latents.names', latents.names, 'one or more latent names');
  if (latents.data.length !== latents.nFrames * L) {
    throw new ShapeError(`latents.data has ${latents.data.length} values, expected nFrames x names.length = ${latents.nFrames} x ${L}`);
  }
}

/** Neural timestamps on the camera clock (s) within the behaviour recording. */
function neuralTimestamps(c: NeuralConfig, durationS: number, rng: Rng): Float64Array {
  const period = 1 / c.neuralFps;
  const maxJit = 0.25 * period;
  const out: number[] = [];
  for (let n = 0; ; n++) {
    const base = c.delayS + n * period;
    if (base > durationS) break;
    const j = c.jitterS > 0 ? Math.max(-maxJit, Math.min(maxJit, c.jitterS * rng.normal())) : 0;
    const t = Math.max(0, base + j);
    if (t > durationS) break;
    out.push(t);
  }
  return Float64Array.from(out);
}

/** Z-scores each column of a rows x cols row-major float64 matrix in place (constant columns -> 0). */
function zscoreColumns(a: Float64Array, rows: number, cols: number): void {
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let i = 0; i < rows; i++) s += a[i * cols + j];
    const m = s / rows;
    let v = 0;
    for (let i = 0; i < rows; i++) v += (a[i * cols + j] - m) ** 2;
    const sd = Math.sqrt(v / rows);
    for (let i = 0; i < rows; i++) a[i * cols + j] = sd > 0 ? (a[i * cols + j] - m) / sd : 0;
  }
}

/** Feature matrix F (T x K) and its column names. */
function behaviourFeatures(latents: BehaviorLatents, c: NeuralConfig, ts: Float64Array): { F: Float32Array; names: string[] } {
  const { nFrames, fps } = latents;
  const L = latents.names.length;
  const T = ts.length;
  for (const n of c.drivingLatents) if (!latents.names.includes(n)) throw new ParamError('drivingLatents', n, `names of the behaviour latents: ${latents.names.join(', ')}`);
  const driving = latents.names.map((n) => c.drivingLatents.length === 0 || c.drivingLatents.includes(n));
  const K = driving.filter(Boolean).length * c.filterTausS.length * c.lagsS.length;
  const F = new Float64Array(T * K);
  const names: string[] = [];
  const x = new Float64Array(nFrames);
  const y = new Float64Array(nFrames);
  let k = 0;
  for (let l = 0; l < L; l++) {
    if (!driving[l]) continue;
    for (let f = 0; f < nFrames; f++) x[f] = latents.data[f * L + l];
    zscoreColumns(x, nFrames, 1);
    for (const tau of c.filterTausS) {
      const a = Math.exp(-1 / (fps * tau));
      y[0] = x[0];
      for (let f = 1; f < nFrames; f++) y[f] = a * y[f - 1] + (1 - a) * x[f];
      for (const lag of c.lagsS) {
        for (let t = 0; t < T; t++) {
          const frame = Math.min(nFrames - 1, Math.max(0, Math.round((ts[t] - lag) * fps)));
          F[t * K + k] = y[frame];
        }
        names.push(`${latents.names[l]}|tau=${tau}s|lag=${lag}s`);
        k++;
      }
    }
  }
  zscoreColumns(F, T, K);
  return { F: Float32Array.from(F), names };
}

/** nInternal unit-variance OU processes at the neural times (T x R), time constants geometric in internalTausS. */
function internalProcesses(c: NeuralConfig, ts: Float64Array, rng: Rng): Float32Array {
  const T = ts.length;
  const R = c.nInternal;
  const [t0, t1] = c.internalTausS;
  const Z = new Float64Array(T * R);
  for (let r = 0; r < R; r++) {
    const tau = R === 1 ? t0 : t0 * (t1 / t0) ** (r / (R - 1));
    let z = rng.normal();
    for (let t = 0; t < T; t++) {
      if (t > 0) {
        const a = Math.exp(-(ts[t] - ts[t - 1]) / tau);
        z = a * z + Math.sqrt(1 - a * a) * rng.normal();
      }
      Z[t * R + r] = z;
    }
  }
  zscoreColumns(Z, T, R);
  return Float32Array.from(Z);
}

/** Gamma(shape, 1) variate (Marsaglia & Tsang; shape < 1 by the U^(1/shape) boost). */
function gamma(rng: Rng, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * rng.uniform() ** (1 / shape);
  const d = shape - 1 / 3;
  const cc = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + cc * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.uniform();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

function beta(rng: Rng, mean: number, concentration: number): number {
  const a = gamma(rng, mean * concentration);
  const b = gamma(rng, (1 - mean) * concentration);
  return a / (a + b);
}

/** Reflects v into [0, size] (a Gaussian blob near an edge folds back inside the field). */
function reflect(v: number, size: number): number {
  const p = 2 * size;
  let r = ((v % p) + p) % p;
  if (r > size) r = p - r;
  return r;
}

function prepare(latents: BehaviorLatents, config: Partial<NeuralConfig> | NeuralPresetName, seed: number): Prepared {
  const c = resolveNeuralConfig(config);
  checkLatents(latents);
  if (!Number.isInteger(seed)) throw new ParamError('seed', seed, 'an integer');
  const rng = new Rng(seed);
  const durationS = (latents.nFrames - 1) / latents.fps;
  const timestamps = neuralTimestamps(c, durationS, rng);
  const T = timestamps.length;
  let testIdx: Int32Array;
  try {
    testIdx = facemapSplit(T).test;
  } catch {
    throw new ParamError('latents.nFrames', latents.nFrames, `a recording long enough for >= 10 x 6 neural samples at ${c.neuralFps} Hz after a delay of ${c.delayS} s (got ${T})`);
  }
  const { F, names } = behaviourFeatures(latents, c, timestamps);
  const K = names.length;
  const R = c.nInternal;
  const internal = internalProcesses(c, timestamps, rng);
  const N = c.nNeurons;
  const C = c.nClusters;
  const [fw, fh] = c.fieldUm;

  const clusterDrive = new Float32Array(C);
  const clusterSigmaUm = new Float32Array(C);
  const clusterCenterUm = new Float32Array(2 * C);
  const clusterW = new Float32Array(C * K);
  const clusterU = new Float32Array(C * R);
  for (let k = 0; k < C; k++) {
    const frac = C === 1 ? 1 : k / (C - 1);
    clusterDrive[k] = c.driveRange[0] + frac * (c.driveRange[1] - c.driveRange[0]);
    clusterSigmaUm[k] = c.clusterSigmaUm[0] + frac * (c.clusterSigmaUm[1] - c.clusterSigmaUm[0]);
    clusterCenterUm[2 * k] = fw * (0.15 + 0.7 * rng.uniform());
    clusterCenterUm[2 * k + 1] = fh * (0.15 + 0.7 * rng.uniform());
    rng.fillNormal(clusterW.subarray(k * K, (k + 1) * K));
    rng.fillNormal(clusterU.subarray(k * R, (k + 1) * R));
  }

  // Membership: equal-sized clusters over a random permutation of the neurons.
  const nClustered = Math.round(N * c.clusterFraction);
  const cluster = new Int32Array(N);
  for (let i = 0; i < N; i++) cluster[i] = i < nClustered ? i % C : -1;
  for (let i = N - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = cluster[i];
    cluster[i] = cluster[j];
    cluster[j] = t;
  }

  const positions = new Float32Array(2 * N);
  const plantedVe = new Float32Array(N);
  const behaviorWeights = new Float32Array(N * K);
  const internalWeights = new Float32Array(N * R);
  const offset = new Float32Array(N);
  const noiseSeeds = new Uint32Array(N);
  const jit = c.clusterWeightJitter;
  for (let i = 0; i < N; i++) {
    const k = cluster[i];
    const w = behaviorWeights.subarray(i * K, (i + 1) * K);
    const u = internalWeights.subarray(i * R, (i + 1) * R);
    rng.fillNormal(w);
    rng.fillNormal(u);
    let mean: number;
    if (k >= 0) {
      positions[2 * i] = reflect(clusterCenterUm[2 * k] + clusterSigmaUm[k] * rng.normal(), fw);
      positions[2 * i + 1] = reflect(clusterCenterUm[2 * k + 1] + clusterSigmaUm[k] * rng.normal(), fh);
      for (let j = 0; j < K; j++) w[j] = clusterW[k * K + j] + jit * w[j];
      for (let j = 0; j < R; j++) u[j] = clusterU[k * R + j] + jit * u[j];
      mean = clusterDrive[k];
    } else {
      positions[2 * i] = fw * rng.uniform();
      positions[2 * i + 1] = fh * rng.uniform();
      mean = c.backgroundDrive;
    }
    plantedVe[i] = Math.min(0.995, Math.max(0.002, beta(rng, mean, c.veConcentration)));
    offset[i] = c.offsetSd * rng.normal();
    noiseSeeds[i] = rng.nextUint32();
  }
  return {
    config: c, seed, N, T, K, R, timestamps, features: F, featureNames: names, internal, positions, cluster, plantedVe,
    behaviorWeights, internalWeights, offset, noiseSeeds, clusterDrive, clusterSigmaUm, clusterCenterUm, testIdx,
  };
}

const SOFTPLUS_LIM = 20;
const SOFTPLUS_STEP = 1 / 256;
const SOFTPLUS_TABLE = Float64Array.from({ length: 2 * SOFTPLUS_LIM / SOFTPLUS_STEP + 2 }, (_, k) => Math.log1p(Math.exp(k * SOFTPLUS_STEP - SOFTPLUS_LIM)));

/**
 * log(1 + e^z) by linear interpolation in a table on [-20, 20] (step 1/256; absolute error
 * < 5e-7, below float32 resolution of the activity), exact outside it. ~10x faster than
 * Math.log1p(Math.exp(z)), which dominated the paper-scale run.
 */
function softplus(z: number): number {
  if (z >= SOFTPLUS_LIM) return z + Math.exp(-z);
  if (z <= -SOFTPLUS_LIM) return Math.exp(z);
  const u = (z + SOFTPLUS_LIM) / SOFTPLUS_STEP;
  const k = Math.floor(u);
  const f = u - k;
  return SOFTPLUS_TABLE[k] + f * (SOFTPLUS_TABLE[k + 1] - SOFTPLUS_TABLE[k]);
}

/** Ziggurat tables (Marsaglia & Tsang 2000, 128 layers) for {@link fillNormalZiggurat}. */
const ZIG_R = 3.442619855899;
const ZIG = (() => {
  const kn = new Float64Array(128);
  const wn = new Float64Array(128);
  const fn = new Float64Array(128);
  const m1 = 2147483648;
  const vn = 9.91256303526217e-3;
  let dn = ZIG_R;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  kn[0] = (dn / q) * m1;
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = (dn / tn) * m1;
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
  return { kn, wn, fn };
})();

/** Uniform in (0, 1) from one 32-bit draw. */
function uni32(rng: Rng): number {
  return (rng.nextUint32() + 0.5) * 2.3283064365386963e-10;
}

/**
 * Fills `out` with standard normal variates by the ziggurat method on `rng`'s 32-bit stream (one
 * draw per variate ~99% of the time): ~4x faster than Box-Muller for the private noise, which is
 * most of the random numbers of a session.
 */
export function fillNormalZiggurat(rng: Rng, out: Float64Array): void {
  const { kn, wn, fn } = ZIG;
  for (let t = 0; t < out.length; t++) {
    let hz = rng.nextUint32() | 0;
    let iz = hz & 127;
    if (Math.abs(hz) < kn[iz]) {
      out[t] = hz * wn[iz];
      continue;
    }
    for (;;) {
      if (iz === 0) {
        let x: number;
        let y: number;
        do {
          x = -Math.log(uni32(rng)) / ZIG_R;
          y = -Math.log(uni32(rng));
        } while (y + y < x * x);
        out[t] = hz > 0 ? ZIG_R + x : -ZIG_R - x;
        break;
      }
      const x = hz * wn[iz];
      if (fn[iz] + uni32(rng) * (fn[iz - 1] - fn[iz]) < Math.exp(-0.5 * x * x)) {
        out[t] = x;
        break;
      }
      hz = rng.nextUint32() | 0;
      iz = hz & 127;
      if (Math.abs(hz) < kn[iz]) {
        out[t] = hz * wn[iz];
        break;
      }
    }
  }
}

/** Mean and population SD of `n` values of `a` starting at `o`. */
function meanSd(a: Float32Array, o: number, n: number): [number, number] {
  let s = 0;
  for (let t = 0; t < n; t++) s += a[o + t];
  const m = s / n;
  let v = 0;
  for (let t = 0; t < n; t++) v += (a[o + t] - m) ** 2;
  return [m, Math.sqrt(v / n)];
}

/** 1 - var_T(x - scale beh) / var_T(x) over the test samples, x = activity[o .. o + T). */
function oracleOnTest(activity: Float32Array, o: number, beh: Float64Array, scale: number, test: Int32Array): number {
  let xs = 0;
  let rs = 0;
  for (const t of test) {
    xs += activity[o + t];
    rs += activity[o + t] - scale * beh[t];
  }
  const xm = xs / test.length;
  const rm = rs / test.length;
  let xv = 0;
  let rv = 0;
  for (const t of test) {
    xv += (activity[o + t] - xm) ** 2;
    rv += (activity[o + t] - scale * beh[t] - rm) ** 2;
  }
  return xv > 0 ? 1 - rv / xv : 0;
}

/** Activity and truth of neurons i0 .. i1-1 (two matmuls on ONNX Runtime, the rest per neuron). */
function computeBlock(p: Prepared, i0: number, i1: number): Block {
  const { T, K, R, config: c } = p;
  const B = i1 - i0;
  const drive = matmul(matrix(B, K, p.behaviorWeights.subarray(i0 * K, i1 * K)), matrix(T, K, p.features), { transposeB: true }).data;
  const hid = matmul(matrix(B, R, p.internalWeights.subarray(i0 * R, i1 * R)), matrix(T, R, p.internal), { transposeB: true }).data;
  const activity = new Float32Array(B * T);
  const oracleVe = new Float32Array(B);
  const behaviorCenter = new Float32Array(B);
  const behaviorSd = new Float32Array(B);
  const scale = new Float32Array(B);
  const beh = new Float64Array(T);
  const res = new Float64Array(T);
  const q = c.internalFraction;
  const test = p.testIdx;
  const nTest = test.length;
  for (let b = 0; b < B; b++) {
    const i = i0 + b;
    const o = b * T;
    const [dm, dsRaw] = meanSd(drive, o, T);
    behaviorCenter[b] = dm;
    behaviorSd[b] = dsRaw > 0 ? dsRaw : 1;
    const center = behaviorCenter[b];
    const sdF = behaviorSd[b];
    const g = c.gain / sdF;
    const off = p.offset[i] - g * center;
    for (let t = 0; t < T; t++) beh[t] = softplus(g * drive[o + t] + off);
    const [hm, hsRaw] = meanSd(hid, o, T);
    const hs = hsRaw > 0 ? hsRaw : 1;
    const aInt = Math.sqrt(q);
    const aNoise = Math.sqrt(1 - q);
    fillNormalZiggurat(new Rng(p.noiseSeeds[i]), res);
    const hg = aInt / hs;
    for (let t = 0; t < T; t++) res[t] = hg * (hid[o + t] - hm) + aNoise * res[t];
    // Residual amplitude alpha solving var_T(r) alpha^2 = (1 - rho) var_T(beh + alpha r) on the
    // test samples, so that the oracle VE there is rho (the cross term var_T misses is kept).
    let bs = 0;
    let rs = 0;
    for (const t of test) {
      bs += beh[t];
      rs += res[t];
    }
    const bm = bs / nTest;
    const rm = rs / nTest;
    let vb = 0;
    let vr = 0;
    let cbr = 0;
    for (const t of test) {
      vb += (beh[t] - bm) ** 2;
      vr += (res[t] - rm) ** 2;
      cbr += (beh[t] - bm) * (res[t] - rm);
    }
    vb /= nTest;
    vr /= nTest;
    cbr /= nTest;
    const rho = p.plantedVe[i];
    const alpha = vb > 1e-12 && vr > 0 ? ((1 - rho) * cbr + Math.sqrt((1 - rho) ** 2 * cbr * cbr + rho * (1 - rho) * vr * vb)) / (rho * vr) : 1;
    let xs = 0;
    for (let t = 0; t < T; t++) {
      res[t] = beh[t] + alpha * res[t];
      xs += res[t];
    }
    const xm = xs / T;
    let xv = 0;
    for (let t = 0; t < T; t++) xv += (res[t] - xm) ** 2;
    const sc = xv > 0 ? 1 / Math.sqrt(xv / T) : 1;
    scale[b] = sc;
    for (let t = 0; t < T; t++) activity[o + t] = sc * res[t];
    oracleVe[b] = oracleOnTest(activity, o, beh, sc, test);
  }
  return { activity, oracleVe, behaviorCenter, behaviorSd, scale };
}

/**
 * Simulates the whole population in memory (small cases, tests, notebooks): same numbers as
 * {@link simulateNeural} writes for the same latents, config and seed.
 * @param latents behaviour at the camera rate (nFrames x nLatents).
 * @throws ParamError for an invalid config, seed, or a recording too short for the split.
 */
export function simulateNeuralInMemory(latents: BehaviorLatents, config: Partial<NeuralConfig> | NeuralPresetName, seed: number): NeuralSimulation {
  const p = prepare(latents, config, seed);
  const { N, T } = p;
  const activity = new Float32Array(N * T);
  const oracleVe = new Float32Array(N);
  const behaviorCenter = new Float32Array(N);
  const behaviorSd = new Float32Array(N);
  const scale = new Float32Array(N);
  for (let i0 = 0; i0 < N; i0 += p.config.blockNeurons) {
    const i1 = Math.min(N, i0 + p.config.blockNeurons);
    const blk = computeBlock(p, i0, i1);
    activity.set(blk.activity, i0 * T);
    oracleVe.set(blk.oracleVe, i0);
    behaviorCenter.set(blk.behaviorCenter, i0);
    behaviorSd.set(blk.behaviorSd, i0);
    scale.set(blk.scale, i0);
  }
  return {
    config: p.config, seed, nNeurons: N, nTimepoints: T, activity, timestamps: p.timestamps, positions: p.positions,
    cluster: p.cluster, oracleVe, plantedVe: p.plantedVe, clusterDrive: p.clusterDrive, clusterSigmaUm: p.clusterSigmaUm,
    clusterCenterUm: p.clusterCenterUm, features: p.features, featureNames: p.featureNames, internal: p.internal,
    behaviorWeights: p.behaviorWeights, behaviorCenter, behaviorSd, offset: p.offset, scale,
  };
}

/**
 * Simulates the population and streams it to the HDF5 file `outFile` block by block (memory:
 * one block of `blockNeurons` x nTimepoints plus the nTimepoints x nFeatures features, never the
 * whole activity). Written atomically: on any error, or a throw from `onProgress`, no file is left.
 *
 * File layout (N neurons, T neural samples, K features, R internal processes, C clusters):
 * - `/neural/activity`         float32 N x T, neurons x time (Facemap's order), chunked by whole
 *                              rows (blocks of neurons read and write contiguously), a.u.
 * - `/neural/timestamps`       float64 T, s on the camera clock (camera frame f is at f / fps)
 * - `/neural/positions`        float32 N x 2, (x, y) um
 * - `/truth/cluster`           int32 N, planted cluster id, -1 for background
 * - `/truth/oracle_ve`         float32 N, oracle VE on Facemap's default test split (module doc)
 * - `/truth/oracle_ve_visible` float32 N, the keypoint-visible oracle (module doc): oracle_ve
 *                              when the drive is keypoint-visible, else NaN; root attr
 *                              `keypoint_visible_drive` 1 or 0
 * - `/truth/planted_ve`        float32 N, rho_i
 * - `/truth/cluster_drive`     float32 C, planted mean rho per cluster
 * - `/truth/cluster_sigma_um`  float32 C; `/truth/cluster_center_um` float32 C x 2
 * - `/truth/test_index`        int32, the test samples the oracle used
 * - to recompute beh_i (module doc): `/truth/features` float32 T x K (attr `names`: JSON list),
 *   `/truth/behavior_weights` float32 N x K, `/truth/behavior_center`, `/truth/behavior_sd`,
 *   `/truth/offset`, `/truth/scale` float32 N; root attr `gain`. `/truth/internal` float32 T x R.
 * - root attrs: `neural_fps`, `camera_fps`, `n_frames` (behaviour), `seed`, `config` (JSON),
 *   `generator` ('facemap-ts synth/neural v1').
 * @param latents behaviour at the camera rate (nFrames x nLatents).
 * @param seed integer; same latents, config and seed give identical datasets.
 */
export async function simulateNeural(
  latents: BehaviorLatents,
  config: Partial<NeuralConfig> | NeuralPresetName,
  outFile: string,
  seed: number,
  opts: SimulateNeuralOptions = {},
): Promise<NeuralSummary> {
  const p = prepare(latents, config, seed);
  const { N, T, K, R } = p;
  const C = p.config.nClusters;
  const oracleVe = new Float32Array(N);
  const behaviorCenter = new Float32Array(N);
  const behaviorSd = new Float32Array(N);
  const scale = new Float32Array(N);
  const visible = isKeypointVisibleDrive(p.config, latents.names);
  await writeH5(outFile, async (w) => {
    w.setAttr('/', 'generator', 'facemap-ts synth/neural v1');
    w.setAttr('/', 'neural_fps', p.config.neuralFps);
    w.setAttr('/', 'camera_fps', latents.fps);
    w.setAttr('/', 'n_frames', latents.nFrames);
    w.setAttr('/', 'seed', seed);
    w.setAttr('/', 'gain', p.config.gain);
    w.setAttr('/', 'config', JSON.stringify(p.config));
    w.writeDataset('/neural/timestamps', p.timestamps, [T]);
    w.writeDataset('/neural/positions', p.positions, [N, 2]);
    const rowsPerChunk = Math.max(1, Math.min(N, Math.floor((1 << 20) / (4 * T))));
    const act = w.createDataset('/neural/activity', [N, T], 'float32', { chunks: [rowsPerChunk, T] });
    for (let i0 = 0; i0 < N; i0 += p.config.blockNeurons) {
      const i1 = Math.min(N, i0 + p.config.blockNeurons);
      const blk = computeBlock(p, i0, i1);
      act.writeRows(i0, blk.activity);
      oracleVe.set(blk.oracleVe, i0);
      behaviorCenter.set(blk.behaviorCenter, i0);
      behaviorSd.set(blk.behaviorSd, i0);
      scale.set(blk.scale, i0);
      await opts.onProgress?.({ done: i1, total: N });
      await new Promise<void>((r) => setImmediate(r));
    }
    w.writeDataset('/truth/cluster', p.cluster, [N]);
    w.writeDataset('/truth/oracle_ve', oracleVe, [N]);
    w.setAttr('/', 'keypoint_visible_drive', visible ? 1 : 0);
    w.writeDataset('/truth/oracle_ve_visible', visible ? oracleVe : new Float32Array(N).fill(NaN), [N]);
    w.writeDataset('/truth/planted_ve', p.plantedVe, [N]);
    w.writeDataset('/truth/cluster_drive', p.clusterDrive, [C]);
    w.writeDataset('/truth/cluster_sigma_um', p.clusterSigmaUm, [C]);
    w.writeDataset('/truth/cluster_center_um', p.clusterCenterUm, [C, 2]);
    w.writeDataset('/truth/test_index', p.testIdx, [p.testIdx.length]);
    w.writeDataset('/truth/features', p.features, [T, K]);
    w.setAttr('/truth/features', 'names', JSON.stringify(p.featureNames));
    w.writeDataset('/truth/internal', p.internal, [T, R]);
    w.writeDataset('/truth/behavior_weights', p.behaviorWeights, [N, K]);
    w.writeDataset('/truth/behavior_center', behaviorCenter, [N]);
    w.writeDataset('/truth/behavior_sd', behaviorSd, [N]);
    w.writeDataset('/truth/offset', p.offset, [N]);
    w.writeDataset('/truth/scale', scale, [N]);
  });
  let s = 0;
  for (const v of oracleVe) s += v;
  return { file: outFile, nNeurons: N, nTimepoints: T, neuralFps: p.config.neuralFps, seed, oracleVeMean: s / N, oracleVeVisibleMean: visible ? s / N : NaN, clusterDrive: p.clusterDrive };
}

/**
 * Spatial spread of a group of neurons, as in the paper: the discrete KL divergence (nats) of the
 * group's (x, y) positions against all neurons' positions, both histogrammed in square bins of
 * `binUm` um laid from the minimum x and y of all neurons. Lower = more spread (0 = the group is
 * distributed like the whole population).
 * @param positions N x 2 (x, y) um, row-major.
 * @param members indices of the group's neurons (0..N-1; a repeated index counts once). Computed by
 *   the analysis's {@link clusterSpread} with the group as its only cluster.
 */
export function spatialSpreadKL(positions: ArrayLike<number>, members: ArrayLike<number>, binUm = 200): number {
  if (positions.length % 2 !== 0) throw new ShapeError(`positions has ${positions.length} values: expected N x 2`);
  const N = positions.length / 2;
  if (members.length === 0) throw new ParamError('members', [], 'one or more neuron indices');
  const labels = new Int32Array(N).fill(-1);
  for (const i of Array.from(members)) {
    if (!Number.isInteger(i) || i < 0 || i >= N) throw new ParamError('members', i, `indices in 0..${N - 1}`);
    labels[i] = 0;
  }
  return clusterSpread(positions, labels, 1, binUm).spread[0];
}
