/**
 * The keypoint encoder of Facemap (Syeda et al. 2023; facemap/neural_prediction/neural_model.py,
 * KeypointsNetwork): a network that maps keypoint time series at the camera rate to neural
 * activity (its PCs, or neurons) at the neural rate, trained in TensorFlow.js.
 *
 * Network (n_in keypoint columns, Q = nKp features, F = nFilters, K = kernelSize):
 *   linear0  Linear(n_in -> Q)                      mixes keypoint columns at each camera frame
 *   wavelet0 Conv1d(1 -> F, K, pad K//2, no bias)   the same F filters on each of the Q features,
 *                                                   initialised with F/2 cosine + F/2 sine Gabor
 *                                                   wavelets (f = geomspace(1, 10, F/2)); zero
 *                                                   padding at the ends of each sequence
 *   ReLU, flatten (feature q, filter f -> column q F + f)
 *   linear1  Linear(Q F -> nMed) + ReLU
 *   latent   Linear(nMed -> nLatents) + ReLU        the "deep behavioural features"
 *   readout  Linear(nLatents -> nOut)               PCs or neurons
 * Weights are kept in PyTorch's layouts (Linear [out, in], Conv1d [F, 1, K] stored as [F, K]) under
 * Facemap's state_dict names, so weights move between the two as they are.
 *
 * Training (Facemap's train_model): the neural recording is cut into the split's segments; each
 * segment is one sequence (camera frames from the one nearest its first sample, ceil(rate ratio x
 * samples) long, zero-padded at both ends) and one step: loss = MSE of the segment's targets +
 * smoothingPenalty x sum of squared differences along time of the conv weights; AdamW (lr 1e-3,
 * weight decay 1e-4), segments in a seeded random order each epoch, lr / 10 at epochs
 * `epochs - 50 k` for k = 1..annealSteps. Target sample n is predicted from the camera frame
 * nearest neural time n + delay (Facemap's delay -1: the behaviour one neural sample earlier).
 *
 * Schedule: Facemap's fixed one (above) overfits short recordings (a few hundred training samples:
 * test VE below 0 after ~100 epochs). By default (validationFraction > 0) the schedule is chosen on
 * held-out training samples instead ({@link validationSplit}: the last 15% of each training run,
 * after a 3-sample gap): training on the rest, the pooled validation VE is computed every epoch;
 * after `patience` epochs without a better one the learning rate is divided by 10 (up to
 * `annealSteps` times), and after one more such plateau (or `epochs`) selection stops. Then
 * (refit, default) the network is trained again from the same initialisation, on every training
 * sample, for the best epoch count with the lr drops that came before it; or (refit: false) the
 * best epoch's weights are kept. Test samples are never used to choose anything.
 *
 * Speed: the layers after the convolution act on each camera frame separately, so only the frames
 * whose outputs are used (one per neural sample, 1 in ~17 at 50 vs 3 Hz) need computing. The
 * convolution at those frames is a matrix product of their input windows (a Hankel matrix of the
 * raw keypoints, built once per segment: they are data, not parameters) with the filters, and
 * since linear0 acts across columns and the convolution along time they commute:
 *   conv(linear0(x))[s, q, f] = sum_p A[q, p] (H_s,p . W_f) + c_q (V_s . W_f)
 * with H_s,p the K-frame window of raw column p around sample s, V_s its inside-the-sequence mask
 * (linear0's bias c is zero-padded like the rest of its output), A, c linear0's weight and bias.
 * Same function, same gradients, about 17x less work than computing every frame; see
 * bench/neural.ts for the measured speed against Facemap's own training.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Matrix, matrix } from '../engine/linalg';
import { FormatError, NotFittedError, ParamError, ShapeError } from '../errors';
import { AdamW } from '../pose/optim';
import { facemapSplit, Split } from '../synth/splits';
import { Rng } from '../util/random';
import { columnStats, nearestCameraFrames } from './align';

/** Configuration of {@link KeypointEncoder}; defaults are Facemap's. */
export interface EncoderConfig {
  /** Features made by linear0 from the keypoint columns (default null: as many as the columns). */
  nKp: number | null;
  /** Conv filters per feature, even (default 10: 5 cosine + 5 sine Gabor initialisations). */
  nFilters: number;
  /** Conv filter width in camera frames, odd (default 201: +-2 s at 50 Hz). */
  kernelSize: number;
  /** Units of the hidden layer after the convolution (default 50). */
  nMed: number;
  /** Latent units, the deep behavioural features (default 256). */
  nLatents: number;
  /** Epochs (default 300). */
  epochs: number;
  /** AdamW learning rate (default 1e-3). */
  learningRate: number;
  /** AdamW decoupled weight decay (default 1e-4). */
  weightDecay: number;
  /** Learning-rate divisions by 10, at epochs `epochs - 50 k`, k = 1..annealSteps (default 2). */
  annealSteps: number;
  /** Weight of the sum of squared temporal differences of the conv filters (default 0.5). */
  smoothingPenalty: number;
  /** Neural samples between the behaviour frame used and the sample predicted (default -1). */
  delay: number;
  /** Seed of initial weights and segment order (default 0). */
  seed: number;
  /** Epochs between evaluations on the test segments during fit (default 20, as Facemap; 0 = only at the end). Reported only: never used to choose anything. */
  evalEvery: number;
  /**
   * Share of each training run (its end, after a gap of `validationGap` samples) held out to
   * choose the schedule (default 0.15; module doc, "Schedule"). 0 = Facemap's fixed schedule:
   * all `epochs` epochs, lr / 10 at `epochs - 50 k`.
   */
  validationFraction: number;
  /** Neural samples skipped between a run's training part and its validation part (default 3, as Facemap's split). */
  validationGap: number;
  /** Epochs without a better validation VE before the learning rate is divided by 10 (or, after `annealSteps` divisions, training stops) (default 20). */
  patience: number;
  /** After choosing the schedule on the validation parts, train again from the same start on every training sample with it (default true); false keeps the weights of the best validation epoch. */
  refit: boolean;
}

export const DEFAULT_ENCODER_CONFIG: Readonly<EncoderConfig> = Object.freeze({
  nKp: null,
  nFilters: 10,
  kernelSize: 201,
  nMed: 50,
  nLatents: 256,
  epochs: 300,
  learningRate: 1e-3,
  weightDecay: 1e-4,
  annealSteps: 2,
  smoothingPenalty: 0.5,
  delay: -1,
  seed: 0,
  evalEvery: 20,
  validationFraction: 0.15,
  validationGap: 3,
  patience: 20,
  refit: true,
});

/** Validated configuration: `partial` over the defaults; ParamError naming the first bad field. */
export function resolveEncoderConfig(partial: Partial<EncoderConfig> = {}): EncoderConfig {
  const c: EncoderConfig = { ...DEFAULT_ENCODER_CONFIG, ...partial };
  const int = (f: keyof EncoderConfig, min: number, extra = '') => {
    const v = c[f];
    if (!Number.isInteger(v) || (v as number) < min) throw new ParamError(f, v, `an integer >= ${min}${extra}`);
  };
  if (c.nKp !== null) int('nKp', 1);
  int('nFilters', 2);
  if (c.nFilters % 2) throw new ParamError('nFilters', c.nFilters, 'an even integer >= 2 (half cosine, half sine Gabor filters)');
  int('kernelSize', 1);
  if (c.kernelSize % 2 === 0) throw new ParamError('kernelSize', c.kernelSize, 'an odd integer >= 1 (centred filters)');
  int('nMed', 1);
  int('nLatents', 1);
  int('epochs', 1);
  int('annealSteps', 0);
  int('evalEvery', 0);
  int('validationGap', 0);
  int('patience', 1);
  if (!(c.validationFraction >= 0 && c.validationFraction < 1)) throw new ParamError('validationFraction', c.validationFraction, 'a number in [0, 1) (0 = fixed schedule)');
  if (typeof c.refit !== 'boolean') throw new ParamError('refit', c.refit, 'true or false');
  if (!(c.learningRate > 0)) throw new ParamError('learningRate', c.learningRate, 'a number > 0');
  if (!(c.weightDecay >= 0)) throw new ParamError('weightDecay', c.weightDecay, 'a number >= 0');
  if (!(c.smoothingPenalty >= 0)) throw new ParamError('smoothingPenalty', c.smoothingPenalty, 'a number >= 0');
  if (!Number.isInteger(c.delay)) throw new ParamError('delay', c.delay, 'an integer (neural samples; Facemap: -1)');
  if (!Number.isInteger(c.seed)) throw new ParamError('seed', c.seed, 'an integer');
  return c;
}

/**
 * Facemap's Gabor initialisation of the conv filters: nFilters x kernelSize, row-major; rows
 * 0..F/2-1 cosine (phase 0), then sine (phase pi/2), frequencies geomspace(1, 10, F/2) cycles over
 * the filter (x = linspace(0, 2 pi) without its end point, centred), Gaussian envelope sigma 1.
 * As in Facemap's gabor_wavelet, each phase's block of F/2 filters is scaled to unit L2 norm as a
 * whole (not each filter).
 */
export function gaborFilters(nFilters: number, kernelSize: number): Float32Array {
  const half = nFilters / 2;
  const out = new Float32Array(nFilters * kernelSize);
  const x = Float32Array.from({ length: kernelSize }, (_, i) => (2 * Math.PI * i) / kernelSize);
  let mean = 0;
  for (const v of x) mean += v;
  mean /= kernelSize;
  for (let ph = 0; ph < 2; ph++) {
    const block = out.subarray(ph * half * kernelSize, (ph + 1) * half * kernelSize);
    let norm = 0;
    for (let j = 0; j < half; j++) {
      const f = Math.fround(half === 1 ? 1 : 10 ** (j / (half - 1)));
      for (let i = 0; i < kernelSize; i++) {
        const xc = x[i] - mean;
        const v = Math.exp(-(xc * xc) / 2) * Math.cos(ph * (Math.PI / 2) + f * xc);
        block[j * kernelSize + i] = v;
        norm += v * v;
      }
    }
    norm = Math.sqrt(norm);
    for (let i = 0; i < block.length; i++) block[i] /= norm;
  }
  return out;
}

/** Inputs of {@link KeypointEncoder.predict}: behaviour at camera frames and the neural clock. */
export interface EncoderInput {
  /** nCam x nIn keypoint columns at the camera frames (raw: the encoder standardises them). */
  x: Matrix;
  /** nCam camera frame times, s, ascending. */
  camTimes: ArrayLike<number>;
  /** nNeural neural sample times, s, ascending, on the camera's clock. */
  neuralTimes: ArrayLike<number>;
}

/** Training data of {@link KeypointEncoder.fit}. */
export interface EncoderData extends EncoderInput {
  /** nNeural x nOut targets (neural PCs or normalised neurons). */
  y: Matrix;
}

/** One sequence: a contiguous run of target samples and the camera frames it is computed from. */
export interface EncoderWindow {
  /** First camera frame of the sequence (inclusive). */
  start: number;
  /** End camera frame (exclusive); frames outside [start, end) are zeros. */
  end: number;
  /** Target (neural) sample indices, consecutive. */
  rows: Int32Array;
  /** Camera frame each target is computed at (absolute index), one per row. */
  anchors: Int32Array;
}

function meanStep(t: ArrayLike<number>): number {
  return t.length > 1 ? (t[t.length - 1] - t[0]) / (t.length - 1) : NaN;
}

/**
 * The sequences Facemap forms for target rows `rows` (ascending): each run of consecutive rows is
 * one sequence starting at the camera frame nearest its first anchor time and ceil(rate ratio x
 * run length) frames long (capped at the recording, extended to hold every anchor). The anchor
 * of target n is the camera frame nearest neural time n + delay (clamped to the recording).
 */
export function encoderWindows(camTimes: ArrayLike<number>, neuralTimes: ArrayLike<number>, rows: ArrayLike<number>, delay: number): EncoderWindow[] {
  const T = neuralTimes.length;
  const nCam = camTimes.length;
  for (let k = 0; k < rows.length; k++) {
    if (!Number.isInteger(rows[k]) || rows[k] < 0 || rows[k] >= T || (k > 0 && rows[k] <= rows[k - 1])) {
      throw new ParamError('rows', rows[k], `ascending unique neural sample indices in 0..${T - 1}`);
    }
  }
  const ratio = nCam > 1 && T > 1 ? meanStep(neuralTimes) / meanStep(camTimes) : 1;
  const anchorTimes = Float64Array.from(rows, (n) => neuralTimes[Math.min(T - 1, Math.max(0, n + delay))]);
  const anchors = nearestCameraFrames(camTimes, anchorTimes);
  const out: EncoderWindow[] = [];
  let k0 = 0;
  while (k0 < rows.length) {
    let k1 = k0 + 1;
    while (k1 < rows.length && rows[k1] === rows[k1 - 1] + 1) k1++;
    const a = anchors.slice(k0, k1);
    const start = Math.min(...a);
    const end = Math.min(nCam, Math.max(start + Math.ceil(ratio * (k1 - k0)), Math.max(...a) + 1));
    out.push({ start, end, rows: Int32Array.from(rows).subarray(k0, k1).slice(), anchors: a });
    k0 = k1;
  }
  return out;
}

/**
 * Windows of the standardised input x (nCam x P) around each anchor, transposed for the
 * products below: HT (K x S*P; row k, column s P + p = frame anchor_s + k - K//2 of column p, 0
 * outside [start, end)) and VT (K x S: 1 inside, 0 outside).
 */
function hankelT(x: Float32Array, P: number, K: number, w: { start: number; end: number }, anchors: ArrayLike<number>): { HT: Float32Array; VT: Float32Array } {
  const S = anchors.length;
  const half = (K - 1) / 2;
  const HT = new Float32Array(K * S * P);
  const VT = new Float32Array(K * S);
  for (let s = 0; s < S; s++) {
    const f0 = anchors[s] - half;
    const k0 = Math.max(0, w.start - f0);
    const k1 = Math.min(K, w.end - f0);
    for (let k = k0; k < k1; k++) {
      HT.set(x.subarray((f0 + k) * P, (f0 + k + 1) * P), (k * S + s) * P);
      VT[k * S + s] = 1;
    }
  }
  return { HT, VT };
}

/**
 * a @ b with both gradients as plain (untransposed) products of explicitly transposed operands:
 * tfjs-wasm's matMul runs 10-20x slower with either transpose flag set, and those are what the
 * stock gradient of matMul uses.
 */
const mm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[1])), tf.matMul(tf.transpose(saved[0]), dy as tf.Tensor2D)],
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/**
 * W @ DT for data DT (K x n, no gradient) and filters W (F x K): F x n; the gradient of W is
 * (DT @ dy^T)^T, again untransposed products.
 */
function filterData(W: tf.Tensor2D, DT: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.matMul(args[0] as tf.Tensor2D, DT),
    gradFunc: (dy: tf.Tensor) => [tf.transpose(tf.matMul(DT, tf.transpose(dy as tf.Tensor2D)))],
  }));
  return op(W) as tf.Tensor2D;
}

/** Facemap's state_dict names of the parameters, in this order. */
export const ENCODER_WEIGHT_NAMES = [
  'core.features.linear0.0.weight',
  'core.features.linear0.0.bias',
  'core.features.wavelet0.weight',
  'core.features.linear1.0.weight',
  'core.features.linear1.0.bias',
  'core.features.latent.0.weight',
  'core.features.latent.0.bias',
  'readout.features.linear0.weight',
  'readout.features.linear0.bias',
] as const;

interface Params {
  A: tf.Variable; // [Q, P]
  c: tf.Variable; // [Q]
  W: tf.Variable; // [F, K]
  W1: tf.Variable; // [nMed, Q F]
  b1: tf.Variable; // [nMed]
  W2: tf.Variable; // [nLatents, nMed]
  b2: tf.Variable; // [nLatents]
  W3: tf.Variable; // [nOut, nLatents]
  b3: tf.Variable; // [nOut]
}

/** What one epoch of {@link KeypointEncoder.fit} did. */
export interface EncoderEpoch {
  epoch: number;
  /** Epochs planned for this phase (at most, for 'select'). */
  epochs: number;
  /** 'train': Facemap's fixed schedule; 'select': choosing the schedule on the validation parts; 'refit': training on every training sample with it. */
  phase: 'train' | 'select' | 'refit';
  /** Pooled VE of the validation parts ('select' epochs). */
  validationVe?: number;
  /** Mean training loss (MSE + smoothing penalty) over the epoch's steps. */
  trainLoss: number;
  /** Pooled variance explained of the test targets, on evaluation epochs (else undefined). */
  testVe?: number;
  learningRate: number;
  /** Seconds the epoch took (training steps and evaluation). */
  seconds: number;
}

export interface EncoderFitOptions {
  /** Train/test split of the neural samples (targets); default facemapSplit(nNeural). */
  split?: Split;
  /** Called after every epoch. */
  onEpoch?: (e: EncoderEpoch) => void;
}

/** Summary of a fit, saved with the model. */
export interface EncoderTraining {
  /** Epochs that made the final weights. */
  epochs: number;
  nTrain: number;
  nTest: number;
  finalTrainLoss: number;
  /** Pooled test VE of the targets at the end (NaN without test samples). */
  testVe: number;
  /** 'fixed': Facemap's (validationFraction 0, or no run long enough to hold out); 'validated': chosen on held-out training samples. */
  schedule: 'fixed' | 'validated';
  /** Epochs (0-based) at whose start the learning rate was divided by 10, in the final weights' schedule. */
  annealEpochs: number[];
  /** How the schedule was chosen ('validated'): samples used, best epoch (0-based) and its pooled validation VE, epochs run to find it, refit or not. */
  validation: { nTrain: number; nValidation: number; bestEpoch: number; ve: number; selectionEpochs: number; refit: boolean } | null;
  /** Epochs run in all (selection and refit). */
  epochsRun: number;
  /** Wall seconds of the whole fit. */
  seconds: number;
  /** Mean seconds per epoch run. */
  secondsPerEpoch: number;
  /** tfjs backend trained on. */
  backend: string;
}

/** Prepared tensors of one sequence. */
interface Batch {
  /** K x S*P input windows (hankelT). */
  HT: tf.Tensor2D;
  /** K x S inside-the-sequence mask. */
  VT: tf.Tensor2D;
  y: tf.Tensor2D | null;
  S: number;
}

const FORMAT = 'facemap-ts/keypoint-encoder';

/** Makes tf variable names unique (tf.variableGrads keys gradients by name). */
let VAR_COUNTER = 0;

/**
 * Facemap's keypoint network (module doc): `await new KeypointEncoder(config).fit(data)` returns
 * the fitted encoder; `predict` gives targets at neural samples, `latents` the deep behavioural
 * features at camera frames; `save(dir)` / `KeypointEncoder.load(dir)`; `dispose()` frees its
 * tensors. Runs on whichever tfjs backend is active (initBackend).
 */
export class KeypointEncoder {
  readonly config: EncoderConfig;
  private params: Params | null = null;
  /** Keypoint columns (after fit or load). */
  nIn = 0;
  /** Targets (after fit or load). */
  nOut = 0;
  /** nIn column means and SDs of the training keypoints, used to standardise every input. */
  inputMean: Float32Array = new Float32Array(0);
  inputSd: Float32Array = new Float32Array(0);
  /** Set by fit (or load). */
  training: EncoderTraining | null = null;
  /** Per-epoch history of the last fit. */
  history: EncoderEpoch[] = [];

  constructor(config: Partial<EncoderConfig> = {}) {
    this.config = resolveEncoderConfig(config);
  }

  get fitted(): boolean {
    return this.params !== null;
  }

  /** Number of trainable parameters (after fit or load). */
  get nParams(): number {
    return this.params ? Object.values(this.params).reduce((s, v: tf.Variable) => s + v.size, 0) : 0;
  }

  private get nKp(): number {
    return this.config.nKp ?? this.nIn;
  }

  /**
   * Creates untrained weights for nIn keypoint columns and nOut targets (Facemap's initialisation;
   * inputs taken as already standardised), e.g. before {@link setWeights}. Returns this.
   */
  build(nIn: number, nOut: number): this {
    if (!Number.isInteger(nIn) || nIn < 1) throw new ParamError('nIn', nIn, 'an integer >= 1');
    if (!Number.isInteger(nOut) || nOut < 1) throw new ParamError('nOut', nOut, 'an integer >= 1');
    this.init(nIn, nOut);
    return this;
  }

  /** Creates the variables with PyTorch's default initialisation (Linear: U(+-1/sqrt(fan_in))) and Gabor filters. */
  private init(nIn: number, nOut: number): void {
    this.dispose();
    this.nIn = nIn;
    this.nOut = nOut;
    this.inputMean = new Float32Array(nIn);
    this.inputSd = new Float32Array(nIn).fill(1);
    const { nFilters: F, kernelSize: K, nMed, nLatents } = this.config;
    const Q = this.nKp;
    const rng = new Rng(this.config.seed);
    const uniform = (shape: number[], fanIn: number): tf.Tensor => {
      const b = 1 / Math.sqrt(fanIn);
      const n = shape.reduce((a, d) => a * d, 1);
      return tf.tensor(Float32Array.from({ length: n }, () => (2 * rng.uniform() - 1) * b), shape);
    };
    const v = (t: tf.Tensor, name: string) => tf.variable(t, true, `${name}_${VAR_COUNTER++}`);
    this.params = tf.tidy(() => ({
      A: v(uniform([Q, nIn], nIn), 'linear0_w'),
      c: v(uniform([Q], nIn), 'linear0_b'),
      W: v(tf.tensor2d(gaborFilters(F, K), [F, K]), 'wavelet0_w'),
      W1: v(uniform([nMed, Q * F], Q * F), 'linear1_w'),
      b1: v(uniform([nMed], Q * F), 'linear1_b'),
      W2: v(uniform([nLatents, nMed], nMed), 'latent_w'),
      b2: v(uniform([nLatents], nMed), 'latent_b'),
      W3: v(uniform([nOut, nLatents], nLatents), 'readout_w'),
      b3: v(uniform([nOut], nLatents), 'readout_b'),
    }));
  }

  private paramList(): tf.Variable[] {
    const p = this.need();
    return [p.A, p.c, p.W, p.W1, p.b1, p.W2, p.b2, p.W3, p.b3];
  }

  private need(): Params {
    if (!this.params) throw new NotFittedError('KeypointEncoder');
    return this.params;
  }

  /** Standardised copy of x (nCam x nIn) with the stored statistics. */
  private standardize(x: Matrix): Float32Array {
    if (x.cols !== this.nIn) throw new ShapeError(`keypoints have ${x.cols} columns; the encoder was fitted on ${this.nIn}`);
    const out = new Float32Array(x.data.length);
    const P = this.nIn;
    for (let t = 0; t < x.rows; t++) {
      for (let p = 0; p < P; p++) out[t * P + p] = this.inputSd[p] > 0 ? (x.data[t * P + p] - this.inputMean[p]) / this.inputSd[p] : 0;
    }
    return out;
  }

  /** Tensors of one sequence (anchors: a subset of w's, or all). */
  private batch(xs: Float32Array, w: { start: number; end: number }, anchors: ArrayLike<number>, y?: Float32Array): Batch {
    const { HT, VT } = hankelT(xs, this.nIn, this.config.kernelSize, w, anchors);
    const S = anchors.length;
    const K = this.config.kernelSize;
    return {
      HT: tf.tensor2d(HT, [K, S * this.nIn]),
      VT: tf.tensor2d(VT, [K, S]),
      y: y ? tf.tensor2d(y, [S, this.nOut]) : null,
      S,
    };
  }

  /** Latents (S x nLatents) of a batch; call inside tidy. */
  private latentsOf(b: Batch): tf.Tensor2D {
    const p = this.need();
    const { nFilters: F } = this.config;
    const Q = this.nKp;
    const P = this.nIn;
    const S = b.S;
    // conv of the raw columns at the anchors: F x S*P = rows (f, s), columns p
    const G = filterData(p.W as tf.Tensor2D, b.HT).reshape([F * S, P]) as tf.Tensor2D;
    // linear0 after the conv (they commute); its zero-padded bias through the conv of the mask
    const Z0 = mm(G, tf.transpose(p.A) as tf.Tensor2D).reshape([F, S, Q]);
    const bias = filterData(p.W as tf.Tensor2D, b.VT).reshape([F, S, 1]).mul(p.c.reshape([1, 1, Q]));
    // features in Facemap's order: column q F + f
    const Z = tf.relu(Z0.add(bias)).transpose([1, 2, 0]).reshape([S, Q * F]) as tf.Tensor2D;
    const h1 = tf.relu(mm(Z, tf.transpose(p.W1) as tf.Tensor2D).add(p.b1)) as tf.Tensor2D;
    return tf.relu(mm(h1, tf.transpose(p.W2) as tf.Tensor2D).add(p.b2)) as tf.Tensor2D;
  }

  private outputOf(b: Batch): tf.Tensor2D {
    const p = this.need();
    return mm(this.latentsOf(b), tf.transpose(p.W3) as tf.Tensor2D).add(p.b3) as tf.Tensor2D;
  }

  /** Facemap's training loss of a batch: MSE + smoothingPenalty x sum of squared filter differences. */
  private loss(b: Batch): tf.Scalar {
    const mse = tf.mean(tf.squaredDifference(this.outputOf(b), b.y as tf.Tensor2D)) as tf.Scalar;
    return this.config.smoothingPenalty > 0 ? mse.add(this.smoothness().mul(this.config.smoothingPenalty)) : mse;
  }

  private smoothness(): tf.Scalar {
    const W = this.need().W;
    const K = this.config.kernelSize;
    if (K < 2) return tf.scalar(0);
    return tf.sum(tf.square(tf.sub(W.slice([0, 1], [-1, K - 1]), W.slice([0, 0], [-1, K - 1]))));
  }

  /**
   * Trains the network (module doc) on `data.split` train samples (default facemapSplit) and
   * evaluates it on the test samples every `evalEvery` epochs and at the end. Returns this.
   * @throws ShapeError for mismatched lengths or clocks; ParamError for a bad split.
   */
  async fit(data: EncoderData, opts: EncoderFitOptions = {}): Promise<this> {
    checkInput(data);
    if (data.y.rows !== data.neuralTimes.length) {
      throw new ShapeError(`targets have ${data.y.rows} time points, the neural clock ${data.neuralTimes.length}`);
    }
    const split = opts.split ?? facemapSplit(data.neuralTimes.length);
    if (split.train.length < 1) throw new ParamError('split.train', split.train.length, 'at least 1 training sample');
    const cfg = this.config;
    this.init(data.x.cols, data.y.cols);
    const st = columnStats(data.x.data, data.x.rows, data.x.cols);
    const inputMean = Float32Array.from(st.mean);
    const inputSd = Float32Array.from(st.sd);
    this.inputMean = inputMean;
    this.inputSd = inputSd;
    const xs = this.standardize(data.x);
    const take = (rows: Int32Array) => {
      const out = new Float32Array(rows.length * this.nOut);
      rows.forEach((r, k) => out.set(data.y.data.subarray(r * this.nOut, (r + 1) * this.nOut), k * this.nOut));
      return out;
    };
    const mk = (rows: Int32Array) => encoderWindows(data.camTimes, data.neuralTimes, rows, cfg.delay).map((w) => this.batch(xs, w, w.anchors, take(w.rows)));
    const inner = cfg.validationFraction > 0 ? validationSplit(split.train, cfg.validationFraction, cfg.validationGap) : null;
    const validated = inner !== null && inner.validation.length > 0;
    const all: Batch[] = [];
    const prep = (rows: Int32Array) => {
      const b = mk(rows);
      all.push(...b);
      return b;
    };
    const test = split.test.length > 1 ? prep(split.test) : [];
    const yTest = test.length ? take(split.test) : null;
    this.history = [];
    const t0 = performance.now();
    let epochsRun = 0;
    try {
      const phase = async (train: Batch[], p: { name: EncoderEpoch['phase']; maxEpochs: number; anneal: number[] | null; val?: { batches: Batch[]; y: Float32Array }; evalTest: boolean }) => {
        const opt = new AdamW(this.paramList(), { lr: cfg.learningRate, weightDecay: cfg.weightDecay, clipNorm: Infinity });
        const order = new Rng((cfg.seed ^ 0x5bd1e995) | 0);
        const annealEpochs: number[] = [];
        let lastLoss = NaN;
        let testVe = NaN;
        let best = { epoch: -1, ve: -Infinity, weights: null as tf.Tensor[] | null };
        let since = 0;
        try {
          for (let epoch = 0; epoch < p.maxEpochs; epoch++) {
            const te = performance.now();
            if (p.anneal?.includes(epoch)) {
              opt.lr /= 10;
              annealEpochs.push(epoch);
            }
            const perm = permutation(train.length, order);
            let sum = 0;
            for (const i of perm) {
              const b = train[i];
              const { value, grads } = tf.variableGrads(() => this.loss(b), this.paramList());
              opt.step(this.paramList().map((v) => grads[v.name]));
              sum += value.dataSync()[0];
              tf.dispose([value, ...Object.values(grads)]);
            }
            lastLoss = sum / train.length;
            epochsRun++;
            let valVe: number | undefined;
            let stop = false;
            if (p.val) {
              valVe = pooledVe(p.val.y, this.predictBatches(p.val.batches), this.nOut);
              if (valVe > best.ve + 1e-5) {
                if (best.weights) tf.dispose(best.weights);
                best = { epoch, ve: valVe, weights: cfg.refit ? null : this.paramList().map((v) => tf.clone(v)) };
                since = 0;
              } else if (++since >= cfg.patience) {
                if (annealEpochs.length < cfg.annealSteps) {
                  opt.lr /= 10;
                  annealEpochs.push(epoch + 1);
                  since = 0;
                } else stop = true;
              }
            }
            const last = stop || epoch === p.maxEpochs - 1;
            const evalNow = p.evalTest && yTest && ((cfg.evalEvery > 0 && epoch % cfg.evalEvery === 0) || last);
            let ve: number | undefined;
            if (evalNow) {
              ve = pooledVe(yTest, this.predictBatches(test), this.nOut);
              testVe = ve;
            }
            const e: EncoderEpoch = { epoch, epochs: p.maxEpochs, phase: p.name, trainLoss: lastLoss, testVe: ve, validationVe: valVe, learningRate: opt.lr, seconds: (performance.now() - te) / 1000 };
            this.history.push(e);
            opts.onEpoch?.(e);
            if (epoch % 10 === 9) await new Promise((r) => setImmediate(r));
            if (stop) break;
          }
        } finally {
          opt.dispose();
        }
        return { lastLoss, testVe, annealEpochs, best };
      };

      let summary: Pick<EncoderTraining, 'epochs' | 'finalTrainLoss' | 'testVe' | 'schedule' | 'annealEpochs' | 'validation'>;
      if (!validated) {
        const anneal = Array.from({ length: cfg.annealSteps }, (_, k) => cfg.epochs - 50 * (k + 1));
        const r = await phase(prep(split.train), { name: 'train', maxEpochs: cfg.epochs, anneal, evalTest: true });
        summary = { epochs: cfg.epochs, finalTrainLoss: r.lastLoss, testVe: r.testVe, schedule: 'fixed', annealEpochs: r.annealEpochs, validation: null };
      } else {
        const sel = await phase(prep(inner.train), { name: 'select', maxEpochs: cfg.epochs, anneal: null, val: { batches: prep(inner.validation), y: take(inner.validation) }, evalTest: !cfg.refit });
        // no validation VE ever improved (e.g. constant validation targets: NaN): keep every epoch run
        if (sel.best.epoch < 0) sel.best.epoch = this.history.length - 1;
        const nEpochs = sel.best.epoch + 1;
        const validation = { nTrain: inner.train.length, nValidation: inner.validation.length, bestEpoch: sel.best.epoch, ve: sel.best.ve, selectionEpochs: this.history.length, refit: cfg.refit };
        const anneal = sel.annealEpochs.filter((e) => e < nEpochs);
        if (cfg.refit) {
          this.init(data.x.cols, data.y.cols);
          this.inputMean = inputMean;
          this.inputSd = inputSd;
          const r = await phase(prep(split.train), { name: 'refit', maxEpochs: nEpochs, anneal, evalTest: true });
          summary = { epochs: nEpochs, finalTrainLoss: r.lastLoss, testVe: r.testVe, schedule: 'validated', annealEpochs: r.annealEpochs, validation };
        } else {
          const list = this.paramList();
          const w = sel.best.weights;
          if (w) {
            list.forEach((v, i) => v.assign(w[i]));
            tf.dispose(w);
          }
          const testVe = yTest ? pooledVe(yTest, this.predictBatches(test), this.nOut) : NaN;
          const lossAtBest = this.history.find((e) => e.phase === 'select' && e.epoch === sel.best.epoch)?.trainLoss ?? NaN;
          summary = { epochs: nEpochs, finalTrainLoss: lossAtBest, testVe, schedule: 'validated', annealEpochs: anneal, validation };
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      this.training = {
        ...summary,
        nTrain: split.train.length,
        nTest: split.test.length,
        secondsPerEpoch: seconds / Math.max(1, epochsRun),
        epochsRun,
        seconds,
        backend: tf.getBackend(),
      };
    } finally {
      for (const b of all) tf.dispose([b.HT, b.VT, ...(b.y ? [b.y] : [])]);
    }
    return this;
  }

  /** Predictions of prepared batches, concatenated: sum of S x nOut. */
  private predictBatches(batches: Batch[]): Float32Array {
    const n = batches.reduce((s, b) => s + b.S, 0);
    const out = new Float32Array(n * this.nOut);
    let o = 0;
    for (const b of batches) {
      const y = tf.tidy(() => this.outputOf(b));
      out.set(y.dataSync(), o);
      o += y.size;
      y.dispose();
    }
    return out;
  }

  /** Runs `fn` on batches of at most `chunk` anchors of each window, disposing them. */
  private forWindows(xs: Float32Array, windows: { start: number; end: number; anchors: Int32Array }[], width: number, fn: (b: Batch) => tf.Tensor2D): Matrix {
    const total = windows.reduce((s, w) => s + w.anchors.length, 0);
    const out = new Float32Array(total * width);
    const chunk = Math.max(1, Math.floor((8 << 20) / (this.nIn * this.config.kernelSize)));
    let o = 0;
    for (const w of windows) {
      for (let a = 0; a < w.anchors.length; a += chunk) {
        const b = this.batch(xs, w, w.anchors.subarray(a, Math.min(w.anchors.length, a + chunk)));
        try {
          const y = tf.tidy(() => fn(b));
          out.set(y.dataSync(), o);
          o += y.size;
          y.dispose();
        } finally {
          tf.dispose([b.HT, b.VT]);
        }
      }
    }
    return matrix(total, width, out);
  }

  /**
   * Predicted targets at neural samples `rows` (ascending; default all): rows.length x nOut.
   * Each run of consecutive rows is one zero-padded sequence, as Facemap evaluates test segments.
   */
  predict(input: EncoderInput, rows?: ArrayLike<number>): Matrix {
    this.need();
    checkInput(input);
    const r = rows ?? Int32Array.from({ length: input.neuralTimes.length }, (_, i) => i);
    const windows = encoderWindows(input.camTimes, input.neuralTimes, r, this.config.delay);
    return this.forWindows(this.standardize(input.x), windows, this.nOut, (b) => this.outputOf(b));
  }

  /**
   * The deep behavioural features: nLatents (256) ReLU units at camera frames `frames` (default
   * all), x (nCam x nIn, raw keypoints) taken as one sequence. Returns frames.length x nLatents.
   */
  latents(x: Matrix, frames?: ArrayLike<number>): Matrix {
    this.need();
    const f = Int32Array.from(frames ?? Array.from({ length: x.rows }, (_, i) => i));
    for (const v of f) if (v < 0 || v >= x.rows) throw new ParamError('frames', v, `camera frame indices in 0..${x.rows - 1}`);
    return this.forWindows(this.standardize(x), [{ start: 0, end: x.rows, anchors: f }], this.config.nLatents, (b) => this.latentsOf(b));
  }

  /**
   * The training loss of the targets at neural samples `rows` (one run of consecutive rows = one
   * sequence, as in fit) and its gradient for every weight, by Facemap's state_dict name (PyTorch
   * layouts): for checking against other implementations. x is standardised as in predict.
   */
  lossGradients(data: EncoderData, rows: ArrayLike<number>): { loss: number; grads: Record<string, Float32Array> } {
    this.need();
    checkInput(data);
    if (data.y.cols !== this.nOut) throw new ShapeError(`targets have ${data.y.cols} columns; the encoder predicts ${this.nOut}`);
    const windows = encoderWindows(data.camTimes, data.neuralTimes, rows, this.config.delay);
    if (windows.length !== 1) throw new ParamError('rows', `${windows.length} runs`, 'one run of consecutive neural samples');
    const w = windows[0];
    const y = new Float32Array(w.rows.length * this.nOut);
    w.rows.forEach((r, k) => y.set(data.y.data.subarray(r * this.nOut, (r + 1) * this.nOut), k * this.nOut));
    const b = this.batch(this.standardize(data.x), w, w.anchors, y);
    try {
      const list = this.paramList();
      const { value, grads } = tf.variableGrads(() => this.loss(b), list);
      const out: Record<string, Float32Array> = {};
      ENCODER_WEIGHT_NAMES.forEach((n, i) => (out[n] = grads[list[i].name].dataSync() as Float32Array));
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return { loss, grads: out };
    } finally {
      tf.dispose([b.HT, b.VT, b.y as tf.Tensor]);
    }
  }

  /** Weights by Facemap's state_dict name: data (PyTorch layout, the conv's [F, 1, K]) and shape. */
  weights(): { name: (typeof ENCODER_WEIGHT_NAMES)[number]; shape: number[]; data: Float32Array }[] {
    const list = this.paramList();
    return ENCODER_WEIGHT_NAMES.map((name, i) => ({
      name,
      shape: i === 2 ? [this.config.nFilters, 1, this.config.kernelSize] : list[i].shape,
      data: list[i].dataSync() as Float32Array,
    }));
  }

  /**
   * Sets every weight (PyTorch layouts, Facemap's names; e.g. from a Facemap state_dict). Shapes
   * must match this encoder's (nIn, nOut from the weights when not fitted yet).
   */
  setWeights(weights: Record<string, { data: ArrayLike<number>; shape: readonly number[] }>): void {
    for (const n of ENCODER_WEIGHT_NAMES) if (!weights[n]) throw new ShapeError(`no weight '${n}' (expected Facemap's KeypointsNetwork state_dict names)`);
    const nIn = weights[ENCODER_WEIGHT_NAMES[0]].shape[1];
    const nOut = weights[ENCODER_WEIGHT_NAMES[7]].shape[0];
    if (!this.params || this.nIn !== nIn || this.nOut !== nOut) this.init(nIn, nOut);
    const list = this.paramList();
    ENCODER_WEIGHT_NAMES.forEach((n, i) => {
      const w = weights[n];
      const size = w.shape.reduce((a, d) => a * d, 1);
      if (size !== list[i].size || w.data.length !== size) {
        throw new ShapeError(`weight '${n}' has shape [${w.shape.join(', ')}] (${w.data.length} values); this encoder needs [${list[i].shape.join(', ')}]`);
      }
      list[i].assign(tf.tensor(Float32Array.from(w.data), list[i].shape));
    });
  }

  /**
   * Saves to folder `dir` (created; replaced whole, atomically): `encoder.json` (format, config,
   * sizes, input statistics, training summary, weight manifest) and `weights.bin` (float32
   * little-endian, the weights in manifest order, PyTorch layouts).
   */
  save(dir: string): string[] {
    this.need();
    const ws = this.weights();
    let offset = 0;
    const manifest = ws.map((w) => {
      const m = { name: w.name, shape: w.shape, offset };
      offset += w.data.length;
      return m;
    });
    const bin = new Float32Array(offset);
    ws.forEach((w, i) => bin.set(w.data, manifest[i].offset));
    const json = {
      format: FORMAT,
      version: 1,
      config: this.config,
      nIn: this.nIn,
      nOut: this.nOut,
      inputMean: Array.from(this.inputMean),
      inputSd: Array.from(this.inputSd),
      training: this.training,
      weights: manifest,
    };
    const target = path.resolve(dir);
    const tmp = `${target}.partial-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    try {
      fs.writeFileSync(path.join(tmp, 'encoder.json'), `${JSON.stringify(json, null, 1)}\n`);
      fs.writeFileSync(path.join(tmp, 'weights.bin'), littleEndianBytes(bin));
      if (fs.existsSync(target)) {
        const old = `${target}.old-${process.pid}`;
        fs.renameSync(target, old);
        fs.renameSync(tmp, target);
        fs.rmSync(old, { recursive: true, force: true });
      } else fs.renameSync(tmp, target);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    return [path.join(target, 'encoder.json'), path.join(target, 'weights.bin')];
  }

  /** Loads a folder written by {@link save}. FormatError naming the file when it is not one. */
  static load(dir: string): KeypointEncoder {
    const jf = path.join(dir, 'encoder.json');
    const bf = path.join(dir, 'weights.bin');
    if (!fs.existsSync(jf)) throw new FormatError(dir, 'no encoder.json (expected a folder written by KeypointEncoder.save)');
    let j: {
      format?: string;
      config: EncoderConfig;
      nIn: number;
      nOut: number;
      inputMean: number[];
      inputSd: number[];
      training: EncoderTraining | null;
      weights: { name: string; shape: number[]; offset: number }[];
    };
    try {
      j = JSON.parse(fs.readFileSync(jf, 'utf8'));
    } catch (e) {
      throw new FormatError(jf, `not valid JSON (${(e as Error).message})`);
    }
    if (j.format !== FORMAT) throw new FormatError(jf, `format is ${JSON.stringify(j.format)}, expected "${FORMAT}"`);
    if (!fs.existsSync(bf)) throw new FormatError(dir, 'no weights.bin beside encoder.json');
    const buf = fs.readFileSync(bf);
    const total = j.weights.reduce((s, w) => s + w.shape.reduce((a, d) => a * d, 1), 0);
    if (buf.length !== 4 * total) throw new FormatError(bf, `${buf.length} bytes; the manifest in encoder.json needs ${4 * total}`);
    const all = new Float32Array(total);
    for (let i = 0; i < total; i++) all[i] = buf.readFloatLE(4 * i);
    const enc = new KeypointEncoder(j.config);
    const ws: Record<string, { data: Float32Array; shape: number[] }> = {};
    for (const w of j.weights) ws[w.name] = { shape: w.shape, data: all.subarray(w.offset, w.offset + w.shape.reduce((a, d) => a * d, 1)) };
    enc.setWeights(ws);
    if (enc.nIn !== j.nIn || enc.nOut !== j.nOut) throw new FormatError(jf, `weights are for ${enc.nIn} inputs / ${enc.nOut} outputs, the file says ${j.nIn} / ${j.nOut}`);
    enc.inputMean = Float32Array.from(j.inputMean);
    enc.inputSd = Float32Array.from(j.inputSd);
    if (enc.inputMean.length !== enc.nIn || enc.inputSd.length !== enc.nIn) throw new FormatError(jf, `input statistics hold ${enc.inputMean.length} columns, the weights ${enc.nIn}`);
    enc.training = j.training;
    return enc;
  }

  /** Frees the weights (the encoder is unfitted afterwards). */
  dispose(): void {
    if (this.params) tf.dispose(Object.values(this.params));
    this.params = null;
  }
}


function littleEndianBytes(a: Float32Array): Buffer {
  const b = Buffer.alloc(a.length * 4);
  for (let i = 0; i < a.length; i++) b.writeFloatLE(a[i], 4 * i);
  return b;
}

/**
 * The encoder's validation split of training samples `train` (ascending): in each run of
 * consecutive samples (a training segment) of length n, the last floor(fraction n) samples
 * validate and the `gap` before them are left out, when that leaves >= 1 sample to train; shorter
 * runs train whole.
 */
export function validationSplit(train: ArrayLike<number>, fraction: number, gap: number): { train: Int32Array; validation: Int32Array } {
  const tr: number[] = [];
  const va: number[] = [];
  let k0 = 0;
  while (k0 < train.length) {
    let k1 = k0 + 1;
    while (k1 < train.length && train[k1] === train[k1 - 1] + 1) k1++;
    const n = k1 - k0;
    const nVal = Math.floor(fraction * n);
    const nTr = n - nVal - gap;
    if (nVal >= 1 && nTr >= 1) {
      for (let k = k0; k < k0 + nTr; k++) tr.push(train[k]);
      for (let k = k1 - nVal; k < k1; k++) va.push(train[k]);
    } else for (let k = k0; k < k1; k++) tr.push(train[k]);
    k0 = k1;
  }
  return { train: Int32Array.from(tr), validation: Int32Array.from(va) };
}

function permutation(n: number, rng: Rng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Facemap's test VE: 1 - mean squared error / mean squared deviation from the column means, pooled. */
function pooledVe(y: Float32Array, yhat: Float32Array, q: number): number {
  const n = y.length / q;
  const mean = new Float64Array(q);
  for (let t = 0; t < n; t++) for (let j = 0; j < q; j++) mean[j] += y[t * q + j];
  for (let j = 0; j < q; j++) mean[j] /= n;
  let sse = 0;
  let sst = 0;
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < q; j++) {
      sse += (y[t * q + j] - yhat[t * q + j]) ** 2;
      sst += (y[t * q + j] - mean[j]) ** 2;
    }
  }
  return sst > 0 ? 1 - sse / sst : NaN;
}

/** Lengths and clocks of an encoder input; ShapeError saying what does not fit. */
function checkInput(d: EncoderInput): void {
  const nCam = d.camTimes.length;
  if (d.x.rows !== nCam) throw new ShapeError(`keypoints have ${d.x.rows} frames, the camera clock ${nCam} times`);
  if (nCam < 1 || d.neuralTimes.length < 1) throw new ShapeError(`need camera frames and neural samples; got ${nCam} and ${d.neuralTimes.length}`);
  for (const [name, t] of [['camera times', d.camTimes], ['neural times', d.neuralTimes]] as const) {
    for (let i = 1; i < t.length; i++) {
      if (!(t[i] > t[i - 1])) throw new ShapeError(`${name} are not strictly increasing at [${i}]: ${t[i - 1]}, ${t[i]}`);
    }
  }
  const dtCam = nCam > 1 ? meanStep(d.camTimes) : 0;
  const t0 = d.camTimes[0] - dtCam;
  const t1 = d.camTimes[nCam - 1] + dtCam;
  const n0 = d.neuralTimes[0];
  const n1 = d.neuralTimes[d.neuralTimes.length - 1];
  if (n0 < t0 || n1 > t1) {
    throw new ShapeError(
      `neural samples span ${n0.toFixed(3)}-${n1.toFixed(3)} s but the keypoints only ${d.camTimes[0].toFixed(3)}-${d.camTimes[nCam - 1].toFixed(3)} s: ` +
        'recordings of different lengths or clocks (check the camera rate and the neural timestamps)',
    );
  }
}
