/**
 * Training FMnet on labelled frames (facemap.md section 1), as a function rather than an
 * estimator: `trainPoseModel(labels, config, { onProgress })` returns the trained tfjs model with
 * its history, best epoch and split, ready for `saveModel` (model-io.ts); `fineTune(baseDir, ...)`
 * starts from a saved model with Facemap's fine-tuning defaults. (A function suits the single,
 * long, resumable-from-a-folder nature of training; inference is `predictPose` on the model.)
 *
 * Pipeline: every labelled image is read once (validateLabels first, so that a missing image or
 * bad label fails before any training). The frames are split, seeded, into training and
 * validation. Each epoch: a seeded shuffle, and per frame a seeded augmentation (augment.ts:
 * box expansion, flip, brightness/contrast) that crops, pads, resizes and normalises it, then
 * targets on the heatmap grid. Each optimiser step averages the gradients of `batchSize /
 * microBatch` micro-batches (gradient accumulation: an effective batch of 8 as 2 x 4 or 8 x 1,
 * since wasm runs out of memory at 8 x 256 x 256; BatchNorm sees micro-batch statistics), then
 * AdamW with grad-norm clip 50 and Facemap's schedule (lr /10 for epochs [-6, -3), /25 for the
 * last 3). After each epoch the validation frames are predicted without augmentation and their
 * error measured in ORIGINAL frame pixels; the weights of the best epoch (lowest mean error; the
 * last epoch when there is no validation set) are kept in memory and restored at the end.
 *
 * Deterministic: one seed drives the initialisation, split, shuffles and augmentation, so the
 * same seed and data give the same weights (on one backend).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readCheckpoint, runFingerprint, writeCheckpoint } from './checkpoint';
import { EngineError, FormatError, ParamError } from '../errors';
import { readPngGrey } from '../io/png';
import { Rng } from '../util/random';
import { type AugmentConfig, augmentSample } from './augment';
import { createFMnet, fmnetForward, fmnetKeypoints, fmnetTrainableVariables, FMNET_CHANNELS } from './fmnet';
import type { LabelSet } from './labels/types';
import { imagePath, validateLabels } from './labels/validate';
import { fmnetLoss } from './loss';
import { keypointErrors } from './metrics';
import { loadModel, type ModelCard } from './model-io';
import { OrtFMnetStep, ortStepSupport } from './ort-train';
import { AdamW, facemapLearningRate } from './optim';
import { type PoseFrame, predictPose } from './predict';
import { type CropBox, cropPadResize, cropTransform, fullFrameBox, inferenceExpand, normalizeFrame, toNetworkCoords } from './preprocess';
import { HEATMAP_STRIDE, makeTargets, targetsToTensors } from './targets';

/** Training configuration; see {@link resolvePoseTrainConfig} for defaults and ranges. */
export interface PoseTrainConfig {
  /** Epochs (integer >= 1). Default 100 (from scratch); 36 when fine-tuning. */
  epochs?: number;
  /** Frames per optimiser step, the effective batch (integer >= 1). Default 8; 1 when fine-tuning. */
  batchSize?: number;
  /** Frames per forward/backward pass; must divide batchSize. Default batchSize (no accumulation). */
  microBatch?: number;
  /** Base learning rate (> 0). Default 1e-3; 1e-4 when fine-tuning. */
  lr?: number;
  /** AdamW decoupled weight decay (>= 0). Default 1e-4; 0 when fine-tuning. */
  weightDecay?: number;
  /** Max global gradient norm. Default 50 (Facemap). */
  clipNorm?: number;
  /** Fraction of frames held out for validation, [0, 0.9]. Default 0.1 (at least one frame when > 0). */
  valFraction?: number;
  /** Seed of initialisation, split, shuffles and augmentation (integer). Default 0. */
  seed?: number;
  /** Crop box for every frame (original pixels, end-exclusive); null = the whole frame. Default null. */
  box?: CropBox | null;
  /** Network input side (multiple of 16, >= 32). Default 256. Ignored when fine-tuning (the base's). */
  inputSize?: number;
  /** Encoder channels (5). Default Facemap's [32, 64, 128, 128, 200]. Ignored when fine-tuning. */
  channels?: readonly number[];
  /** Augmentation options (augment.ts; outSize is set from inputSize), or false for none. Default {} (Facemap's). */
  augment?: Omit<AugmentConfig, 'outSize'> | false;
  /**
   * What computes each forward/backward pass: 'ort', the whole step as one ONNX Runtime session
   * (ort-train.ts; EngineError where ONNX Runtime is missing); 'tfjs', tf.variableGrads on the
   * active tfjs backend; 'auto' (default), 'ort' where ONNX Runtime is available and the model's
   * layers are supported, else 'tfjs'. Same results up to float32 rounding; the AdamW update,
   * BatchNorm running statistics and checkpoints are the same either way (a checkpoint written
   * with one engine resumes with the other).
   */
  engine?: PoseTrainEngine;
}

/** See {@link PoseTrainConfig.engine}. */
export type PoseTrainEngine = 'auto' | 'ort' | 'tfjs';

export type ResolvedPoseTrainConfig = Required<Omit<PoseTrainConfig, 'box' | 'augment' | 'channels'>> & {
  channels: number[];
  box: CropBox | null;
  augment: Omit<AugmentConfig, 'outSize'> | false;
};

/** Facemap's fine-tuning defaults. */
export const FINE_TUNE_DEFAULTS: Readonly<PoseTrainConfig> = Object.freeze({ epochs: 36, batchSize: 1, lr: 1e-4, weightDecay: 0 });

/** Defaults for training from scratch (this project's choice; Facemap ships a pretrained model instead). */
export const TRAIN_DEFAULTS: Readonly<PoseTrainConfig> = Object.freeze({ epochs: 100, batchSize: 8, lr: 1e-3, weightDecay: 1e-4 });

/** Fills defaults and validates every field; throws ParamError naming the first bad one. */
export function resolvePoseTrainConfig(config: PoseTrainConfig = {}, defaults: Readonly<PoseTrainConfig> = TRAIN_DEFAULTS): ResolvedPoseTrainConfig {
  const c = { ...TRAIN_DEFAULTS, ...defaults, ...stripUndefined(config) };
  const r: ResolvedPoseTrainConfig = {
    epochs: c.epochs!,
    batchSize: c.batchSize!,
    microBatch: c.microBatch ?? c.batchSize!,
    lr: c.lr!,
    weightDecay: c.weightDecay!,
    clipNorm: c.clipNorm ?? 50,
    valFraction: c.valFraction ?? 0.1,
    seed: c.seed ?? 0,
    box: c.box ?? null,
    inputSize: c.inputSize ?? 256,
    channels: [...(c.channels ?? FMNET_CHANNELS)],
    augment: c.augment ?? {},
    engine: c.engine ?? 'auto',
  };
  const int = (k: 'epochs' | 'batchSize' | 'microBatch', min: number): void => {
    if (!Number.isInteger(r[k]) || r[k] < min) throw new ParamError(k, r[k], `an integer >= ${min}`);
  };
  int('epochs', 1);
  int('batchSize', 1);
  int('microBatch', 1);
  if (r.batchSize % r.microBatch !== 0) throw new ParamError('microBatch', r.microBatch, `a divisor of batchSize (${r.batchSize})`);
  if (!(r.lr > 0 && Number.isFinite(r.lr))) throw new ParamError('lr', r.lr, 'a finite number > 0');
  if (!(r.weightDecay >= 0 && Number.isFinite(r.weightDecay))) throw new ParamError('weightDecay', r.weightDecay, 'a finite number >= 0');
  if (!(r.clipNorm > 0)) throw new ParamError('clipNorm', r.clipNorm, 'a number > 0 (Infinity: no clipping)');
  if (!(r.valFraction >= 0 && r.valFraction <= 0.9)) throw new ParamError('valFraction', r.valFraction, 'a number in [0, 0.9]');
  if (!Number.isInteger(r.seed)) throw new ParamError('seed', r.seed, 'an integer');
  if (!Number.isInteger(r.inputSize) || r.inputSize < 32 || r.inputSize % 16 !== 0) {
    throw new ParamError('inputSize', r.inputSize, 'an integer multiple of 16, >= 32');
  }
  if (r.channels.length !== 5 || !r.channels.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new ParamError('channels', r.channels, '5 positive integers (one per encoder level)');
  }
  if (!['auto', 'ort', 'tfjs'].includes(r.engine)) throw new ParamError('engine', r.engine, "'auto', 'ort' or 'tfjs'");
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Labelled frames in memory: images and labels in original-frame pixels. */
export interface LabelledFrames {
  keypoints: string[];
  /** Absolute image paths, one per frame. */
  files: string[];
  frames: PoseFrame[];
  /** Labels x and y, each [N*K] frame-major, px, NaN = missing (out-of-image labels masked). */
  x: Float32Array;
  y: Float32Array;
  /** What validateLabels masked or tolerated. */
  warnings: string[];
}

/**
 * Validates the labels (a missing image throws FormatError naming it) and reads each image once as
 * 8-bit grey. Video-frame labels (SLEAP) are not supported here yet: FormatError.
 */
export function loadLabelledFrames(labels: LabelSet, options: { labelFile?: string } = {}): LabelledFrames {
  const report = validateLabels(labels, { labelFile: options.labelFile });
  const set = report.set;
  const K = set.keypoints.length;
  const files = set.frames.map((f) => imagePath(set, f));
  const cache = new Map<string, PoseFrame>();
  const frames = set.frames.map((f, i) => {
    if (f.frameIndex !== undefined) throw new FormatError(files[i], `frame ${i} is a video frame (index ${f.frameIndex}): training reads image files only`);
    let img = cache.get(files[i]);
    if (!img) {
      const g = readPngGrey(files[i]);
      img = { data: g.data, width: g.width, height: g.height };
      cache.set(files[i], img);
    }
    return img;
  });
  const x = new Float32Array(set.frames.length * K);
  const y = new Float32Array(set.frames.length * K);
  set.frames.forEach((f, i) => {
    x.set(f.x, i * K);
    y.set(f.y, i * K);
  });
  return { keypoints: [...set.keypoints], files, frames, x, y, warnings: report.warnings };
}

/** One epoch of the history. */
export interface EpochRecord {
  epoch: number;
  lr: number;
  /** Mean training loss over the epoch's steps. */
  loss: number;
  /** Mean validation error, original-frame px; NaN without a validation set. */
  valError: number;
  seconds: number;
}

/** Progress after each optimiser step (`valError` is that of the last finished epoch). */
export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  valError: number;
  bestEpoch: number;
  /** Estimated seconds left. */
  etaS: number;
  /** True on the report that ends an epoch (after validation). */
  epochDone: boolean;
}

export interface TrainOptions {
  onProgress?: (p: TrainProgress) => void;
  /** Training / validation frame indices, instead of the seeded split (e.g. from kFold). */
  split?: { train: ArrayLike<number>; val: ArrayLike<number> };
  /** Frames already read (from {@link loadLabelledFrames}); `labels` is then only used for its keypoints. */
  data?: LabelledFrames;
  /** Start from this model (its keypoints must be `labels.keypoints`); trainPoseModel takes ownership. */
  initialModel?: tf.LayersModel;
  /**
   * Folder for a checkpoint after every epoch (checkpoint.ts). When it already holds a checkpoint
   * of this same run (same labels, split and config), training resumes after its last epoch and
   * ends with the same weights as an uninterrupted run; a checkpoint of another run is a ParamError.
   */
  checkpointDir?: string;
}

/** What training returns; the caller owns (and disposes) `model`. */
export interface PoseTrainResult {
  model: tf.LayersModel;
  keypoints: string[];
  config: ResolvedPoseTrainConfig;
  history: EpochRecord[];
  /** 0-based epoch whose weights were kept. */
  bestEpoch: number;
  /** Its validation error (px), NaN without validation. */
  bestValError: number;
  /** Frame indices used for training and validation, ascending. */
  split: { train: number[]; val: number[] };
  /** Image files trained on (absolute) and the frame count. */
  files: string[];
  nFrames: number;
  /** The engine that computed the steps ('ort' or 'tfjs'), and why 'auto' chose tfjs. */
  engine: { used: 'ort' | 'tfjs'; reason?: string };
}

/** Seeded split: round(valFraction * n) validation frames (at least one when valFraction > 0 and n >= 2). */
export function trainValSplit(n: number, valFraction: number, seed: number): { train: number[]; val: number[] } {
  const rng = new Rng(seed ^ 0x5eed);
  const order = shuffled(Array.from({ length: n }, (_, i) => i), rng);
  let nVal = Math.round(valFraction * n);
  if (valFraction > 0 && n >= 2) nVal = Math.min(Math.max(nVal, 1), n - 1);
  if (n - nVal < 1) nVal = 0;
  const val = order.slice(0, nVal).sort((a, b) => a - b);
  const train = order.slice(nVal).sort((a, b) => a - b);
  return { train, val };
}

function shuffled<T>(a: T[], rng: Rng): T[] {
  const o = [...a];
  for (let i = o.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [o[i], o[j]] = [o[j], o[i]];
  }
  return o;
}

/** Mean error (px) of `model` on frames `idx`, ignoring missing labels. */
function validationError(model: tf.LayersModel, data: LabelledFrames, idx: number[], box: CropBox | null, batchSize: number, expand: number): number {
  const K = data.keypoints.length;
  // Predicted as at inference: the box grown by the mean training expansion (predict.ts).
  const pred = predictPose(
    model,
    idx.map((i) => data.frames[i]),
    { box, batchSize, expand },
  );
  const pick = (a: Float32Array): Float32Array => {
    const o = new Float32Array(idx.length * K);
    idx.forEach((i, j) => o.set(a.subarray(i * K, (i + 1) * K), j * K));
    return o;
  };
  const err = keypointErrors(pred, { x: pick(data.x), y: pick(data.y) });
  let s = 0;
  let n = 0;
  for (const e of err) if (!Number.isNaN(e)) (s += e), n++;
  return n ? s / n : NaN;
}

/** One training example: normalised image [S*S] and keypoints [K*2] in network pixels. */
function example(data: LabelledFrames, i: number, config: ResolvedPoseTrainConfig, rng: Rng): { image: Float32Array; kp: Float32Array } {
  const K = data.keypoints.length;
  const f = data.frames[i];
  const S = config.inputSize;
  const box = config.box ?? fullFrameBox(f.width, f.height);
  const kp = new Float32Array(K * 2);
  for (let k = 0; k < K; k++) {
    kp[2 * k] = data.x[i * K + k];
    kp[2 * k + 1] = data.y[i * K + k];
  }
  const pixels = f.data instanceof Uint8Array || f.data instanceof Float32Array ? f.data : Float32Array.from(f.data);
  if (config.augment) {
    const a = augmentSample(pixels, f.width, f.height, box, kp, rng, { ...config.augment, outSize: S });
    return { image: a.image, kp: a.keypoints };
  }
  const t = cropTransform(box, f.width, f.height, S);
  const net = new Float32Array(K * 2);
  for (let k = 0; k < K; k++) [net[2 * k], net[2 * k + 1]] = toNetworkCoords(t, kp[2 * k], kp[2 * k + 1]);
  return { image: normalizeFrame(cropPadResize(pixels, f.width, f.height, t)), kp: net };
}

/**
 * Trains FMnet on `labels` (see the file comment). Throws FormatError / ShapeError from label
 * validation before any training, ParamError for a bad config. Leaks no tensors: the returned
 * model is the only new tf memory.
 */
export async function trainPoseModel(labels: LabelSet, config: PoseTrainConfig = {}, options: TrainOptions = {}): Promise<PoseTrainResult> {
  return trainWith(labels, resolvePoseTrainConfig(config), options);
}

async function trainWith(labels: LabelSet, cfg: ResolvedPoseTrainConfig, options: TrainOptions): Promise<PoseTrainResult> {
  let data: LabelledFrames;
  try {
    data = options.data ?? loadLabelledFrames(labels);
  } catch (e) {
    options.initialModel?.dispose();
    throw e;
  }
  const K = data.keypoints.length;
  const n = data.frames.length;
  if (n < 1) {
    options.initialModel?.dispose();
    throw new ParamError('labels.frames', n, 'at least one labelled frame');
  }
  if (cfg.box) for (const [i, f] of data.frames.entries()) {
    try {
      cropTransform(cfg.box, f.width, f.height, cfg.inputSize);
    } catch (e) {
      options.initialModel?.dispose();
      throw new ParamError('box', cfg.box, `a box inside every frame (frame ${i}, ${data.files[i]}, is ${f.width}x${f.height}): ${(e as Error).message}`);
    }
  }
  const split = options.split
    ? { train: Array.from(options.split.train), val: Array.from(options.split.val) }
    : trainValSplit(n, cfg.valFraction, cfg.seed);
  if (split.train.length < 1) {
    options.initialModel?.dispose();
    throw new ParamError('split.train', split.train, 'at least one training frame');
  }

  const model = options.initialModel ?? createFMnet({ nKeypoints: K, channels: cfg.channels, inputSize: cfg.inputSize, seed: cfg.seed });
  if (fmnetKeypoints(model) !== K) {
    model.dispose();
    throw new ParamError('initialModel', fmnetKeypoints(model), `a model with ${K} keypoints`);
  }
  cfg = { ...cfg, inputSize: model.inputs[0].shape[1] as number };
  const S = cfg.inputSize;
  const G = S / HEATMAP_STRIDE;
  let ortStep: OrtFMnetStep | null = null;
  let engineReason: string | undefined;
  if (cfg.engine !== 'tfjs') {
    const support = ortStepSupport(model);
    if (support.ok) ortStep = new OrtFMnetStep(model);
    else if (cfg.engine === 'ort') {
      model.dispose();
      throw support.reason.startsWith('ONNX Runtime') ? new EngineError(`engine 'ort': ${support.reason}`) : new ParamError('engine', 'ort', `a model the ONNX Runtime step supports (${support.reason})`);
    } else engineReason = support.reason;
  }
  const optimizer = new AdamW(fmnetTrainableVariables(model), { lr: cfg.lr, weightDecay: cfg.weightDecay, clipNorm: cfg.clipNorm });
  const rng = new Rng(cfg.seed);
  const stepsPerEpoch = Math.ceil(split.train.length / cfg.batchSize);
  let history: EpochRecord[] = [];
  let best: tf.Tensor[] | null = null;
  let bestEpoch = -1;
  let bestValError = NaN;
  const t0 = performance.now();
  let lastValError = NaN;
  let startEpoch = 0;
  const fingerprint = options.checkpointDir
    ? runFingerprint({ cfg: { ...cfg, engine: undefined }, split, keypoints: data.keypoints, files: data.files.map((f) => path.basename(f)), n, fineTune: Boolean(options.initialModel) })
    : '';

  try {
    if (options.checkpointDir) {
      const ck = readCheckpoint<EpochRecord>(options.checkpointDir, fingerprint);
      if (ck) {
        const shapes = model.getWeights().map((w) => w.shape);
        if (ck.weights.length !== shapes.length) throw new FormatError(options.checkpointDir, `checkpoint has ${ck.weights.length} weight arrays; the model has ${shapes.length}`);
        model.setWeights(ck.weights.map((a, i) => tf.tensor(a, shapes[i])));
        optimizer.importState({ t: ck.optimizerSteps, m: ck.m, v: ck.v });
        rng.setState(ck.rng);
        if (ck.best.length) best = ck.best.map((a, i) => tf.tensor(a, shapes[i]));
        history = ck.history;
        bestEpoch = ck.bestEpoch;
        bestValError = ck.bestValError;
        lastValError = ck.lastValError;
        startEpoch = ck.epochsDone;
      }
    }
    for (let epoch = startEpoch; epoch < cfg.epochs; epoch++) {
      const te = performance.now();
      optimizer.lr = facemapLearningRate(epoch, cfg.epochs, cfg.lr);
      const order = shuffled(split.train, rng);
      let lossSum = 0;
      for (let step = 0; step < stepsPerEpoch; step++) {
        const batch = order.slice(step * cfg.batchSize, (step + 1) * cfg.batchSize);
        let acc: tf.Tensor[] | null = null;
        let stepLoss = 0;
        for (let lo = 0; lo < batch.length; lo += cfg.microBatch) {
          const micro = batch.slice(lo, lo + cfg.microBatch);
          const ex = micro.map((i) => example(data, i, cfg, rng));
          const pixels = new Float32Array(micro.length * S * S);
          const kps = new Float32Array(micro.length * K * 2);
          ex.forEach((e, j) => {
            pixels.set(e.image, j * S * S);
            kps.set(e.kp, j * K * 2);
          });
          const weight = micro.length / batch.length;
          if (ortStep) {
            const r = ortStep.run(pixels, makeTargets(kps, micro.length, K, G), micro.length);
            ortStep.updateBatchNormStats(r, micro.length);
            stepLoss += r.loss * weight;
            const next: tf.Tensor[] = tf.tidy(() =>
              r.grads.map((d, j) => {
                const g = tf.tensor(d, optimizer.variables[j].shape).mul(weight);
                return acc ? acc[j].add(g) : g;
              }),
            );
            tf.dispose(acc ?? []);
            acc = next;
            continue;
          }
          const images = tf.tensor4d(pixels, [micro.length, S, S, 1]);
          const targets = targetsToTensors(makeTargets(kps, micro.length, K, G));
          const { value, grads } = tf.variableGrads(
            () => fmnetLoss(fmnetForward(model, images, { training: true }), targets, { normalizeHeatmap: true }),
            optimizer.variables,
          );
          stepLoss += value.dataSync()[0] * weight;
          const list = optimizer.variables.map((v) => grads[v.name]);
          const next: tf.Tensor[] = tf.tidy(() => list.map((g, j) => (acc ? acc[j].add(g.mul(weight)) : g.mul(weight))));
          tf.dispose([value, images, ...Object.values(targets), ...Object.values(grads), ...(acc ?? [])]);
          acc = next;
        }
        optimizer.step(acc!);
        tf.dispose(acc!);
        lossSum += stepLoss;
        const done = (epoch - startEpoch) * stepsPerEpoch + step + 1;
        const elapsed = (performance.now() - t0) / 1000;
        options.onProgress?.({
          epoch,
          epochs: cfg.epochs,
          step: step + 1,
          stepsPerEpoch,
          loss: stepLoss,
          valError: lastValError,
          bestEpoch,
          etaS: (elapsed / done) * ((cfg.epochs - startEpoch) * stepsPerEpoch - done),
          epochDone: false,
        });
        await new Promise((r) => setImmediate(r));
      }
      lastValError = split.val.length ? validationError(model, data, split.val, cfg.box, Math.max(cfg.microBatch, 1), inferenceExpand(cfg.augment)) : NaN;
      const improved = split.val.length === 0 || bestEpoch < 0 || lastValError < bestValError;
      if (improved) {
        tf.dispose(best ?? []);
        best = model.getWeights().map((w) => tf.clone(w));
        bestEpoch = epoch;
        bestValError = lastValError;
      }
      const record: EpochRecord = { epoch, lr: optimizer.lr, loss: lossSum / stepsPerEpoch, valError: lastValError, seconds: (performance.now() - te) / 1000 };
      history.push(record);
      if (options.checkpointDir) {
        const opt = optimizer.exportState();
        writeCheckpoint(options.checkpointDir, {
          fingerprint,
          epochsDone: epoch + 1,
          history,
          bestEpoch,
          bestValError,
          lastValError,
          rng: rng.getState(),
          optimizerSteps: opt.t,
          weights: model.getWeights().map((w) => (w.dataSync() as Float32Array).slice()),
          m: opt.m,
          v: opt.v,
          best: (best ?? []).map((w) => (w.dataSync() as Float32Array).slice()),
        });
      }
      const elapsed = (performance.now() - t0) / 1000;
      options.onProgress?.({
        epoch,
        epochs: cfg.epochs,
        step: stepsPerEpoch,
        stepsPerEpoch,
        loss: record.loss,
        valError: lastValError,
        bestEpoch,
        etaS: (elapsed / (epoch + 1 - startEpoch)) * (cfg.epochs - epoch - 1),
        epochDone: true,
      });
    }
    if (best) model.setWeights(best);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(best ?? []);
    optimizer.dispose();
    ortStep?.dispose();
  }
  const engine = ortStep ? { used: 'ort' as const } : { used: 'tfjs' as const, ...(engineReason ? { reason: engineReason } : {}) };
  return { model, keypoints: [...data.keypoints], config: cfg, history, bestEpoch, bestValError, split, files: data.files, nFrames: n, engine };
}

/** Names of FMnet's three head layers (re-initialised when fine-tuning to new keypoints). */
export const HEAD_LAYERS: readonly string[] = ['heatmap', 'row_offset', 'col_offset'];

/**
 * A copy of `base` (keypoints `baseKeypoints`) for `keypoints`: the same model when they are equal
 * (names and order), else a new FMnet with the base's encoder/decoder weights (BatchNorm
 * statistics included) and freshly initialised (seeded) heads sized to the new keypoints. Takes
 * ownership of `base` (disposes it when it builds a new model).
 */
export function adaptHeads(base: tf.LayersModel, baseKeypoints: readonly string[], keypoints: readonly string[], channels: readonly number[], seed: number): tf.LayersModel {
  if (baseKeypoints.length === keypoints.length && baseKeypoints.every((k, i) => k === keypoints[i])) return base;
  const model = createFMnet({ nKeypoints: keypoints.length, channels, inputSize: base.inputs[0].shape[1] as number, seed });
  for (const layer of model.layers) {
    if (HEAD_LAYERS.includes(layer.name)) continue;
    const weights = base.getLayer(layer.name).getWeights();
    if (weights.length) layer.setWeights(weights);
  }
  base.dispose();
  return model;
}

/** Fine-tunes a base model (already loaded) on `labels`; see {@link fineTune} for the file version. */
export async function fineTuneModel(
  base: tf.LayersModel,
  baseKeypoints: readonly string[],
  baseChannels: readonly number[],
  labels: LabelSet,
  config: PoseTrainConfig = {},
  options: Omit<TrainOptions, 'initialModel'> = {},
): Promise<PoseTrainResult> {
  const cfg = resolvePoseTrainConfig({ ...config, channels: baseChannels, inputSize: base.inputs[0].shape[1] as number }, FINE_TUNE_DEFAULTS);
  let data: LabelledFrames;
  try {
    data = options.data ?? loadLabelledFrames(labels);
  } catch (e) {
    base.dispose();
    throw e;
  }
  const model = adaptHeads(base, baseKeypoints, data.keypoints, baseChannels, cfg.seed);
  return trainWith(labels, cfg, { ...options, data, initialModel: model });
}

/** Fine-tunes the model saved in `baseDir` on `labels` with Facemap's fine-tuning defaults (see train.ts). */
export async function fineTune(
  baseDir: string,
  labels: LabelSet,
  config: PoseTrainConfig = {},
  options: { onProgress?: (p: TrainProgress) => void; data?: LabelledFrames; checkpointDir?: string } = {},
): Promise<PoseTrainResult & { baseCard: ModelCard }> {
  const data = options.data ?? loadLabelledFrames(labels);
  const { model, card } = await loadModel(baseDir);
  const result = await fineTuneModel(model, card.keypoints, card.channels, labels, { ...config, box: config.box === undefined ? card.box : config.box }, { ...options, data });
  return { ...result, baseCard: card };
}

/** What {@link modelFromCheckpoint} returns; the caller owns (and disposes) `model`. */
export interface CheckpointModel {
  model: tf.LayersModel;
  keypoints: string[];
  config: ResolvedPoseTrainConfig;
  split: { train: number[]; val: number[] };
  /** Image file names (no folders) the run trained on, in label order. */
  files: string[];
  epochsDone: number;
  /** 0-based epoch whose weights the model holds (the best by validation; the last without validation). */
  epoch: number;
  valError: number;
  history: EpochRecord[];
}

/**
 * The model of a training checkpoint folder (see checkpoint.ts), e.g. of a run that was stopped or
 * is still going: its best epoch's weights (by validation error), or the last epoch's when the run
 * has no validation frames. Everything about the run is read from the checkpoint itself.
 * @throws FormatError when the folder holds no readable checkpoint.
 */
export function modelFromCheckpoint(dir: string): CheckpointModel {
  const jsonPath = path.join(dir, 'checkpoint.json');
  let fingerprint: string;
  try {
    fingerprint = (JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as { fingerprint: string }).fingerprint;
  } catch (e) {
    throw new FormatError(jsonPath, `not a readable training checkpoint (${(e as Error).message})`);
  }
  const ck = readCheckpoint<EpochRecord>(dir, fingerprint);
  if (!ck) throw new FormatError(jsonPath, 'missing');
  const run = JSON.parse(fingerprint) as { cfg: ResolvedPoseTrainConfig; split: { train: number[]; val: number[] }; keypoints: string[]; files: string[] };
  const model = createFMnet({ nKeypoints: run.keypoints.length, channels: run.cfg.channels, inputSize: run.cfg.inputSize, seed: run.cfg.seed });
  const useBest = ck.best.length > 0;
  const arrays = useBest ? ck.best : ck.weights;
  const shapes = model.getWeights().map((w) => w.shape);
  if (arrays.length !== shapes.length) {
    model.dispose();
    throw new FormatError(jsonPath, `checkpoint has ${arrays.length} weight arrays; an FMnet of its settings has ${shapes.length}`);
  }
  const tensors = arrays.map((a, i) => tf.tensor(a, shapes[i]));
  model.setWeights(tensors);
  tf.dispose(tensors);
  return {
    model,
    keypoints: run.keypoints,
    config: run.cfg,
    split: run.split,
    files: run.files,
    epochsDone: ck.epochsDone,
    epoch: useBest ? ck.bestEpoch : ck.epochsDone - 1,
    valError: useBest ? ck.bestValError : ck.lastValError,
    history: ck.history,
  };
}
