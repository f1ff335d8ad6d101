/** Measuring the matmul throughput of each compute engine (for notebooks and benchmarks). */
import * as tf from '@tensorflow/tfjs';
import { measureMatmulGflops } from './linalg';
import { ortAvailable } from './onnx';
import { medianTimeMs } from '../util/timing';

/** GFLOP/s of a float32 m x k @ k x n product on a tfjs backend (median of `reps` after a warm-up). */
export async function tfjsMatmulGflops(backend: string, m: number, k: number, n: number, reps = 3): Promise<number> {
  const prev = tf.getBackend();
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend '${backend}' is not available`);
  const a = tf.randomNormal([m, k], 0, 1, 'float32', 1);
  const b = tf.randomNormal([k, n], 0, 1, 'float32', 2);
  const once = () => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  };
  try {
    return (2 * m * k * n) / medianTimeMs(once, reps, true) / 1e6;
  } finally {
    tf.dispose([a, b]);
    if (prev) await tf.setBackend(prev);
  }
}

/** One matmul measurement: engine, size and GFLOP/s. */
export interface MatmulSpeed {
  engine: 'onnxruntime' | 'tfjs-node' | 'tfjs-wasm' | 'tfjs-cpu' | 'js';
  m: number;
  k: number;
  n: number;
  gflops: number;
}

/** Sizes per engine: `quick` (seconds, for notebooks) or `full` (the benchmark's). */
const SIZES = {
  quick: { onnxruntime: [1024, 1024, 1024], 'tfjs-node': [1024, 1024, 1024], 'tfjs-wasm': [512, 512, 512], 'tfjs-cpu': [256, 256, 256], js: [256, 256, 256] },
  full: { onnxruntime: [2048, 2048, 2048], 'tfjs-node': [2048, 2048, 2048], 'tfjs-wasm': [1024, 1024, 1024], 'tfjs-cpu': [512, 512, 512], js: [512, 512, 512] },
} as const;

/**
 * Float32 matmul GFLOP/s of every engine available in this process: ONNX Runtime, the tfjs
 * backends that are registered (tensorflow, wasm, cpu) and the plain-JS fallback.
 */
export async function matmulSpeeds(options: { size?: 'quick' | 'full'; log?: (msg: string) => void } = {}): Promise<MatmulSpeed[]> {
  const sizes = SIZES[options.size ?? 'quick'];
  const log = options.log ?? (() => undefined);
  const out: MatmulSpeed[] = [];
  const record = (engine: MatmulSpeed['engine'], gflops: number) => {
    const [m, k, n] = sizes[engine];
    out.push({ engine, m, k, n, gflops: +gflops.toFixed(2) });
  };
  if (ortAvailable()) {
    log(`matmul on onnxruntime (${sizes.onnxruntime.join('x')})`);
    record('onnxruntime', measureMatmulGflops('onnx', ...(sizes.onnxruntime as [number, number, number])));
  }
  const tfjs: [MatmulSpeed['engine'], string][] = [
    ['tfjs-node', 'tensorflow'],
    ['tfjs-wasm', 'wasm'],
    ['tfjs-cpu', 'cpu'],
  ];
  for (const [engine, backend] of tfjs) {
    if (!tf.findBackendFactory(backend)) continue;
    log(`matmul on ${engine} (${sizes[engine].join('x')})`);
    record(engine, await tfjsMatmulGflops(backend, ...(sizes[engine] as [number, number, number])));
  }
  log(`matmul in plain JS (${sizes.js.join('x')})`);
  record('js', measureMatmulGflops('js', ...(sizes.js as [number, number, number])));
  return out;
}
