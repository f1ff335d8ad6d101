/**
 * The whole encoding analysis of one recording, as a list of named steps that share one context:
 * read the neural recording and the keypoints (and motion/movie SVDs), check that they fit
 * together, split the neural samples (Facemap's segments), compute the neural PCs (streaming),
 * the explainable variance (peer prediction, when neuron positions are known), fit the keypoint
 * encoder and the linear baselines, score everything on the test samples, and build (and write)
 * the tables. `facemap-ts encode` runs {@link ENCODE_STEPS}; benchmarks time each step and may
 * append their own (e.g. clustering) to the list.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Matrix, matrix } from '../engine/linalg';
import { FormatError, ParamError, ShapeError } from '../errors';
import { openH5 } from '../io/hdf5';
import { readNpy, toFloat64 } from '../io/npy';
import { Split } from '../synth/splits';
import { behaviorFeatures, runLinearBaseline } from './baselines';
import type { ClusterRecordingResult } from './cluster-run';
import { cameraTimes, facemapSplit } from './align';
import { EncoderConfig, KeypointEncoder } from './encoder';
import { explainableVariance, neuronVarianceExplained, PeerPrediction, varianceExplained } from './metrics';
import { NeuralPCA, neuralPCA, readNormalizedRows } from './pca';
import { assertFiniteActivity, BehaviorMatrix, readKeypointMatrix, readRecording, Recording } from './recording';
import { ActivitySource, copyToNpy } from './source';
import { writeEncodingFolder } from './encoding-io';
import { ModelRow, modelRow, NeuronRow, neuronRows, ScoredModel, writeResultTables, writeResultTablesH5 } from './tables';

/** Options of {@link runEncode}. */
export interface EncodeOptions {
  /** Neural recording: .npy, HDF5, NWB or a suite2p folder (readRecording). */
  neural: string;
  /** Facemap pose .h5 of the same session. */
  keypoints: string;
  /** A `_proc.h5` (facemap-ts svd): its motion SVD and, when present, movie SVD become baselines. */
  svd?: string;
  /** What the encoder predicts: the top PCs of the normalised activity (default) or every neuron. */
  target?: 'pcs' | 'neurons';
  /** Folder for the tables, the split and the saved encoder (nothing is written without it). */
  out?: string;
  /** Camera rate, Hz, when the keypoint file does not give camera times (default: a simulated session's session.json beside it). */
  cameraFps?: number;
  /** Camera frame times, s (one per keypoint frame); overrides cameraFps. */
  cameraTimes?: ArrayLike<number>;
  /** Neural rate, Hz, when the recording has no timestamps. */
  neuralFps?: number;
  /** Keypoints left out (default ['paw'], as in the paper). */
  exclude?: string[];
  /** Neural PCs (default 128). */
  nPC?: number;
  /** Encoder settings (default Facemap's). */
  encoder?: Partial<EncoderConfig>;
  /** Peer prediction for the explainable variance (default true; needs neuron positions). */
  peer?: boolean;
  /**
   * Folder for a temporary flat copy of the activity (default the OS temp folder; deleted at the
   * end): every later step reads the activity many times, and flat reads run several times faster
   * than HDF5 slices. false reads the recording in place (.npy recordings always are).
   */
  scratchDir?: string | false;
  /** Seed of the PCA's random test matrices (default 0). */
  seed?: number;
  /** Progress of long steps. */
  onProgress?: (what: string, done: number, total: number, unit: string) => void;
  /** One-line notes (what was skipped and why). */
  onNote?: (message: string) => void;
}

/** Everything the steps compute; fields fill in as the steps run. */
export interface EncodeContext {
  options: EncodeOptions;
  recording?: Recording;
  keypoints?: BehaviorMatrix;
  /** nFrames camera times, s. */
  camTimes?: Float64Array;
  /** nTime neural times, s. */
  neuralTimes?: Float64Array;
  /** Motion / movie SVDs from options.svd (frames x components), when given. */
  svds: { name: string; data: BehaviorMatrix }[];
  split?: Split;
  pca?: NeuralPCA;
  peer?: PeerPrediction;
  encoder?: KeypointEncoder;
  /** Every fitted model with its test scores (encoder first). */
  /** Scored models; `Yhat` (predicted targets at split.test) when the model predicts PCs. */
  results: (ScoredModel & { Yhat?: Matrix })[];
  models: ModelRow[];
  neurons: NeuronRow[];
  /** Clusters and their per-cluster numbers, from the 'clusters' step (clusterStep). */
  clusters?: ClusterRecordingResult;
  /** Files written by the 'tables' step (and later steps). */
  files: string[];
  notes: string[];
}

/** A named step of the analysis. */
export interface EncodeStep {
  name: string;
  run(ctx: EncodeContext): Promise<void> | void;
}

const MAX_NEURON_TARGET_VALUES = 2 ** 28;

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new ParamError('steps', what, `a step that computes ${what} to run first`);
  return v;
}

/** `src` reporting every block read to `onRows` (for progress over passes through the file). */
function countingSource(src: ActivitySource, onRows: (n: number) => void): ActivitySource {
  return {
    nNeurons: src.nNeurons,
    nTime: src.nTime,
    file: src.file,
    readRows(i0, i1) {
      const r = src.readRows(i0, i1);
      onRows(i1 - i0);
      return r;
    },
    close() {},
  };
}

/**
 * Progress over about `passes` reads of every neuron of `src` (an estimate: the work reads the
 * source a number of times that depends on the data); `finish` reports completion.
 */
function passProgress(ctx: EncodeContext, what: string, src: ActivitySource, passes: number): { src: ActivitySource; finish: () => void } {
  const total = passes * src.nNeurons;
  let done = 0;
  const report = ctx.options.onProgress;
  if (!report) return { src, finish: () => undefined };
  report(what, 0, total, 'neuron reads');
  return {
    src: countingSource(src, (n) => {
      done = Math.min(total - 1, done + n);
      report(what, done, total, 'neuron reads');
    }),
    finish: () => report(what, total, total, 'neuron reads'),
  };
}

/** Camera times of the keypoints: explicit times, a rate, or a simulated session's manifest. */
function resolveCameraTimes(o: EncodeOptions, nFrames: number): Float64Array {
  if (o.cameraTimes) {
    if (o.cameraTimes.length !== nFrames) throw new ShapeError(`${o.keypoints}: ${nFrames} keypoint frames but ${o.cameraTimes.length} camera times`);
    return Float64Array.from(o.cameraTimes);
  }
  if (o.cameraFps !== undefined) return cameraTimes(nFrames, o.cameraFps);
  const dir = path.dirname(path.resolve(o.keypoints));
  for (const d of [dir, path.dirname(dir)]) {
    const f = path.join(d, 'session.json');
    if (!fs.existsSync(f)) continue;
    const m = JSON.parse(fs.readFileSync(f, 'utf8')) as { format?: string; cameraFps?: number };
    if (m.format === 'facemap-ts/session' && typeof m.cameraFps === 'number') return cameraTimes(nFrames, m.cameraFps);
  }
  throw new ParamError('cameraFps', undefined, `the camera rate (--camera-fps) or camera times (--camera-times): ${o.keypoints} does not state them`);
}

/** Reads `/motSVD/0` and `/movSVD/0` of a `_proc.h5` as frames x components matrices. */
async function readSvds(file: string): Promise<{ name: string; data: BehaviorMatrix }[]> {
  const r = await openH5(file);
  try {
    const out: { name: string; data: BehaviorMatrix }[] = [];
    for (const [key, name] of [['/motSVD/0', 'motion SVD'], ['/movSVD/0', 'movie SVD']] as const) {
      if (!r.has(key)) continue;
      const a = r.read(key);
      if (a.shape.length !== 2) throw new FormatError(file, `${key} has shape [${a.shape.join(', ')}]; expected frames x components`);
      const data = Float32Array.from(a.data as ArrayLike<number>);
      out.push({ name, data: { data, nFrames: a.shape[0], nFeatures: a.shape[1], names: Array.from({ length: a.shape[1] }, (_, i) => `${name} ${i}`), file } });
    }
    if (!out.length) throw new FormatError(file, 'no /motSVD/0 or /movSVD/0 (expected a _proc.h5 written by facemap-ts svd)');
    return out;
  } finally {
    r.close();
  }
}

/** The clocks must overlap: every neural sample within the camera recording (one frame of slack). */
function checkClocks(ctx: EncodeContext, cam: Float64Array, neural: Float64Array): void {
  const dt = cam.length > 1 ? (cam[cam.length - 1] - cam[0]) / (cam.length - 1) : 0;
  if (neural[0] < cam[0] - dt || neural[neural.length - 1] > cam[cam.length - 1] + dt) {
    throw new ShapeError(
      `${ctx.options.neural} spans ${neural[0].toFixed(2)}-${neural[neural.length - 1].toFixed(2)} s but ${ctx.options.keypoints} ` +
        `only ${cam[0].toFixed(2)}-${cam[cam.length - 1].toFixed(2)} s (${cam.length} frames): ` +
        'recordings of different lengths, or a wrong camera rate / neural timestamps',
    );
  }
}

const read: EncodeStep = {
  name: 'read',
  async run(ctx) {
    const o = ctx.options;
    const rec = await readRecording(o.neural, { fps: o.neuralFps, checkFinite: false });
    ctx.recording = rec;
    if (o.scratchDir !== false && rec.format !== 'npy') {
      const file = path.join(o.scratchDir ?? os.tmpdir(), `facemap-ts-activity-${process.pid}-${Date.now()}.npy`);
      const report = o.onProgress;
      report?.('copying activity', 0, rec.nNeurons, 'neurons');
      const copy = copyToNpy(rec.activity, file, { onProgress: (d, n) => report?.('copying activity', d, n, 'neurons') });
      rec.activity.close();
      rec.activity = copy;
    } else assertFiniteActivity(rec.activity);
    if (!rec.timestamps) throw new ParamError('neuralFps', undefined, `the neural rate (--neural-fps): ${o.neural} has no timestamps`);
    for (const n of rec.notes) ctx.notes.push(`${o.neural}: ${n}`);
    const kp = await readKeypointMatrix(o.keypoints, { exclude: o.exclude ?? ['paw'] });
    ctx.keypoints = kp;
    ctx.camTimes = resolveCameraTimes(o, kp.nFrames);
    ctx.neuralTimes = rec.timestamps;
    checkClocks(ctx, ctx.camTimes, rec.timestamps);
    if (o.svd) {
      ctx.svds = await readSvds(o.svd);
      for (const s of ctx.svds) {
        if (s.data.nFrames !== kp.nFrames) {
          throw new ShapeError(`${o.svd}: ${s.name} has ${s.data.nFrames} frames, ${o.keypoints} ${kp.nFrames}: expected the same video`);
        }
      }
    }
    ctx.split = facemapSplit(rec.nTime);
  },
};

const pcaStep: EncodeStep = {
  name: 'pca',
  async run(ctx) {
    const rec = need(ctx.recording, 'the recording');
    const p = passProgress(ctx, 'neural PCs', rec.activity, 11);
    ctx.pca = await neuralPCA(p.src, { nPC: ctx.options.nPC ?? 128, seed: ctx.options.seed ?? 0 });
    p.finish();
  },
};

const explainable: EncodeStep = {
  name: 'explainable',
  async run(ctx) {
    const rec = need(ctx.recording, 'the recording');
    if (ctx.options.peer === false) return;
    if (!rec.positions) {
      ctx.notes.push('no neuron positions: no explainable variance (normalised VE left empty)');
      return;
    }
    const p = passProgress(ctx, 'explainable variance', rec.activity, 24);
    ctx.peer = await explainableVariance(p.src, rec.positions, need(ctx.split, 'the split'), { nPC: ctx.options.nPC ?? 128, seed: ctx.options.seed ?? 0 });
    p.finish();
  },
};

/** Normalised activity as a time x neurons matrix (targets for --target neurons). */
function neuronTargets(src: ActivitySource, pca: NeuralPCA): Matrix {
  const { nNeurons: N, nTime: T } = src;
  if (N * T > MAX_NEURON_TARGET_VALUES) {
    throw new ParamError('target', 'neurons', `'pcs' for recordings this large (${N} neurons x ${T} samples > ${MAX_NEURON_TARGET_VALUES} values)`);
  }
  const Y = new Float32Array(T * N);
  const block = Math.max(1, Math.floor((4 << 20) / T));
  for (let i0 = 0; i0 < N; i0 += block) {
    const i1 = Math.min(N, i0 + block);
    const a = readNormalizedRows(src, pca.stats, i0, i1);
    for (let i = i0; i < i1; i++) for (let t = 0; t < T; t++) Y[t * N + i] = a[(i - i0) * T + t];
  }
  return matrix(T, N, Y);
}

const encoderStep: EncodeStep = {
  name: 'encoder',
  async run(ctx) {
    const rec = need(ctx.recording, 'the recording');
    const kp = need(ctx.keypoints, 'the keypoints');
    const pca = need(ctx.pca, 'the neural PCs');
    const split = need(ctx.split, 'the split');
    const target = ctx.options.target ?? 'pcs';
    if (target !== 'pcs' && target !== 'neurons') throw new ParamError('target', target, "'pcs' | 'neurons'");
    const y = target === 'pcs' ? pca.Y : neuronTargets(rec.activity, pca);
    const x = matrix(kp.nFrames, kp.nFeatures, kp.data);
    const input = { x, camTimes: need(ctx.camTimes, 'camera times'), neuralTimes: need(ctx.neuralTimes, 'neural times') };
    const enc = new KeypointEncoder(ctx.options.encoder);
    const report = ctx.options.onProgress;
    await enc.fit({ ...input, y }, { split, onEpoch: (e) => report?.(e.phase === 'refit' ? 'encoder refit' : 'encoder', e.epoch + 1, e.epochs, 'epochs') });
    const sel = enc.history.filter((e) => e.phase === 'select');
    if (sel.length) report?.('encoder', sel[0].epochs, sel[0].epochs, 'epochs'); // stopped early: close the bar
    ctx.encoder = enc;
    const yhat = enc.predict(input, split.test);
    const ve = varianceExplained(y, yhat, split.test);
    const neuronVe = target === 'pcs' ? neuronVarianceExplained(rec.activity, pca.stats, pca.U, yhat, split.test) : ve.perColumn;
    ctx.results.push({ model: 'keypoint network', input: target === 'pcs' ? 'keypoints (PCs)' : 'keypoints (neurons)', split, pcVe: ve, neuronVe, Yhat: yhat });
  },
};

const baselines: EncodeStep = {
  name: 'baselines',
  run(ctx) {
    const rec = need(ctx.recording, 'the recording');
    const kp = need(ctx.keypoints, 'the keypoints');
    const pca = need(ctx.pca, 'the neural PCs');
    const split = need(ctx.split, 'the split');
    const cam = need(ctx.camTimes, 'camera times');
    const nt = need(ctx.neuralTimes, 'neural times');
    const inputs: [string, BehaviorMatrix, ('ridge' | 'rrr')[]][] = [['keypoints', kp, ['ridge', 'rrr']]];
    for (const s of ctx.svds) inputs.push([s.name, s.data, ['ridge', 'rrr']]);
    const total = inputs.reduce((n, i) => n + i[2].length, 0);
    let done = 0;
    ctx.options.onProgress?.('linear baselines', 0, total, 'models');
    for (const [name, beh, models] of inputs) {
      const X = behaviorFeatures(beh, nt, cam);
      for (const model of models) {
        ctx.results.push(runLinearBaseline(X, pca, split, { model, input: name, activity: rec.activity }));
        ctx.options.onProgress?.('linear baselines', ++done, total, 'models');
      }
    }
  },
};

const tables: EncodeStep = {
  name: 'tables',
  async run(ctx) {
    const rec = need(ctx.recording, 'the recording');
    const split = need(ctx.split, 'the split');
    const ev = ctx.peer?.explainable;
    ctx.models = ctx.results.map((r) => modelRow(r, ev));
    ctx.neurons = ctx.results.flatMap((r) => neuronRows(r, ev, rec.positions));
    const out = ctx.options.out;
    if (!out) return;
    const t = { models: ctx.models, neurons: ctx.neurons, split };
    ctx.files = writeResultTables(out, t);
    const h5 = path.join(out, 'tables.h5');
    await writeResultTablesH5(h5, t);
    ctx.files.push(h5);
    if (ctx.encoder) ctx.files.push(...ctx.encoder.save(path.join(out, 'encoder')));
    // predictions.h5 + split.json in the encoding-folder layout (encoding-io.ts) that
    // `facemap-ts cluster --encoding` and the report read.
    const pca = ctx.pca;
    const predictions = ctx.results
      .filter((r) => r.Yhat && (!pca || r.Yhat.cols === pca.U.cols || r.Yhat.cols === rec.activity.nNeurons))
      .map((r) => ({ name: r.model === 'keypoint network' ? r.model : `${r.model} ${r.input}`, data: r.Yhat! }));
    ctx.files.push(...(await writeEncodingFolder(out, { split, pca: pca ? { U: pca.U, S: pca.S, stats: pca.stats } : undefined, predictions })));
  },
};

/** The steps of `facemap-ts encode`, in order. */
export const ENCODE_STEPS: readonly EncodeStep[] = Object.freeze([read, pcaStep, explainable, encoderStep, baselines, tables]);

/** A fresh context for `options`. */
export function encodeContext(options: EncodeOptions): EncodeContext {
  return { options, svds: [], results: [], models: [], neurons: [], files: [], notes: [] };
}

/**
 * Runs `steps` (default {@link ENCODE_STEPS}) on a fresh context and returns it; `onStep` hears
 * each step's name and seconds. The recording is closed at the end (also on failure).
 */
export async function runEncode(
  options: EncodeOptions,
  steps: readonly EncodeStep[] = ENCODE_STEPS,
  onStep?: (name: string, seconds: number) => void,
): Promise<EncodeContext> {
  const ctx = encodeContext(options);
  try {
    for (const s of steps) {
      const t0 = performance.now();
      await s.run(ctx);
      onStep?.(s.name, (performance.now() - t0) / 1000);
    }
  } finally {
    ctx.recording?.activity.close();
  }
  for (const n of ctx.notes) options.onNote?.(n);
  return ctx;
}

/** Camera times from a .npy of seconds (one per frame). */
export function readTimesNpy(file: string): Float64Array {
  const a = readNpy(file);
  if (a.shape.length !== 1) throw new FormatError(file, `array has shape (${a.shape.join(', ')}); expected one time (s) per frame`);
  return toFloat64(a.data);
}
