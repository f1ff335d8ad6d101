/**
 * Accuracy of a pose model on labelled frames, and k-fold cross-validation of training.
 * Errors are in original-frame pixels (metrics.ts); the reference size of the fractional PCK is
 * the side of each frame's crop square (the box, or the whole frame, padded square).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ParamError } from '../errors';
import { writeFileAtomicSync } from '../util/fsx';
import { kFold } from './labels/arrays';
import type { LabelSet } from './labels/types';
import { type MetricOptions, type PoseMetrics, poseMetrics } from './metrics';
import { cardImagePaths, cardInferenceExpand, loadModel, type ModelCard, readModelCard, saveModel } from './model-io';
import { type DecodedKeypoints, keypointsInFrame } from './decode';
import { openPoseEngine, type PosePrecision } from './pose-engine';
import { frameTransforms, predictPose } from './predict';
import { type CropBox, inferenceExpand, preprocessFrame } from './preprocess';
import {
  type LabelledFrames,
  type PoseTrainConfig,
  type PoseTrainResult,
  type TrainProgress,
  fineTuneModel,
  loadLabelledFrames,
  trainPoseModel,
} from './train';

/** Options of {@link evaluatePose}. */
export interface EvaluateOptions extends Omit<MetricOptions, 'referenceSize'> {
  /** Crop box; default the whole frame. */
  box?: CropBox | null;
  /** Frames per forward pass. Default 8. */
  batchSize?: number;
  /** Evaluate only these frames (indices into the data). Default all. */
  indices?: ArrayLike<number>;
  /**
   * Box expansion per side at inference (predict.ts). Default 0 in evaluatePose; the model card's
   * (cardInferenceExpand) in evaluateModelDir, the training configuration's in crossValidate.
   */
  expand?: number;
  /** Average each prediction with that of the mirrored frame (predict.ts). Default false. */
  flipAverage?: boolean;
}

/** Predictions and metrics on labelled frames. */
export interface EvaluationResult {
  metrics: PoseMetrics;
  /** Frames evaluated (indices into the data). */
  indices: number[];
  /** Predictions x, y, likelihood, each [n*K] in original-frame pixels (n = indices.length). */
  x: Float32Array;
  y: Float32Array;
  likelihood: Float32Array;
}

/**
 * Predicts the labelled frames with `model` (its keypoints must be the data's, in order) and
 * measures the error. Leaks no tensors.
 */
export function evaluatePose(model: tf.LayersModel, data: LabelledFrames, options: EvaluateOptions = {}): EvaluationResult {
  const K = data.keypoints.length;
  if ((model.outputs[0].shape[3] as number) !== K) throw new ParamError('model', model.outputs[0].shape[3], `a model with ${K} keypoints (${data.keypoints.join(', ')})`);
  const indices = options.indices ? Array.from(options.indices) : data.frames.map((_, i) => i);
  const frames = indices.map((i) => data.frames[i]);
  const pred = predictPose(model, frames, { box: options.box, batchSize: options.batchSize, expand: options.expand, flipAverage: options.flipAverage });
  return scorePredictions(pred, data, indices, model.inputs[0].shape[1] as number, options);
}

/** Metrics of predictions of the frames `indices` against their labels. */
function scorePredictions(pred: DecodedKeypoints, data: LabelledFrames, indices: number[], inputSize: number, options: EvaluateOptions): EvaluationResult {
  // PCK's reference is the side of the labelling box, not of the expanded crop.
  const referenceSize = Float32Array.from(frameTransforms(indices.map((i) => data.frames[i]), inputSize, options.box), (t) => t.side);
  const metrics = poseMetrics(pred, pickRows(data, indices), data.keypoints, { ...options, referenceSize });
  return { metrics, indices, x: pred.x, y: pred.y, likelihood: pred.likelihood };
}

/**
 * Loads a model folder and evaluates it on `labels` (whose keypoints must be the model's, in
 * order). With `precision` 'int8' the folder's model.int8.onnx (export-onnx --int8) predicts on
 * ONNX Runtime instead of the tfjs model, so that its accuracy can be measured against the labels.
 */
export async function evaluateModelDir(
  dir: string,
  labels: LabelSet,
  options: EvaluateOptions & { labelFile?: string; precision?: PosePrecision } = {},
): Promise<EvaluationResult & { card: ModelCard; expand: number }> {
  const data = loadLabelledFrames(labels, { labelFile: options.labelFile });
  const card = readModelCard(dir);
  if (card.keypoints.join('\u0000') !== data.keypoints.join('\u0000')) {
    throw new ParamError('labels.keypoints', data.keypoints, `the model's keypoints ${JSON.stringify(card.keypoints)} in that order`);
  }
  const expand = options.expand ?? cardInferenceExpand(card);
  if ((options.precision ?? 'float32') === 'int8') {
    if (options.flipAverage) throw new ParamError('flipAverage', true, 'false with the int8 model');
    return { ...(await evaluateInt8(dir, card, data, { ...options, box: options.box === undefined ? card.box : options.box, expand })), card, expand };
  }
  const { model } = await loadModel(dir);
  try {
    return { ...evaluatePose(model, data, { box: card.box, ...options, expand }), card, expand };
  } finally {
    model.dispose();
  }
}

async function evaluateInt8(dir: string, card: ModelCard, data: LabelledFrames, options: EvaluateOptions): Promise<EvaluationResult> {
  const K = card.keypoints.length;
  const S = card.inputSize;
  const indices = options.indices ? Array.from(options.indices) : data.frames.map((_, i) => i);
  const frames = indices.map((i) => data.frames[i]);
  const transforms = frameTransforms(frames, S, options.box, options.expand ?? 0);
  const opened = await openPoseEngine(dir, { engine: 'onnx', precision: 'int8', worker: false, workers: 1 });
  const n = frames.length;
  const pred = { n, nKeypoints: K, x: new Float32Array(n * K), y: new Float32Array(n * K), likelihood: new Float32Array(n * K) };
  const B = options.batchSize ?? 8;
  try {
    for (let lo = 0; lo < n; lo += B) {
      const hi = Math.min(n, lo + B);
      const pixels = new Float32Array((hi - lo) * S * S);
      for (let i = lo; i < hi; i++) {
        const f = frames[i];
        pixels.set(preprocessFrame(f.data instanceof Uint16Array ? Float32Array.from(f.data) : f.data, f.width, f.height, transforms[i]), (i - lo) * S * S);
      }
      const r = await opened.engine.infer(pixels, hi - lo);
      const kp = keypointsInFrame(r.keypoints, transforms.slice(lo, hi));
      pred.x.set(kp.x, lo * K);
      pred.y.set(kp.y, lo * K);
      pred.likelihood.set(kp.likelihood, lo * K);
    }
  } finally {
    await opened.engine.dispose();
  }
  return scorePredictions(pred, data, indices, S, options);
}

/** Cross-validation result: one evaluation per fold and metrics of all held-out predictions pooled. */
export interface CrossValidationResult {
  k: number;
  seed: number;
  folds: { train: number[]; test: number[]; metrics: PoseMetrics; bestEpoch: number; seconds: number }[];
  /** Metrics over every frame's held-out prediction (each frame is tested once). */
  pooled: PoseMetrics;
  /** Held-out predictions of every frame, x and y each [N*K], original-frame pixels. */
  x: Float32Array;
  y: Float32Array;
}

/** Options of {@link crossValidate}. */
export interface CrossValidateOptions extends Omit<EvaluateOptions, 'indices' | 'box'> {
  /** Run only the first `maxFolds` folds (for quick checks); pooled metrics then cover those frames. */
  maxFolds?: number;
  onProgress?: (fold: number, k: number, p: TrainProgress) => void;
  onFoldDone?: (fold: number, k: number, metrics: PoseMetrics) => void;
  /** Frames already read. */
  data?: LabelledFrames;
  /** Fine-tune from this model folder in each fold instead of training from scratch. */
  baseDir?: string;
  /**
   * Resumable runs: each fold checkpoints every epoch to `<workDir>/fold-<i>/` and, when done,
   * writes its held-out predictions and metrics to `<workDir>/fold-<i>/result.json`; a fold
   * whose result is there (for the same test frames) is not trained again.
   */
  workDir?: string;
}

interface FoldResultJson {
  train: number[];
  test: number[];
  bestEpoch: number;
  seconds: number;
  /** Held-out predictions of the test frames, [test.length * K] each, null = NaN. */
  x: (number | null)[];
  y: (number | null)[];
  /** Inference options of those predictions (absent in older folders: no expansion, no flip). */
  inference?: { expand: number; flipAverage: boolean };
}

/**
 * k-fold cross-validation (kFold with config.seed): per fold, trains on the other folds (with
 * config.valFraction of them held out for checkpoint selection) and evaluates on the fold.
 */
export async function crossValidate(labels: LabelSet, config: PoseTrainConfig = {}, k = 5, options: CrossValidateOptions = {}): Promise<CrossValidationResult> {
  const data = options.data ?? loadLabelledFrames(labels);
  const n = data.frames.length;
  const K = data.keypoints.length;
  const seed = config.seed ?? 0;
  const folds = kFold(n, k, seed);
  const nFolds = Math.min(k, options.maxFolds ?? k);
  const expand = options.expand ?? inferenceExpand(config.augment === undefined ? {} : config.augment);
  const evalOptions = { ...options, box: config.box ?? null, expand };
  const inference = { expand, flipAverage: options.flipAverage ?? false };
  const x = new Float32Array(n * K).fill(NaN);
  const y = new Float32Array(n * K).fill(NaN);
  const tested: number[] = [];
  const out: CrossValidationResult['folds'] = [];
  for (let f = 0; f < nFolds; f++) {
    const train = Array.from(folds[f].train);
    const test = Array.from(folds[f].test);
    const inner = innerSplit(train, config.valFraction ?? 0.1, seed + f);
    const foldDir = options.workDir ? path.join(options.workDir, `fold-${f}`) : undefined;
    const resultPath = foldDir ? path.join(foldDir, 'result.json') : '';
    if (foldDir && fs.existsSync(resultPath)) {
      const r = JSON.parse(fs.readFileSync(resultPath, 'utf8')) as FoldResultJson;
      if (r.test.join() !== test.join() || r.x.length !== test.length * K) {
        throw new ParamError('workDir', options.workDir, `a folder of this same cross-validation (${resultPath} has other test frames)`);
      }
      let px: Float32Array = Float32Array.from(r.x, (v) => (v === null ? NaN : v));
      let py: Float32Array = Float32Array.from(r.y, (v) => (v === null ? NaN : v));
      // The fold's model is kept: predict its test frames again with this run's inference options
      // (stored predictions may come from other options); without it, the stored ones are used.
      const modelDir = path.join(foldDir, 'model');
      if (fs.existsSync(path.join(modelDir, 'model.json'))) {
        const { model } = await loadModel(modelDir);
        try {
          const ev = evaluatePose(model, data, { ...evalOptions, indices: test });
          px = ev.x;
          py = ev.y;
        } finally {
          model.dispose();
        }
        writeFoldResult(resultPath, r, px, py, inference);
      }
      test.forEach((i, j) => {
        x.set(px.subarray(j * K, (j + 1) * K), i * K);
        y.set(py.subarray(j * K, (j + 1) * K), i * K);
      });
      tested.push(...test);
      const metrics = poseMetrics({ x: px, y: py }, pickRows(data, test), data.keypoints, { ...options, referenceSize: refSides(data, test, config) });
      out.push({ train, test, metrics, bestEpoch: r.bestEpoch, seconds: r.seconds });
      options.onFoldDone?.(f, k, metrics);
      continue;
    }
    const trainOptions = { data, split: inner, checkpointDir: foldDir && path.join(foldDir, 'checkpoint'), onProgress: (p: TrainProgress) => options.onProgress?.(f, k, p) };
    let result: PoseTrainResult;
    if (options.baseDir) {
      const { model, card } = await loadModel(options.baseDir);
      result = await fineTuneModel(model, card.keypoints, card.channels, labels, config, trainOptions);
    } else {
      result = await trainPoseModel(labels, config, trainOptions);
    }
    const tEval = performance.now();
    try {
      const ev = evaluatePose(result.model, data, { ...evalOptions, indices: test });
      test.forEach((i, j) => {
        x.set(ev.x.subarray(j * K, (j + 1) * K), i * K);
        y.set(ev.y.subarray(j * K, (j + 1) * K), i * K);
      });
      tested.push(...test);
      // Training time over all runs of this fold (a resumed fold's earlier epochs included) plus evaluation.
      const seconds = result.history.reduce((a, h) => a + h.seconds, 0) + (performance.now() - tEval) / 1000;
      out.push({ train, test, metrics: ev.metrics, bestEpoch: result.bestEpoch, seconds });
      if (foldDir) {
        // The fold's model, with its held-out metrics: usable as a model trained on (k-1)/k of the data.
        await saveModel(path.join(foldDir, 'model'), result.model, {
          keypoints: result.keypoints,
          channels: result.config.channels,
          inputSize: result.config.inputSize,
          box: result.config.box,
          inferenceExpand: inferenceExpand(result.config.augment),
          trainingData: { files: cardImagePaths(train.map((i) => data.files[i]), labels.root), nFrames: train.length },
          trainingConfig: { ...result.config, split: { train: inner.train, val: inner.val }, fold: f, k },
          metrics: { heldOutFold: ev.metrics, bestEpoch: result.bestEpoch, history: result.history },
          crossValidated: false,
        });
        writeFoldResult(resultPath, { train, test, bestEpoch: result.bestEpoch, seconds }, ev.x, ev.y, inference);
      }
      options.onFoldDone?.(f, k, ev.metrics);
    } finally {
      result.model.dispose();
    }
  }
  tested.sort((a, b) => a - b);
  const pick = (a: Float32Array): Float32Array => {
    const o = new Float32Array(tested.length * K);
    tested.forEach((i, j) => o.set(a.subarray(i * K, (i + 1) * K), j * K));
    return o;
  };
  const refSide = Float32Array.from(
    frameTransforms(
      tested.map((i) => data.frames[i]),
      config.inputSize ?? 256,
      config.box,
    ),
    (t) => t.side,
  );
  const pooled = poseMetrics({ x: pick(x), y: pick(y) }, { x: pick(data.x), y: pick(data.y) }, data.keypoints, { ...options, referenceSize: refSide });
  return { k, seed, folds: out, pooled, x, y };
}

/** Writes a fold's result.json (atomically): its predictions (NaN as null) and their inference options. */
function writeFoldResult(file: string, fold: Pick<FoldResultJson, 'train' | 'test' | 'bestEpoch' | 'seconds'>, x: Float32Array, y: Float32Array, inference: FoldResultJson['inference']): void {
  const nul = (a: Float32Array): (number | null)[] => Array.from(a, (v) => (Number.isFinite(v) ? v : null));
  const json: FoldResultJson = { train: fold.train, test: fold.test, bestEpoch: fold.bestEpoch, seconds: fold.seconds, x: nul(x), y: nul(y), inference };
  writeFileAtomicSync(file, `${JSON.stringify(json)}\n`);
}

/** Labels of frames `idx`, x and y [idx.length * K]. */
function pickRows(data: LabelledFrames, idx: number[]): { x: Float32Array; y: Float32Array } {
  const K = data.keypoints.length;
  const x = new Float32Array(idx.length * K);
  const y = new Float32Array(idx.length * K);
  idx.forEach((i, j) => {
    x.set(data.x.subarray(i * K, (i + 1) * K), j * K);
    y.set(data.y.subarray(i * K, (i + 1) * K), j * K);
  });
  return { x, y };
}

/** Side (px) of each frame's square crop, for errors relative to the reference size. */
function refSides(data: LabelledFrames, idx: number[], config: PoseTrainConfig): Float32Array {
  return Float32Array.from(
    frameTransforms(
      idx.map((i) => data.frames[i]),
      config.inputSize ?? 256,
      config.box,
    ),
    (t) => t.side,
  );
}

/** Seeded inner validation split of a fold's training frames (none when valFraction is 0 or too few frames). */
function innerSplit(train: number[], valFraction: number, seed: number): { train: number[]; val: number[] } {
  if (!(valFraction > 0) || train.length < 2) return { train, val: [] };
  const nVal = Math.min(Math.max(Math.round(valFraction * train.length), 1), train.length - 1);
  const folds = kFold(train.length, Math.max(2, Math.min(train.length, Math.round(train.length / nVal))), seed);
  const val = Array.from(folds[0].test, (j) => train[j]);
  const inVal = new Set(val);
  return { train: train.filter((i) => !inVal.has(i)), val };
}
