/**
 * Inference engines for tracking: FMnet on preprocessed frames -> decoded keypoints in
 * network-input pixels. One interface, three implementations:
 *  - 'onnx' in a worker thread (default where ONNX Runtime loads): the exported model
 *    (onnx-export.ts) on ONNX Runtime, in a worker (infer-worker.ts) so that the main thread
 *    reads and preprocesses the next frames while a batch runs;
 *  - 'onnx' inline (worker: false): the same on the calling thread (benchmarks, or where worker
 *    threads are unavailable);
 *  - 'tfjs': the tfjs model on the active tfjs backend, the fallback where ONNX Runtime cannot load.
 * Every engine returns the pixel buffer it was given (possibly a different object: worker
 * transfers move it), so callers can reuse it.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, initBackend } from '../engine/backend';
import { createSession, float32Tensor, ortAvailable, ortInfo, type OrtSession } from '../engine/onnx';
import { EngineError, ParamError } from '../errors';
import { decodeMaps, type DecodedKeypoints } from './maps';
import { loadModel, readModelCard, type ModelCard } from './model-io';
import { onnxForFolder } from './onnx-export';
import { int8OnnxForFolder } from './onnx-int8';

export type PoseEngineKind = 'onnx' | 'tfjs';

/** Result of one batch. */
export interface InferResult {
  /** Keypoints in network-input pixels, n x K. */
  keypoints: DecodedKeypoints;
  /** The pixel buffer given to infer, handed back for reuse. */
  pixels: Float32Array;
}

/** A loaded network ready to run batches of preprocessed frames. */
export interface PoseEngine {
  readonly kind: PoseEngineKind;
  /** One line, e.g. "ONNX Runtime 1.30.0 (cpu, 2 threads, worker thread)". */
  readonly description: string;
  readonly inputSize: number;
  readonly nKeypoints: number;
  /**
   * Runs n frames: `pixels` holds n x S x S preprocessed values (more allowed; the rest is ignored).
   * Calls may overlap: they run in order.
   */
  infer(pixels: Float32Array, n: number): Promise<InferResult>;
  dispose(): Promise<void>;
}

/** Options of {@link openPoseEngine}. */
export interface PoseEngineOptions {
  /** 'auto' (default): ONNX Runtime when it loads, else tfjs. 'onnx' fails when ONNX Runtime cannot load. */
  engine?: 'auto' | PoseEngineKind;
  /** ONNX Runtime intra-op threads per session; default the cores divided among the workers (at least 1). */
  threads?: number;
  /** Run ONNX Runtime in a worker thread (default true). */
  worker?: boolean;
  /**
   * ONNX Runtime worker threads, each with its own session, taking batches in turn. Default 2 (1 on
   * a one-core machine): two single-threaded workers spent 8-24% less time per frame than one
   * two-threaded session on the 2-core dev machine (no synchronisation inside each convolution),
   * at the cost of a second set of activations.
   */
  workers?: number;
  /**
   * 'float32' (default): the folder's model.onnx. 'int8': its model.int8.onnx (export-onnx --int8;
   * ParamError when missing or stale), about twice as fast on CPUs with int8 dot-product
   * instructions, keypoints within about a pixel of float32's. ONNX Runtime only.
   */
  precision?: PosePrecision;
}

/** An opened engine and what the caller should tell the user about how it was chosen. */
export interface OpenedEngine {
  engine: PoseEngine;
  card: ModelCard;
  /** For ONNX Runtime: whether the model came from the folder's model.onnx or an export in memory; null for tfjs. */
  onnxSource: 'file' | 'memory' | null;
  /** Notes such as "ONNX Runtime unavailable (...): running on tfjs" or a stale model.onnx. */
  notes: string[];
}

function checkPixels(pixels: Float32Array, n: number, S: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ParamError('n', n, 'an integer >= 1 (frames in the batch)');
  if (pixels.length < n * S * S) throw new ParamError('pixels.length', pixels.length, `>= n x S x S = ${n} x ${S} x ${S}`);
}

/** Numeric precision of the ONNX model: the float export, or the int8 one (onnx-int8.ts). */
export type PosePrecision = 'float32' | 'int8';

function ortDescription(provider: string, threads: number, where: string, precision: PosePrecision = 'float32'): string {
  return `ONNX Runtime ${ortInfo().version ?? ''} (${provider}, ${precision === 'int8' ? 'int8, ' : ''}${threads} thread${threads === 1 ? '' : 's'}, ${where})`;
}

/** ONNX Runtime on the calling thread. */
export class OnnxInlineEngine implements PoseEngine {
  readonly kind = 'onnx' as const;
  readonly description: string;
  private readonly session: OrtSession;

  constructor(
    model: Uint8Array,
    readonly inputSize: number,
    readonly nKeypoints: number,
    threads = os.availableParallelism(),
    precision: PosePrecision = 'float32',
  ) {
    this.session = createSession(model, { threads });
    this.description = ortDescription(this.session.provider, threads, 'main thread', precision);
  }

  /** Runs synchronously; the maps' layout is NCHW. */
  inferSync(pixels: Float32Array, n: number): DecodedKeypoints {
    const S = this.inputSize;
    checkPixels(pixels, n, S);
    const r = this.session.runSync({ image: float32Tensor(pixels.subarray(0, n * S * S), [n, 1, S, S]) });
    return decodeMaps({
      heatmap: r.heatmap.data as Float32Array,
      rowOffset: r.row_offset.data as Float32Array,
      colOffset: r.col_offset.data as Float32Array,
      n,
      nKeypoints: this.nKeypoints,
      grid: S / 4,
      layout: 'NCHW',
    });
  }

  async infer(pixels: Float32Array, n: number): Promise<InferResult> {
    return { keypoints: this.inferSync(pixels, n), pixels };
  }

  async dispose(): Promise<void> {
    this.session.dispose();
  }
}

type Pending = { resolve: (r: InferResult) => void; reject: (e: Error) => void; n: number };

/** ONNX Runtime in a worker thread (infer-worker.ts). */
export class OnnxWorkerEngine implements PoseEngine {
  readonly kind = 'onnx' as const;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly inputSize: number,
    readonly nKeypoints: number,
    readonly description: string,
  ) {
    worker.on('message', (m: { type: string; id: number; x: Float32Array; y: Float32Array; likelihood: Float32Array; pixels: Float32Array; message?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') {
        p.resolve({ keypoints: { n: p.n, nKeypoints: this.nKeypoints, x: m.x, y: m.y, likelihood: m.likelihood }, pixels: m.pixels });
      } else {
        p.reject(new EngineError(`ONNX Runtime failed on a batch of ${p.n} frames: ${m.message}`));
      }
    });
    const fail = (e: Error) => {
      this.failure = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new EngineError(`the inference worker failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new EngineError(`the inference worker exited (code ${code})`)));
  }

  /** Starts the worker and waits until its session is built (EngineError when that fails). */
  static async start(model: Uint8Array, inputSize: number, nKeypoints: number, threads = os.availableParallelism(), precision: PosePrecision = 'float32'): Promise<OnnxWorkerEngine> {
    const worker = new Worker(path.join(__dirname, 'infer-worker.js'), {
      workerData: { model, threads, spinning: true, inputSize, nKeypoints },
    });
    const provider = await new Promise<string>((resolve, reject) => {
      const onError = (e: Error) => reject(new EngineError(`the inference worker could not start: ${e.message}`));
      worker.once('error', onError);
      worker.once('message', (m: { type: string; provider?: string; message?: string }) => {
        worker.off('error', onError);
        if (m.type === 'ready') resolve(m.provider as string);
        else reject(new EngineError(`ONNX Runtime could not load the model in the worker: ${m.message}`));
      });
    }).catch(async (e: Error) => {
      await worker.terminate();
      throw e;
    });
    return new OnnxWorkerEngine(worker, inputSize, nKeypoints, ortDescription(provider, threads, 'worker thread', precision));
  }

  infer(pixels: Float32Array, n: number): Promise<InferResult> {
    checkPixels(pixels, n, this.inputSize);
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<InferResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, n });
      this.worker.postMessage({ id, pixels, n }, [pixels.buffer as ArrayBuffer]);
    });
  }

  async dispose(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/** Several engines taking batches in turn (results still come back per call, so order is kept by the caller's queue). */
export class EnginePool implements PoseEngine {
  readonly kind: PoseEngineKind;
  readonly description: string;
  readonly inputSize: number;
  readonly nKeypoints: number;
  private next = 0;

  constructor(private readonly engines: PoseEngine[]) {
    if (engines.length === 0) throw new ParamError('engines', [], 'at least one engine');
    this.kind = engines[0].kind;
    this.inputSize = engines[0].inputSize;
    this.nKeypoints = engines[0].nKeypoints;
    this.description = engines.length === 1 ? engines[0].description : `${engines.length} x ${engines[0].description.replace('worker thread', 'worker threads')}`;
  }

  /** Number of engines: how many batches can run at once. */
  get size(): number {
    return this.engines.length;
  }

  infer(pixels: Float32Array, n: number): Promise<InferResult> {
    const e = this.engines[this.next];
    this.next = (this.next + 1) % this.engines.length;
    return e.infer(pixels, n);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.engines.map((e) => e.dispose()));
  }
}

/** The tfjs model on the active tfjs backend (maps NHWC). */
export class TfjsEngine implements PoseEngine {
  readonly kind = 'tfjs' as const;
  readonly inputSize: number;
  readonly nKeypoints: number;

  constructor(
    private readonly model: tf.LayersModel,
    readonly description: string,
    private readonly ownsModel = true,
  ) {
    this.inputSize = model.inputs[0].shape[1] as number;
    this.nKeypoints = model.outputs[0].shape[3] as number;
  }

  /** Runs synchronously; leaks no tensors. */
  inferSync(pixels: Float32Array, n: number): DecodedKeypoints {
    const S = this.inputSize;
    checkPixels(pixels, n, S);
    const outs = tf.tidy(() => this.model.predict(tf.tensor4d(pixels.subarray(0, n * S * S), [n, S, S, 1])) as tf.Tensor[]);
    try {
      const [heatmap, rowOffset, colOffset] = outs.map((t) => t.dataSync() as Float32Array);
      return decodeMaps({ heatmap, rowOffset, colOffset, n, nKeypoints: this.nKeypoints, grid: S / 4, layout: 'NHWC' });
    } finally {
      tf.dispose(outs);
    }
  }

  async infer(pixels: Float32Array, n: number): Promise<InferResult> {
    return { keypoints: this.inferSync(pixels, n), pixels };
  }

  async dispose(): Promise<void> {
    if (this.ownsModel) this.model.dispose();
  }
}

/**
 * Opens the engine for a model folder: ONNX Runtime on the folder's model.onnx (exported in memory
 * when it is missing or stale), or tfjs when ONNX Runtime cannot load (engine 'auto') or when asked.
 * @throws EngineError when engine = 'onnx' and ONNX Runtime is unavailable.
 */
export async function openPoseEngine(modelDir: string, options: PoseEngineOptions = {}): Promise<OpenedEngine> {
  const kind = options.engine ?? 'auto';
  if (!['auto', 'onnx', 'tfjs'].includes(kind)) throw new ParamError('engine', kind, "'auto', 'onnx' or 'tfjs'");
  const workers = options.workers ?? Math.min(2, os.availableParallelism());
  if (!Number.isInteger(workers) || workers < 1) throw new ParamError('workers', workers, 'an integer >= 1');
  const threads = options.threads ?? Math.max(1, Math.floor(os.availableParallelism() / workers));
  if (!Number.isInteger(threads) || threads < 1) throw new ParamError('threads', threads, 'an integer >= 1');
  const precision = options.precision ?? 'float32';
  if (precision !== 'float32' && precision !== 'int8') throw new ParamError('precision', precision, "'float32' or 'int8'");
  if (precision === 'int8' && kind === 'tfjs') throw new ParamError('precision', precision, "'float32' with the tfjs engine (int8 runs on ONNX Runtime only)");
  const card = readModelCard(modelDir);
  const notes: string[] = [];
  const S = card.inputSize;
  const K = card.keypoints.length;
  if (kind !== 'tfjs') {
    if (ortAvailable()) {
      const ox =
        precision === 'int8'
          ? { ...int8OnnxForFolder(modelDir), source: 'file' as const, stale: null }
          : await onnxForFolder(modelDir);
      if (ox.stale) notes.push(ox.stale);
      if (ox.source === 'memory' && !ox.stale) notes.push(`no model.onnx in ${modelDir}: exported in memory (run export-onnx once to skip this)`);
      if (options.worker ?? true) {
        const started: OnnxWorkerEngine[] = [];
        try {
          for (let i = 0; i < workers; i++) started.push(await OnnxWorkerEngine.start(ox.bytes, S, K, threads, precision));
          const engine = workers === 1 ? started[0] : new EnginePool(started);
          return { engine, card, notes, onnxSource: ox.source };
        } catch (e) {
          await Promise.all(started.map((w) => w.dispose()));
          notes.push(`${(e as Error).message}; running ONNX Runtime on the main thread`);
        }
      }
      return { engine: new OnnxInlineEngine(ox.bytes, S, K, threads, precision), card, notes, onnxSource: ox.source };
    }
    const why = ortInfo().error ?? 'unknown reason';
    if (precision === 'int8') throw new EngineError(`ONNX Runtime is not available (${why}); int8 models run on ONNX Runtime only`);
    if (kind === 'onnx') throw new EngineError(`ONNX Runtime is not available (${why}); use engine 'tfjs' (--engine tfjs)`);
    notes.push(`ONNX Runtime is not available (${why}): running on tfjs, much slower`);
  }
  const backend = await initBackend();
  const { model } = await loadModel(modelDir);
  return { engine: new TfjsEngine(model, `tfjs ${describeBackend(backend).replace(/^tfjs backend: /, '')}`), card, notes, onnxSource: null };
}
