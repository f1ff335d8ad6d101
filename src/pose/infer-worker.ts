/**
 * Worker thread that runs an exported FMnet on ONNX Runtime and decodes its maps, for
 * {@link OnnxWorkerEngine} (pose-engine.ts). ONNX Runtime's Node binding computes synchronously on
 * the calling thread, so running it here leaves the main thread free to read and preprocess the
 * next frames meanwhile. Loads no tfjs.
 *
 * Protocol: workerData { model: Uint8Array, threads, spinning, inputSize, nKeypoints }.
 *   -> { type: 'ready', provider } once the session is built, or { type: 'fatal', message }.
 *   <- { id, pixels: Float32Array (n x S x S, transferred), n }
 *   -> { type: 'result', id, x, y, likelihood (n x K, network-input px), pixels (transferred back) }
 *      or { type: 'error', id, message, pixels }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createSession, float32Tensor, type OrtSession } from '../engine/onnx';
import { decodeMaps } from './maps';

interface Init {
  model: Uint8Array;
  threads: number;
  spinning: boolean;
  inputSize: number;
  nKeypoints: number;
}

interface Job {
  id: number;
  pixels: Float32Array;
  n: number;
}

const port = parentPort;
if (!port) throw new Error('infer-worker.js must run as a worker thread');
const init = workerData as Init;
let session: OrtSession | null = null;
try {
  session = createSession(init.model, { threads: init.threads, spinning: init.spinning });
  port.postMessage({ type: 'ready', provider: session.provider });
} catch (e) {
  port.postMessage({ type: 'fatal', message: (e as Error).message });
}

port.on('message', (job: Job) => {
  const S = init.inputSize;
  const G = S / 4;
  const K = init.nKeypoints;
  try {
    if (!session) throw new Error('no ONNX Runtime session');
    const r = session.runSync({ image: float32Tensor(job.pixels.subarray(0, job.n * S * S), [job.n, 1, S, S]) });
    const kp = decodeMaps({
      heatmap: r.heatmap.data as Float32Array,
      rowOffset: r.row_offset.data as Float32Array,
      colOffset: r.col_offset.data as Float32Array,
      n: job.n,
      nKeypoints: K,
      grid: G,
      layout: 'NCHW',
    });
    const transfer = [kp.x.buffer, kp.y.buffer, kp.likelihood.buffer, job.pixels.buffer] as ArrayBuffer[];
    port.postMessage({ type: 'result', id: job.id, x: kp.x, y: kp.y, likelihood: kp.likelihood, pixels: job.pixels }, transfer);
  } catch (e) {
    port.postMessage({ type: 'error', id: job.id, message: (e as Error).message, pixels: job.pixels }, [job.pixels.buffer as ArrayBuffer]);
  }
});
