/**
 * `npm run bench:neural`: seconds per epoch and test variance explained of the keypoint encoder,
 * ours (KeypointEncoder, tfjs) and, in the same run, Facemap's own KeypointsNetwork.train_model
 * (PyTorch, CPU; bench/peers/facemap_encoder.py) on the same arrays.
 *
 * Data (simulated, generated once into a cache folder and reused): BENCH_FRAMES camera frames
 * (default 100,000 = 2,000 s at 50 Hz) of behaviour latents (src/synth/behavior), the true
 * keypoints of the rendered face in every frame (128 x 128 renderer; 11 keypoints = 22 columns:
 * Facemap's 15 without paw, nosebridge, nose(r) and nose(top)), z-scored; BENCH_NEURONS simulated
 * neurons (default 2,000) at 3 Hz driven by the latents (src/synth/neural), and the top 128 PCs of
 * their normalised activity as the targets.
 *
 * Both sides train on the same samples and are scored on the same ones. Facemap shifts its targets
 * by its delay (-1: samples at indices i + 1 are predicted from the camera frame nearest neural
 * time i), so it is given the split of the anchor samples i (Facemap's 10 segments: 75% train, 3
 * gap, test; rectangular, as train_model needs) and ours the split of the targets i + 1; the first
 * T' neural samples are used, T' - 1 a multiple of 10. Same camera windows per segment (Facemap's
 * length rule), same network, initialisation scheme, loss and AdamW schedule; different random
 * draws (our seeded Rng vs torch's).
 *
 * Schedule: ours runs its default, validated schedule (BENCH_EPOCHS at most: the end of each
 * training segment chooses the lr drops and the stop, then a refit on every training sample; see
 * src/neural/encoder.ts), or Facemap's fixed one with BENCH_SCHEDULE=fixed; Facemap runs its
 * fixed BENCH_EPOCHS. `ours.epochs_run` counts both phases; `total_speedup` compares whole
 * training calls.
 *
 * Timing: seconds per epoch = wall seconds of the whole training call / epochs run (both include the
 * test evaluation every 20 epochs; ours includes building its input windows). Test VE: Facemap's
 * own number from train_model (1 - MSE / variance of the test targets, pooled over PCs), and ours
 * computed the same way; Facemap's predictions are also re-scored here as a check.
 *
 * Env: BENCH_EPOCHS (default 300, Facemap's n_iter), BENCH_FRAMES, BENCH_NEURONS, BENCH_SEED
 * (default 0), BENCH_CACHE (default $TMPDIR/facemap-ts-bench-cache), FACEMAP_SRC (a Facemap
 * checkout; without it, or without torch in BENCH_PYTHON (default /usr/bin/python3), only ours
 * runs). Progress on stderr; the last stdout line is one JSON object.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../src/engine/backend';
import { matrix } from '../src/engine/linalg';
import { readNpy, toFloat64, writeNpy } from '../src/io/npy';
import { FACEMAP_KEYPOINTS } from '../src/pose/labels/types';
import { facemapSplit, KeypointEncoder, memorySource, neuralPCA, zscoreColumns } from '../src/neural';
import { simulateBehavior } from '../src/synth/behavior';
import { FaceRenderer, faceStateAt } from '../src/synth/face';
import { simulateNeuralInMemory } from '../src/synth/neural';
import { Rng } from '../src/util/random';
import { vmHwmBytes } from './memory';

const FPS = 50;
const NEURAL_FPS = 3;
const DROP = ['paw', 'nosebridge', 'nose(r)', 'nose(top)'];

function log(msg: string): void {
  process.stderr.write(`[bench:neural] ${msg}\n`);
}

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${v}: expected an integer >= 1`);
  return n;
}

interface BenchData {
  dir: string;
  nCam: number;
  nNeural: number;
  nCols: number;
  nPC: number;
}

/** Generates (once) the arrays both sides train on, as .npy files in the cache folder. */
async function benchData(cache: string, nFrames: number, nNeurons: number, seed: number): Promise<BenchData> {
  const dir = path.join(cache, `neural-${nFrames}f-${nNeurons}n-s${seed}`);
  const meta = path.join(dir, 'meta.json');
  if (fs.existsSync(meta)) {
    log(`reusing cached data in ${dir}`);
    return { dir, ...(JSON.parse(fs.readFileSync(meta, 'utf8')) as Omit<BenchData, 'dir'>) };
  }
  const tmp = `${dir}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  log(`generating ${nFrames} frames of behaviour, keypoints and ${nNeurons} neurons into ${dir} (once)`);
  const latents = simulateBehavior({ fps: FPS, nFrames }, new Rng(seed));
  const renderer = new FaceRenderer({ width: 128, height: 128, noiseSd: 0, seed: seed + 1 });
  const keep = FACEMAP_KEYPOINTS.map((k, i) => [k, i] as const).filter(([k]) => !DROP.includes(k));
  const nCols = 2 * keep.length;
  const raw = new Float32Array(nFrames * nCols);
  const t0 = performance.now();
  for (let f = 0; f < nFrames; f++) {
    const r = renderer.render(faceStateAt(latents, f), f, FPS);
    keep.forEach(([, k], j) => {
      raw[f * nCols + 2 * j] = r.x[k];
      raw[f * nCols + 2 * j + 1] = r.y[k];
    });
    if (f % 20000 === 19999) log(`  keypoints ${f + 1} / ${nFrames} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const X = zscoreColumns(raw, nFrames, nCols);
  const sim = simulateNeuralInMemory(latents, { nNeurons, neuralFps: NEURAL_FPS, nClusters: 20 }, seed + 2);
  // T' - 1 a multiple of 10, so that Facemap's anchor split (T' - 1 samples) is rectangular
  const T = sim.nTimepoints - ((sim.nTimepoints - 1) % 10);
  const act = new Float32Array(nNeurons * T);
  for (let i = 0; i < nNeurons; i++) act.set(sim.activity.subarray(i * sim.nTimepoints, i * sim.nTimepoints + T), i * T);
  log(`  neural PCA of ${nNeurons} x ${T}`);
  const pca = await neuralPCA(memorySource(act, nNeurons, T), { nPC: 128 });
  const tcam = Float64Array.from({ length: nFrames }, (_, f) => f / FPS);
  writeNpy(path.join(tmp, 'X.npy'), X, [nFrames, nCols]);
  writeNpy(path.join(tmp, 'Y.npy'), pca.Y.data, [T, pca.Y.cols]);
  writeNpy(path.join(tmp, 'tcam.npy'), tcam, [nFrames]);
  writeNpy(path.join(tmp, 'tneural.npy'), sim.timestamps.slice(0, T), [T]);
  const anchors = facemapSplit(T - 1);
  const seg = anchors.bounds.length - 1;
  writeNpy(path.join(tmp, 'itrain.npy'), BigInt64Array.from(anchors.train, (v) => BigInt(v)), [seg, anchors.train.length / seg]);
  writeNpy(path.join(tmp, 'itest.npy'), BigInt64Array.from(anchors.test, (v) => BigInt(v)), [seg, anchors.test.length / seg]);
  const m = { nCam: nFrames, nNeural: T, nCols, nPC: pca.Y.cols };
  fs.writeFileSync(path.join(tmp, 'meta.json'), `${JSON.stringify(m)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return { dir, ...m };
}

function readF32(file: string): Float32Array {
  return Float32Array.from(readNpy(file).data as ArrayLike<number>);
}

function pooledVe(y: Float32Array, yhat: Float32Array, q: number): number {
  const n = y.length / q;
  const mean = new Float64Array(q);
  for (let t = 0; t < n; t++) for (let j = 0; j < q; j++) mean[j] += y[t * q + j] / n;
  let a = 0;
  let b = 0;
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < q; j++) {
      a += (y[t * q + j] - yhat[t * q + j]) ** 2;
      b += (y[t * q + j] - mean[j]) ** 2;
    }
  }
  return 1 - a / b;
}

function pythonHasTorch(python: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn(python, ['-c', 'import torch, numpy, scipy'], { stdio: 'ignore' });
    c.on('error', () => resolve(false));
    c.on('exit', (code) => resolve(code === 0));
  });
}

function runFacemap(python: string, script: string, dir: string, epochs: number, seed: number): Promise<{ seconds: number; sec_per_epoch: number; ve: number; threads: number; torch: string; n_params: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(python, [script, dir, String(epochs), String(seed)], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    c.stdout.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.trim()) log(`  facemap: ${line.trim()}`);
    });
    let err = '';
    c.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of d.toString().split('\n')) if (line.trim() && !line.includes('Training model')) log(`  facemap: ${line.trim()}`);
    });
    c.on('error', reject);
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`facemap_encoder.py exited ${code}: ${err.slice(-2000)}`));
      resolve(JSON.parse(fs.readFileSync(path.join(dir, 'facemap_result.json'), 'utf8')));
    });
  });
}

async function main(): Promise<void> {
  const epochs = envInt('BENCH_EPOCHS', 300);
  const nFrames = envInt('BENCH_FRAMES', 100000);
  const nNeurons = envInt('BENCH_NEURONS', 2000);
  const seed = Number(process.env.BENCH_SEED ?? 0);
  const cache = process.env.BENCH_CACHE ?? path.join(os.tmpdir(), 'facemap-ts-bench-cache');
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  const info = await initBackend();
  log(`tfjs backend ${info.choice}${info.simd ? ' (SIMD)' : ''}; ${epochs} epochs`);
  const d = await benchData(cache, nFrames, nNeurons, seed);
  const X = readF32(path.join(d.dir, 'X.npy'));
  const Y = readF32(path.join(d.dir, 'Y.npy'));
  const camTimes = toFloat64(readNpy(path.join(d.dir, 'tcam.npy')).data);
  const neuralTimes = toFloat64(readNpy(path.join(d.dir, 'tneural.npy')).data);
  const itrain = toFloat64(readNpy(path.join(d.dir, 'itrain.npy')).data);
  const itest = toFloat64(readNpy(path.join(d.dir, 'itest.npy')).data);
  const split = { train: Int32Array.from(itrain, (i) => i + 1), test: Int32Array.from(itest, (i) => i + 1), bounds: new Int32Array(0) };
  log(`data: ${d.nCam} camera frames x ${d.nCols} keypoint columns, ${d.nNeural} neural samples x ${d.nPC} PCs; ${split.train.length} train / ${split.test.length} test samples`);

  const schedule = process.env.BENCH_SCHEDULE ?? 'validated';
  if (schedule !== 'validated' && schedule !== 'fixed') throw new Error(`BENCH_SCHEDULE=${schedule}: expected validated | fixed`);
  const enc = new KeypointEncoder({ epochs, seed, ...(schedule === 'fixed' ? { validationFraction: 0 } : {}) });
  const t0 = performance.now();
  await enc.fit(
    { x: matrix(d.nCam, d.nCols, X), camTimes, y: matrix(d.nNeural, d.nPC, Y), neuralTimes },
    {
      split,
      onEpoch: (e) => {
        if (e.testVe !== undefined || e.epoch % 20 === 0) log(`  ours: epoch ${e.epoch}, train loss ${e.trainLoss.toFixed(4)}${e.testVe === undefined ? '' : `, test VE ${e.testVe.toFixed(4)}`}, ${e.seconds.toFixed(2)} s`);
      },
    },
  );
  const oursSeconds = (performance.now() - t0) / 1000;
  const tr = enc.training!;
  const ours = {
    schedule: tr.schedule,
    epochs_run: tr.epochsRun,
    final_epochs: tr.epochs,
    best_epoch: tr.validation ? tr.validation.bestEpoch + 1 : null,
    anneal_epochs: tr.annealEpochs.map((e) => e + 1),
    sec_per_epoch: +(oursSeconds / tr.epochsRun).toFixed(4),
    median_epoch_s: +[...enc.history.map((e) => e.seconds)].sort((a, b) => a - b)[Math.floor(enc.history.length / 2)].toFixed(4),
    test_ve: +(enc.training?.testVe ?? NaN).toFixed(5),
    seconds: +oursSeconds.toFixed(1),
    backend: info.choice,
    params: enc.nParams,
  };
  log(`ours: ${ours.sec_per_epoch} s/epoch, test VE ${ours.test_ve}`);
  enc.dispose();

  let facemap: Record<string, unknown> | null = null;
  let note: string | undefined;
  const src = process.env.FACEMAP_SRC;
  if (!src) note = 'FACEMAP_SRC not set: Facemap not run';
  else if (!(await pythonHasTorch(python))) note = `${python} has no torch/numpy/scipy: Facemap not run`;
  else {
    log(`running Facemap's KeypointsNetwork.train_model (${epochs} epochs) with ${python}`);
    const r = await runFacemap(python, path.resolve(__dirname, '../../bench/peers/facemap_encoder.py'), d.dir, epochs, seed);
    const yp = readF32(path.join(d.dir, 'facemap_ypred.npy'));
    const yt = new Float32Array(split.test.length * d.nPC);
    split.test.forEach((n, k) => yt.set(Y.subarray(n * d.nPC, (n + 1) * d.nPC), k * d.nPC));
    facemap = {
      sec_per_epoch: +r.sec_per_epoch.toFixed(4),
      test_ve: +r.ve.toFixed(5),
      test_ve_rescored: yp.length === yt.length ? +pooledVe(yt, yp, d.nPC).toFixed(5) : null,
      seconds: +r.seconds.toFixed(1),
      threads: r.threads,
      torch: r.torch,
      params: r.n_params,
    };
  }
  const fm = facemap as { sec_per_epoch: number; test_ve: number } | null;
  const result = {
    bench: 'neural',
    frames: d.nCam,
    keypoint_columns: d.nCols,
    pcs: d.nPC,
    neural_samples: d.nNeural,
    train_samples: split.train.length,
    test_samples: split.test.length,
    epochs,
    ours,
    facemap,
    speedup: fm ? +(fm.sec_per_epoch / ours.sec_per_epoch).toFixed(2) : null,
    targets: fm ? { sec_per_epoch_le_facemap: ours.sec_per_epoch <= fm.sec_per_epoch, ve_ge_facemap_minus_0_01: ours.test_ve >= fm.test_ve - 0.01 } : null,
    total_speedup: fm ? +((fm as unknown as { seconds: number }).seconds / ours.seconds).toFixed(2) : null,
    vm_hwm_mb: (() => {
      const b = vmHwmBytes();
      return b === null ? null : +(b / 2 ** 20).toFixed(0);
    })(),
    cores: os.availableParallelism(),
    load_avg_1m: +os.loadavg()[0].toFixed(2),
    note,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench:neural] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
