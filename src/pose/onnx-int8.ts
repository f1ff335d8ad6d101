/**
 * int8 FMnet for ONNX Runtime: the float export (onnx-export.ts) quantised statically with
 * activation ranges calibrated on real frames (engine/onnx-quantize.ts: QDQ form; int8 weights per
 * channel, uint8 activations, heads kept in float). On CPUs with int8 dot-product instructions
 * (AVX-512 VNNI, AMX, AVX-VNNI; ARM dot-product) it runs about twice as fast as float32; on plain
 * AVX2 ONNX Runtime's int8 kernels gain less. Keypoints move by about a pixel against float32 (the
 * bench and `export-onnx --int8` report how much, on the calibration frames).
 *
 * `MODEL_DIR/model.int8.onnx` carries, like model.onnx, the fingerprint of the tfjs weights it came
 * from, plus how it was calibrated; a stale or missing file is an error that says how to make it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { createSession, float32Tensor } from '../engine/onnx';
import { calibrationModel, quantizationPlan, quantizeQdq, RangeCollector } from '../engine/onnx-quantize';
import { FormatError, ParamError } from '../errors';
import { probeVideo, readFrame, readFrames } from '../io/video';
import { writeFileAtomicSync } from '../util/fsx';
import { decodeMaps, type DecodedKeypoints } from './maps';
import { cardBoxFor, cardInferenceExpand, loadModel, modelFolderFingerprint, readModelCard } from './model-io';
import { fmnetToOnnx, ONNX_META, readOnnxFile } from './onnx-export';
import { type PoseFrame, frameTransforms } from './predict';
import { preprocessFrame } from './preprocess';
import { loadLabelledFrames } from './train';
import { readLabels } from './labels';

/** File name of the int8 model inside a model folder. */
export const ONNX_INT8_FILE = 'model.int8.onnx';

/** Extra metadata keys of the int8 export. */
export const ONNX_INT8_META = {
  precision: 'facemap-ts.precision',
  calibration: 'facemap-ts.calibration',
} as const;

/** Label-file extensions; any other calibration source is read as a video. */
const LABEL_EXTENSIONS = new Set(['.csv', '.h5', '.slp']);

/** Options of {@link quantizeFmnet} and {@link exportOnnxInt8}. */
export interface Int8Options {
  /**
   * Activation ranges: 100 (default) takes each tensor's min and max over the calibration frames;
   * below 100, the central percentile of its values (clips rare outliers).
   */
  percentile?: number;
  /** Frames per calibration batch. Default 4. */
  batchSize?: number;
}

/** Preprocessed calibration frames: n x S x S, as the network sees them. */
export interface CalibrationSet {
  pixels: Float32Array;
  n: number;
  /** Where they came from (a sentence, stored in the model's metadata). */
  source: string;
}

/** The quantised model and how far its keypoints move from float32's on the calibration frames. */
export interface Int8Model {
  bytes: Uint8Array;
  /** Convolutions quantised / kept in float. */
  quantizedConvs: number;
  floatConvs: number;
  /** Keypoint displacement int8 vs float32 on the calibration frames, in network-input pixels. */
  deviation: { mean: number; median: number; p95: number; max: number };
}

function decode(r: Record<string, { data: unknown; dims: readonly number[] }>, n: number): DecodedKeypoints {
  const hm = r.heatmap;
  return decodeMaps({
    heatmap: hm.data as Float32Array,
    rowOffset: r.row_offset.data as Float32Array,
    colOffset: r.col_offset.data as Float32Array,
    n,
    nKeypoints: hm.dims[1],
    grid: hm.dims[2],
    layout: 'NCHW',
  });
}

/** Quantises a float FMnet ONNX model with ranges calibrated on `cal` (see the module comment). */
export function quantizeFmnet(floatBytes: Uint8Array, S: number, cal: CalibrationSet, options: Int8Options = {}): Int8Model {
  if (cal.n < 1 || cal.pixels.length < cal.n * S * S) throw new ParamError('calibration', cal.n, `one or more preprocessed ${S}x${S} frames`);
  const batch = options.batchSize ?? 4;
  if (!Number.isInteger(batch) || batch < 1) throw new ParamError('batchSize', batch, 'an integer >= 1');
  const plan = quantizationPlan(floatBytes);
  const collector = new RangeCollector(options.percentile ?? 100);
  const session = createSession(calibrationModel(floatBytes, plan.calibrate), { providers: ['cpu'] });
  const floatKp: DecodedKeypoints[] = [];
  try {
    for (let lo = 0; lo < cal.n; lo += batch) {
      const n = Math.min(batch, cal.n - lo);
      const r = session.runSync({ image: float32Tensor(cal.pixels.subarray(lo * S * S, (lo + n) * S * S), [n, 1, S, S]) });
      for (const t of plan.calibrate) collector.add(t, r[t].data as Float32Array);
      floatKp.push(decode(r as never, n));
    }
  } finally {
    session.dispose();
  }
  const q = quantizeQdq(floatBytes, collector.ranges());
  // How far the int8 keypoints move from float32's on the same frames.
  const s8 = createSession(q.bytes, { providers: ['cpu'] });
  const d: number[] = [];
  try {
    for (let lo = 0, b = 0; lo < cal.n; lo += batch, b++) {
      const n = Math.min(batch, cal.n - lo);
      const r = s8.runSync({ image: float32Tensor(cal.pixels.subarray(lo * S * S, (lo + n) * S * S), [n, 1, S, S]) });
      const kp = decode(r as never, n);
      for (let i = 0; i < kp.x.length; i++) d.push(Math.hypot(kp.x[i] - floatKp[b].x[i], kp.y[i] - floatKp[b].y[i]));
    }
  } finally {
    s8.dispose();
  }
  d.sort((a, b) => a - b);
  const at = (f: number): number => +d[Math.min(d.length - 1, Math.floor(f * d.length))].toFixed(3);
  return {
    bytes: q.bytes,
    quantizedConvs: plan.convs.length,
    floatConvs: plan.floatConvs.length,
    deviation: { mean: +(d.reduce((a, b) => a + b, 0) / d.length).toFixed(3), median: at(0.5), p95: at(0.95), max: +d[d.length - 1].toFixed(3) },
  };
}

/**
 * Up to `maxFrames` calibration frames for a model folder, preprocessed as at inference (the card's
 * box when it fits the frames, grown by its inference expansion): from a label file (.csv, .h5,
 * .slp: its labelled images) or from a video (frames evenly spaced over it).
 */
export async function calibrationFrames(modelDir: string, source: string, maxFrames = 64): Promise<CalibrationSet> {
  if (!Number.isInteger(maxFrames) || maxFrames < 1) throw new ParamError('maxFrames', maxFrames, 'an integer >= 1');
  if (!fs.existsSync(source)) throw new ParamError('calibration source', source, 'an existing label file or video');
  const card = readModelCard(modelDir);
  const S = card.inputSize;
  let frames: PoseFrame[];
  let what: string;
  if (LABEL_EXTENSIONS.has(path.extname(source).toLowerCase())) {
    const data = loadLabelledFrames(await readLabels(source), { labelFile: source });
    const step = Math.max(1, data.frames.length / maxFrames);
    frames = [];
    for (let i = 0; Math.floor(i) < data.frames.length && frames.length < maxFrames; i += step) frames.push(data.frames[Math.floor(i)]);
    what = `${frames.length} labelled images of ${path.basename(source)}`;
  } else {
    const info = await probeVideo(source);
    const n = Math.min(maxFrames, info.nFrames);
    const wanted = Array.from({ length: n }, (_, j) => Math.floor(((j + 0.5) * info.nFrames) / n));
    frames = [];
    if (info.nFrames <= 200 * n) {
      // One decoding pass keeping the wanted frames (cheaper than a seek per frame on short videos).
      const want = new Set(wanted);
      for await (const c of readFrames(source, { info, dtype: 'uint8', chunk: 64 })) {
        const px = c.Lx * c.Ly;
        for (let i = 0; i < c.n; i++) if (want.has(c.start + i)) frames.push({ data: c.frames.slice(i * px, (i + 1) * px), width: c.Lx, height: c.Ly });
      }
    } else {
      for (const index of wanted) {
        const f = await readFrame(source, index, { dtype: 'uint8', info });
        frames.push({ data: f.frame, width: f.Lx, height: f.Ly });
      }
    }
    what = `${n} frames evenly spaced over ${path.basename(source)} (${info.nFrames} frames)`;
  }
  if (!frames.length) throw new FormatError(source, 'no frames to calibrate on');
  const expand = cardInferenceExpand(card);
  const pixels = new Float32Array(frames.length * S * S);
  frames.forEach((f, i) => {
    const [t] = frameTransforms([f], S, cardBoxFor(card, f.width, f.height), expand);
    pixels.set(preprocessFrame(f.data instanceof Uint16Array ? Float32Array.from(f.data) : f.data, f.width, f.height, t), i * S * S);
  });
  return { pixels, n: frames.length, source: what };
}

/** What {@link exportOnnxInt8} wrote. */
export interface Int8ExportResult extends Omit<Int8Model, 'bytes'> {
  file: string;
  bytes: number;
  fingerprint: string;
  calibration: string;
  percentile: number;
}

/**
 * Writes `MODEL_DIR/model.int8.onnx` (atomically): the folder's tfjs model exported to ONNX and
 * quantised with ranges calibrated on `cal` (from {@link calibrationFrames}).
 */
export async function exportOnnxInt8(modelDir: string, cal: CalibrationSet, options: Int8Options = {}): Promise<Int8ExportResult> {
  const fingerprint = modelFolderFingerprint(modelDir);
  const { model, card } = await loadModel(modelDir);
  let floatBytes: Uint8Array;
  try {
    floatBytes = fmnetToOnnx(model, { card }).bytes;
  } finally {
    model.dispose();
  }
  const percentile = options.percentile ?? 100;
  const q = quantizeFmnet(floatBytes, card.inputSize, cal, options);
  const calibration = `${cal.source}; ranges ${percentile === 100 ? 'min/max' : `central ${percentile}%`}`;
  const bytes = withMetadata(q.bytes, {
    [ONNX_META.fingerprint]: fingerprint,
    [ONNX_INT8_META.precision]: 'int8',
    [ONNX_INT8_META.calibration]: calibration,
  });
  const file = path.join(modelDir, ONNX_INT8_FILE);
  writeFileAtomicSync(file, bytes);
  const { bytes: _b, ...rest } = q;
  return { ...rest, file, bytes: bytes.byteLength, fingerprint, calibration, percentile };
}

function withMetadata(bytes: Uint8Array, meta: Record<string, string>): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  const props = (m.metadataProps ?? []).filter((p) => !((p.key ?? '') in meta));
  for (const [key, value] of Object.entries(meta)) props.push(onnx.StringStringEntryProto.create({ key, value }));
  m.metadataProps = props as never;
  return onnx.ModelProto.encode(m).finish();
}

/**
 * The int8 model of a model folder, for `track --int8`.
 * @throws ParamError when model.int8.onnx is missing or older than the folder's weights.
 */
export function int8OnnxForFolder(modelDir: string): { bytes: Uint8Array; fingerprint: string; calibration: string } {
  const fingerprint = modelFolderFingerprint(modelDir);
  const file = path.join(modelDir, ONNX_INT8_FILE);
  const how = `run facemap-ts export-onnx --model ${modelDir} --int8 --calibrate LABELS_OR_VIDEO`;
  if (!fs.existsSync(file)) throw new ParamError('int8', file, `an int8 model (${how})`);
  const { bytes, meta } = readOnnxFile(file);
  if (meta[ONNX_META.fingerprint] !== fingerprint) throw new ParamError('int8', file, `an int8 model of the folder's current weights (it is older: ${how})`);
  return { bytes, fingerprint, calibration: meta[ONNX_INT8_META.calibration] ?? '' };
}
