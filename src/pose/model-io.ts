/**
 * A pose model folder: `model.json` (tfjs Layers topology + weights manifest), `weights.bin` (all
 * weights, BatchNorm statistics included, float32 little-endian) and `card.json` (what the model
 * tracks and how its input is made, how it was trained, how well it does). tfjs's `file://` handler
 * exists only in tfjs-node, so a small IOHandler reads and writes the files here. The folder is
 * written whole into a temporary sibling and renamed into place: a failed save leaves any previous
 * model untouched, never a half-written one. Files carry no timestamp unless `card.created` is set,
 * so the same model gives byte-identical files.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, initBackend } from '../engine/backend';
import { FormatError } from '../errors';
import { tempPathFor } from '../util/fsx';
import { type CropBox, inferenceExpand } from './preprocess';
import './fmnet';

/** Metadata saved beside the weights. */
export interface ModelCard {
  /** Keypoint names in output-map order. */
  keypoints: string[];
  /** Encoder channels (5 levels). */
  channels: number[];
  /** Network input side, px. */
  inputSize: number;
  /** Crop box used in training (original pixels, end-exclusive), null = the whole frame. */
  box: CropBox | null;
  /**
   * Fraction of the box's width/height added on each side at inference (clamped to the frame): the
   * mean of the training box expansion, so that frames are seen at the scale trained on. Absent in
   * older cards; {@link cardInferenceExpand} then derives it from `trainingConfig.augment`.
   */
  inferenceExpand?: number;
  /** How frames map to the input (a sentence; fixed by preprocess.ts). */
  boxConvention?: string;
  /** Input normalisation (a sentence). */
  normalisation?: string;
  /** Training data: image files and frame count. */
  trainingData?: { files: string[]; nFrames: number; labelFiles?: string[] };
  /** The resolved training configuration. */
  trainingConfig?: object;
  /** Metrics, e.g. from evaluate/crossValidate; `crossValidated` says which. */
  metrics?: object;
  crossValidated?: boolean;
  /** Base model folder when fine-tuned. */
  base?: string;
  facemapTsVersion?: string;
  /** ISO time; omitted by default for reproducible files. */
  created?: string;
}

export const BOX_CONVENTION =
  'box {x0,x1,y0,y1} in original-frame pixels, end-exclusive, pixel centres at integers; crop, zero-pad evenly to a square (extra pixel right/bottom), bilinear resize with half-pixel centres to inputSize';
export const NORMALISATION = 'per frame (X - p1) / (p99 - p1), percentiles by linear interpolation';

/** This package's version, from package.json ('unknown' when not found). */
export function facemapTsVersion(): string {
  for (const up of ['../../..', '../..']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'facemap-ts' && pkg.version) return pkg.version;
    } catch {
      // not here: try the next candidate
    }
  }
  return 'unknown';
}

function joinWeights(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (!data) return new ArrayBuffer(0);
  return Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data;
}

/** An IOHandler that writes model.json + weights.bin into `dir` (which must exist) and reads them back. */
export function folderHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weights = joinWeights(artifacts.weightData);
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
      fs.writeFileSync(path.join(dir, 'weights.bin'), new Uint8Array(weights));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const jsonFile = path.join(dir, 'model.json');
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as tf.io.ModelJSON;
      } catch (e) {
        throw new FormatError(jsonFile, `not a readable tfjs model.json: ${(e as Error).message}`);
      }
      const specs = json.weightsManifest.flatMap((g) => g.weights);
      const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => path.join(dir, p)));
      const parts = buffers.map((f) => {
        if (!fs.existsSync(f)) throw new FormatError(f, 'weights file named in model.json is missing');
        const b = fs.readFileSync(f);
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
      });
      const weightData = tf.io.CompositeArrayBuffer.join(parts);
      const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
      if (weightData.byteLength !== expected) throw new FormatError(buffers[0], `has ${weightData.byteLength} bytes; model.json expects ${expected}`);
      return { modelTopology: json.modelTopology, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy, weightSpecs: specs, weightData };
    },
  };
}

/**
 * Saves `model` and `card` into `dir` (created; replaced whole if it exists). The card's
 * boxConvention, normalisation and facemapTsVersion are filled in when absent.
 */
export async function saveModel(dir: string, model: tf.LayersModel, card: ModelCard): Promise<void> {
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  fs.mkdirSync(tmp);
  try {
    await model.save(folderHandler(tmp));
    const full: ModelCard = { boxConvention: BOX_CONVENTION, normalisation: NORMALISATION, facemapTsVersion: facemapTsVersion(), ...card };
    fs.writeFileSync(path.join(tmp, 'card.json'), `${JSON.stringify(full, null, 2)}\n`);
    if (fs.existsSync(target)) {
      const old = tempPathFor(target);
      fs.renameSync(target, old);
      fs.renameSync(tmp, target);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, target);
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Reads and checks the `card.json` of a model folder; FormatError naming the file when it is missing or malformed. */
export function readModelCard(dir: string): ModelCard {
  const cardFile = path.join(dir, 'card.json');
  if (!fs.existsSync(cardFile)) throw new FormatError(cardFile, 'model card not found: is this a facemap-ts model folder?');
  let card: ModelCard;
  try {
    card = JSON.parse(fs.readFileSync(cardFile, 'utf8')) as ModelCard;
  } catch (e) {
    throw new FormatError(cardFile, `not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(card.keypoints) || !Array.isArray(card.channels) || !Number.isInteger(card.inputSize)) {
    throw new FormatError(cardFile, 'expected keypoints (names), channels (5 integers) and inputSize');
  }
  return card;
}

/**
 * SHA-256 of a model folder's network: `model.json` and the weight files it names (not the card,
 * whose metrics may change without the network changing). Identifies which weights an ONNX export
 * or a tracking run came from.
 */
export function modelFolderFingerprint(dir: string): string {
  const jsonFile = path.join(dir, 'model.json');
  if (!fs.existsSync(jsonFile)) throw new FormatError(jsonFile, 'tfjs model.json not found: is this a facemap-ts model folder?');
  const jsonBytes = fs.readFileSync(jsonFile);
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(jsonBytes.toString('utf8')) as tf.io.ModelJSON;
  } catch (e) {
    throw new FormatError(jsonFile, `not a readable tfjs model.json: ${(e as Error).message}`);
  }
  const h = createHash('sha256');
  h.update(jsonBytes);
  for (const p of json.weightsManifest.flatMap((g) => g.paths)) {
    const f = path.join(dir, p);
    if (!fs.existsSync(f)) throw new FormatError(f, 'weights file named in model.json is missing');
    h.update(fs.readFileSync(f));
  }
  return h.digest('hex');
}

/** Reads a model folder written by {@link saveModel}; FormatError naming the file when something is missing. */
export async function loadModel(dir: string): Promise<{ model: tf.LayersModel; card: ModelCard }> {
  const cardFile = path.join(dir, 'card.json');
  const card = readModelCard(dir);
  // Weights land on the active backend: choose ours (wasm with kernels) rather than tfjs's default.
  if (!backendInfo()) await initBackend();
  const model = await tf.loadLayersModel(folderHandler(dir));
  if ((model.outputs[0].shape[3] as number) !== card.keypoints.length) {
    model.dispose();
    throw new FormatError(cardFile, `lists ${card.keypoints.length} keypoints; the model has ${model.outputs[0].shape[3]}`);
  }
  return { model, card };
}

/** The card's crop box when it lies inside a frame of width x height, else null (the whole frame). */
export function cardBoxFor(card: Pick<ModelCard, 'box'>, width: number, height: number): CropBox | null {
  const b = card.box;
  return b && b.x0 >= 0 && b.y0 >= 0 && b.x1 <= width && b.y1 <= height && b.x1 > b.x0 && b.y1 > b.y0 ? { ...b } : null;
}

/**
 * The inference box expansion of a model: `card.inferenceExpand`, else the mean of the expansion
 * range of `card.trainingConfig.augment` (Facemap's [0.1, 0.3] when not given: 0.2), 0 when the
 * model was trained without augmentation.
 */
export function cardInferenceExpand(card: Pick<ModelCard, 'inferenceExpand' | 'trainingConfig'>): number {
  if (typeof card.inferenceExpand === 'number') return card.inferenceExpand;
  const cfg = card.trainingConfig as { augment?: { expand?: [number, number] } | false | null } | undefined;
  return inferenceExpand(cfg ? cfg.augment : undefined);
}

/**
 * Image paths as a card lists them: relative to the label set's `root` (forward slashes) when
 * inside it, so that the card still names its training frames after the data folder moves (or on
 * another machine); other paths as given.
 */
export function cardImagePaths(files: readonly string[], root: string): string[] {
  return files.map((f) => {
    const r = path.relative(path.resolve(root), path.resolve(f));
    return r && !r.startsWith('..') && !path.isAbsolute(r) ? r.split(path.sep).join('/') : f;
  });
}
