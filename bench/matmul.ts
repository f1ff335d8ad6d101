/** Matmul throughput of each engine, shared by the engine benchmark. */
import * as tf from '@tensorflow/tfjs';
import { measureMatmulGflops } from '../src/engine/linalg';
import { ortAvailable } from '../src/engine/onnx';

type Log = (msg: string) => void;

/** GFLOP/s of a float32 m x k @ k x n product on a tfjs backend (median of `reps`, after warm-up). */
export async function tfjsMatmulGflops(backend: string, m: number, k: number, n: number, reps = 3): Promise<number> {
  const prev = tf.getBackend();
  await tf.setBackend(backend);
  const a = tf.randomNormal([m, k], 0, 1, 'float32', 1);
  const b = tf.randomNormal([k, n], 0, 1, 'float32', 2);
  const once = () => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  };
  try {
    once();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      once();
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    return +((2 * m * k * n) / times[Math.floor(reps / 2)] / 1e6).toFixed(2);
  } finally {
    tf.dispose([a, b]);
    await tf.setBackend(prev);
  }
}

/** GFLOP/s per engine and size, keyed `<engine>@<m>x<k>x<n>`. */
export async function engineMatmulBench(log: Log): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const native: ['onnx' | 'js', number, number, number][] = [
    ['onnx', 2048, 2048, 2048],
    ['onnx', 50000, 2000, 150],
    ['js', 512, 512, 512],
  ];
  for (const [engine, m, k, n] of native) {
    if (engine === 'onnx' && !ortAvailable()) {
      log('ONNX Runtime is not available: skipping its matmul');
      continue;
    }
    log(`matmul ${m}x${k}x${n} on ${engine === 'onnx' ? 'onnxruntime' : 'plain JS'}`);
    out[`${engine === 'onnx' ? 'onnxruntime' : 'js'}@${m}x${k}x${n}`] = +measureMatmulGflops(engine, m, k, n).toFixed(2);
  }
  const cases: [string, number, number, number][] = [
    ['wasm', 1024, 1024, 1024],
    ['cpu', 512, 512, 512],
  ];
  for (const [backend, m, k, n] of cases) {
    log(`matmul ${m}x${k}x${n} on tfjs-${backend}`);
    out[`tfjs-${backend}@${m}x${k}x${n}`] = await tfjsMatmulGflops(backend, m, k, n);
  }
  return out;
}
