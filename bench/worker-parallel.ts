/**
 * `node dist/bench/worker-parallel.js`: lead (a), data-parallel training across worker_threads, one
 * wasm backend each. Each worker runs a 3x3 conv forward + dx + dW (FMnet's 128px/64ch level,
 * batch BENCH_WP_BATCH per worker) ITERS times on its own shard and posts its dW back; the main
 * thread sums the workers' dW (the all-reduce: gradients are averaged over shards, then the same
 * update is applied everywhere; with one parameter set per worker it is broadcast back as a
 * transferable Float32Array). Throughput (images/s) with 1 worker vs 2 workers running at once.
 * One JSON line on stdout. Env: BENCH_WP_BATCH (default 2), BENCH_WP_ITERS (default 4).
 */
import * as os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend';

const SIZE = 128;
const CH = 64;

interface Job {
  batch: number;
  iters: number;
  seed: number;
}

async function workerMain(job: Job): Promise<void> {
  await initBackend({ backend: 'wasm' });
  const xShape: [number, number, number, number] = [job.batch, SIZE, SIZE, CH];
  const x = tf.randomNormal(xShape, 0, 1, 'float32', job.seed) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, CH, CH], 0, 0.05, 'float32', 1) as tf.Tensor4D;
  const step = () =>
    tf.tidy(() => {
      const [, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))),
      )([x, w]);
      return dw.dataSync() as Float32Array;
    });
  step(); // warm-up
  parentPort?.postMessage({ ready: true });
  await new Promise<void>((resolve) => parentPort?.once('message', () => resolve()));
  const t0 = performance.now();
  let dw: Float32Array = new Float32Array(0);
  for (let i = 0; i < job.iters; i++) dw = step();
  const ms = performance.now() - t0;
  const copy = new Float32Array(dw);
  parentPort?.postMessage({ ms, dw: copy }, [copy.buffer]);
}

async function runWorkers(count: number, batch: number, iters: number): Promise<{ wallMs: number; allReduceMs: number; perWorkerMs: number[] }> {
  const workers = Array.from({ length: count }, (_, i) => new Worker(__filename, { workerData: { batch, iters, seed: 10 + i } }));
  const ready = workers.map((wk) => new Promise<void>((resolve, reject) => {
    wk.once('message', () => resolve());
    wk.once('error', reject);
  }));
  await Promise.all(ready);
  const done = workers.map((wk) => new Promise<{ ms: number; dw: Float32Array }>((resolve) => wk.once('message', resolve)));
  const t0 = performance.now();
  for (const wk of workers) wk.postMessage('go');
  const results = await Promise.all(done);
  const wallMs = performance.now() - t0;
  // All-reduce: average the shards' gradients (here on the main thread; ring all-reduce is
  // pointless at 2 workers). FMnet's ~1.5 M parameters make this a few ms per step.
  const t1 = performance.now();
  const sum = new Float32Array(results[0].dw.length);
  for (const r of results) for (let i = 0; i < sum.length; i++) sum[i] += r.dw[i] / count;
  const allReduceMs = performance.now() - t1;
  await Promise.all(workers.map((wk) => wk.terminate()));
  return { wallMs, allReduceMs, perWorkerMs: results.map((r) => +r.ms.toFixed(0)) };
}

async function main(): Promise<void> {
  const batch = Number(process.env.BENCH_WP_BATCH ?? 2);
  const iters = Number(process.env.BENCH_WP_ITERS ?? 4);
  const one = await runWorkers(1, batch, iters);
  const two = await runWorkers(2, batch, iters);
  const ips = (r: { wallMs: number }, k: number) => +((k * batch * iters * 1000) / r.wallMs).toFixed(2);
  const result = {
    bench: 'worker-parallel',
    machine: { cores: os.availableParallelism(), loadavg: os.loadavg().map((v) => +v.toFixed(2)) },
    work: `conv3x3 ${SIZE}px ${CH}->${CH} forward+dx+dW, batch ${batch} per worker, ${iters} iterations`,
    one_worker: { ...one, images_per_s: ips(one, 1) },
    two_workers: { ...two, images_per_s: ips(two, 2) },
    speedup: +(ips(two, 2) / ips(one, 1)).toFixed(2),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (isMainThread) {
  main().catch((err) => {
    process.stderr.write(`worker-parallel failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
} else {
  workerMain(workerData as Job).catch((err) => {
    process.stderr.write(`worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
