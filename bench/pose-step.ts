/**
 * Training speed of the full FMnet (256x256, channels [32, 64, 128, 128, 200], 15 keypoints): one
 * step = forward in training mode + loss + backward + AdamW update, on the active backend
 * (initBackend(): wasm here). Prints one JSON line: per batch size, median step seconds and
 * training frames/s. Env: BENCH_BATCHES (default "1,8"), BENCH_REPS (timed steps after one
 * warm-up, default 2), BENCH_BN (BatchNorm layers to compare, "fast" and/or "stock", default
 * "stock,fast": FastBatchNorm's kernels vs tf.layers.batchNormalization), BENCH_ENGINE ("tfjs",
 * default, or "ort": the whole step as one ONNX Runtime graph, src/pose/ort-train.ts, with the
 * AdamW update on tfjs as in training). A step that fails (wasm
 * out of memory) is reported as an error for that batch size. Progress goes to stderr.
 * Usage: npm run build && node dist/bench/pose-step.js
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, initBackend } from '../src/engine/backend';
import { AdamW, createFMnet, fmnetTrainStep, fmnetTrainableVariables, makeTargets, OrtFMnetStep, targetsToTensors } from '../src/pose';
import { Rng } from '../src/util/random';

type Row = { batchNorm: string; batch: number; stepSeconds?: number[]; medianStepSeconds?: number; framesPerSecond?: number; error?: string };

const K = 15;

/** Timed steps of a fresh FMnet with `batchNorm` layers at batch size n. */
function benchOne(n: number, batchNorm: 'fast' | 'stock', reps: number): Row {
  const model = createFMnet({ nKeypoints: K, seed: 0, batchNorm });
  const opt = new AdamW(fmnetTrainableVariables(model), { lr: 1e-4 });
  const rng = new Rng(n);
  const images = tf.tidy(() => tf.randomUniform([n, 256, 256, 1], 0, 1, 'float32', n)) as tf.Tensor4D;
  const kp = Float32Array.from({ length: n * K * 2 }, () => 20 + 216 * rng.uniform());
  const plainTargets = makeTargets(kp, n, K, 64);
  const targets = targetsToTensors(plainTargets);
  const ort = process.env.BENCH_ENGINE === 'ort' ? new OrtFMnetStep(model) : null;
  const pixels = ort ? (images.dataSync() as Float32Array) : null;
  try {
    const times: number[] = [];
    for (let i = 0; i <= reps; i++) {
      const t0 = performance.now();
      const loss = ort ? ort.step(opt, pixels!, plainTargets, n) : fmnetTrainStep(model, opt, images, targets);
      const s = (performance.now() - t0) / 1000;
      process.stderr.write(`[bench:pose-step] ${batchNorm} BN, batch ${n} step ${i}${i === 0 ? ' (warm-up)' : ''}: ${s.toFixed(2)} s, loss ${loss.toFixed(3)}\n`);
      if (i > 0) times.push(s);
    }
    const sorted = [...times].sort((a, b) => a - b);
    const med = sorted[Math.floor((sorted.length - 1) / 2)];
    return { batchNorm, batch: n, stepSeconds: times.map((t) => +t.toFixed(3)), medianStepSeconds: +med.toFixed(3), framesPerSecond: +(n / med).toFixed(3) };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`[bench:pose-step] ${batchNorm} BN, batch ${n}: failed: ${msg}\n`);
    return { batchNorm, batch: n, error: msg.slice(0, 200) };
  } finally {
    tf.dispose([images, ...Object.values(targets)]);
    ort?.dispose();
    opt.dispose();
    model.dispose();
  }
}

async function main(): Promise<void> {
  const info = await initBackend();
  process.stderr.write(`[bench:pose-step] ${describeBackend(info)}\n`);
  const batches = (process.env.BENCH_BATCHES ?? '1,8').split(',').map(Number);
  const reps = Number(process.env.BENCH_REPS ?? 2);
  const kinds = (process.env.BENCH_BN ?? 'stock,fast').split(',') as ('fast' | 'stock')[];
  const results: Row[] = [];
  for (const n of batches) for (const batchNorm of kinds) results.push(benchOne(n, batchNorm, reps));
  console.log(
    JSON.stringify({
      bench: 'pose-step',
      model: 'FMnet 256x256, channels [32,64,128,128,200], 15 keypoints, 2,148,271 params',
      backend: info.choice,
      engine: process.env.BENCH_ENGINE === 'ort' ? 'ort' : 'tfjs',
      simd: info.simd,
      cores: os.availableParallelism(),
      loadavg: os.loadavg().map((l) => +l.toFixed(2)),
      results,
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
