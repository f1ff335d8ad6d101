/**
 * `npm run bench:pose-infer`: keypoint inference speed.
 *
 * Network: FMnet, channels [32, 64, 128, 128, 200], 256x256 input, 15 keypoints (2,148,271
 * parameters), seeded random weights (speed does not depend on them), saved as a model folder in
 * a temp dir and exported with `export-onnx` (batch norms folded).
 *
 * Model only (forward pass on a random preprocessed batch, no decoding), batch 1 and 16:
 *  - ONNX Runtime: the exported model, CPU, BENCH_THREADS intra-op threads (default 2), graph
 *    optimisation 'all' (NCHWc layout), run synchronously;
 *  - tfjs: the tfjs model on the active backend (initBackend(): wasm here);
 *  - PyTorch: bench/peers/fmnet_torch.py with /usr/bin/python3 (BENCH_PYTHON), 2 threads, eval mode
 *    under no_grad; Facemap's own FMnet class when FACEMAP_SRC points to a Facemap checkout.
 * ONNX Runtime and PyTorch alternate for BENCH_ROUNDS rounds (default 2) so that both see the same
 * machine load: each round gives a median frames/s per engine and batch (over BENCH_REPS timed runs
 * after one warm-up) and a ratio ONNX Runtime / PyTorch; the reported figures are the medians over
 * rounds. tfjs (slow) runs once with BENCH_TFJS_REPS timed runs.
 * int8: the same network quantised (export-onnx --int8: int8 weights per channel, uint8 activations
 * calibrated on 64 frames evenly spaced over the video, heads in float) is timed in the same rounds,
 * and tracked end to end with `track --int8`. Its accuracy cost is measured on real labels when
 * ../shared/data/facemap-face is there: the shipped models/fmnet-face, calibrated on the even-numbered
 * labelled frames and scored on the odd-numbered ones, float32 against int8 (mean error, px).
 * With BENCH_VARIANTS=1, ONNX Runtime variants are timed in the same run (optimisation level
 * 'extended' (no NCHWc), batch norms not folded, threads not spinning, 1 thread).
 *
 * End to end: `facemap-ts track` (the built CLI, a child process, default options: two ONNX Runtime
 * workers of one thread each, batch 4) on ../shared/data/mirror-mouse/videos/test_vid.mp4 (994 frames,
 * 396x406, BENCH_VIDEO to override): frames / wall seconds of the whole command (startup included)
 * and the command's own frames/s; peak memory = the command's peak RSS (its JSON line, worker threads
 * included) and the largest RSS sampled every 100 ms over it and its ffmpeg child. Then the same with
 * `--workers 1` (one ONNX Runtime session of two threads, as in the model-only figures;
 * BENCH_ONE_WORKER=0 skips it).
 *
 * Peak memory of this process (VmHWM) covers the model-only runs. The machine is shared: load
 * averages at start and end go into the JSON. Progress on stderr; one JSON line last on stdout.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, initBackend } from '../src/engine/backend';
import { createSession, float32Tensor, ortInfo, type OrtSessionOptions } from '../src/engine/onnx';
import {
  calibrationFrames,
  createFMnet,
  countTrainableParams,
  evaluateModelDir,
  exportOnnx,
  exportOnnxInt8,
  fmnetToOnnx,
  FACEMAP_KEYPOINTS,
  frameTransforms,
  loadLabelledFrames,
  preprocessFrame,
  readLabels,
  readModelCard,
  saveModel,
  cardInferenceExpand,
} from '../src/pose';
import { vmHwmBytes } from './memory';

const CHANNELS = [32, 64, 128, 128, 200];
const S = 256;
const K = 15;
const BATCHES = [1, 16];
const VIDEO_DEFAULT = path.resolve(__dirname, '../../../shared/data/mirror-mouse/videos/test_vid.mp4');
const CLI = path.resolve(__dirname, '../src/cli/main.js');

const env = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);
const log = (msg: string): void => void process.stderr.write(`[bench:pose-infer] ${msg}\n`);
const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r2 = (v: number): number => +v.toFixed(2);
const mb = (b: number | null): number | null => (b === null ? null : +(b / 2 ** 20).toFixed(1));
const load = (): number[] => os.loadavg().map(r2);

function randomBatch(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n * S * S }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

/** Median frames/s of `run` (one call = n frames) over `reps` timed calls after one warm-up. */
function timeFps(n: number, reps: number, run: () => void): { framesPerSecond: number; seconds: number[] } {
  run();
  const seconds: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    seconds.push((performance.now() - t0) / 1000);
  }
  return { framesPerSecond: r2(n / median(seconds)), seconds: seconds.map((s) => +s.toFixed(4)) };
}

function ortFps(bytes: Uint8Array, opts: OrtSessionOptions, reps: number): Record<string, number> {
  const s = createSession(bytes, { providers: ['cpu'], ...opts });
  const out: Record<string, number> = {};
  try {
    for (const n of BATCHES) {
      const feeds = { image: float32Tensor(randomBatch(n, n), [n, 1, S, S]) };
      out[`batch${n}`] = timeFps(n, reps, () => s.runSync(feeds)).framesPerSecond;
    }
  } finally {
    s.dispose();
  }
  return out;
}

interface TorchResult {
  torch: string;
  network: string;
  trainableParams: number;
  threads: number;
  results: { batch: number; framesPerSecond: number; seconds: number[] }[];
  peakRssMB: number;
}

function runTorch(python: string, reps: number): Promise<TorchResult | { error: string }> {
  const script = path.resolve(__dirname, '../../bench/peers/fmnet_torch.py');
  return new Promise((resolve) => {
    const p = spawn(python, [script, '--batches', BATCHES.join(','), '--reps', String(reps), '--threads', '2', '--keypoints', String(K)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      process.stderr.write(d);
    });
    p.on('error', (e) => resolve({ error: `${python}: ${e.message}` }));
    p.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`);
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as TorchResult);
      } catch (e) {
        resolve({ error: (e as Error).message });
      }
    });
  });
}

/** RSS (bytes) of a process and its descendants, from /proc; 0 where unreadable. */
function treeRss(pid: number): number {
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    try {
      const st = fs.readFileSync(`/proc/${p}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+) kB/.exec(st)?.[1] ?? 0) * 1024;
      for (const t of fs.readdirSync(`/proc/${p}/task`)) {
        const kids = fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        if (kids) stack.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

async function endToEnd(video: string, modelDir: string, outDir: string, extra: string[] = []): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const p = spawn(process.execPath, [CLI, 'track', video, '--model', modelDir, '--out', outDir, '--force', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, treeRss(p.pid as number))), 100);
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    const last = d.toString().trim().split('\n').pop();
    if (last) log(`  ${last}`);
  });
  const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
  clearInterval(timer);
  const wall = (performance.now() - t0) / 1000;
  if (code !== 0) return { error: `track exited ${code}: ${err.trim().split('\n').slice(-2).join(' | ')}` };
  const summary = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { videos: { frames: number; framesPerSecond: number }[]; engine: string; peakRssMB: number };
  const v = summary.videos[0];
  return {
    command: `facemap-ts track ${path.basename(video)} --model MODEL --out DIR --force${extra.length ? ` ${extra.join(' ')}` : ''}`,
    video,
    frames: v.frames,
    engine: summary.engine,
    wallSeconds: r2(wall),
    framesPerSecondWall: r2(v.frames / wall),
    framesPerSecondTracking: v.framesPerSecond,
    peakRssMB: summary.peakRssMB,
    peakRssSampledWithFfmpegMB: mb(peak),
  };
}

const SHIPPED_MODEL = path.resolve(__dirname, '../../models/fmnet-face');
const FACE_LABELS = path.resolve(__dirname, '../../../shared/data/facemap-face/CollectedData_AVS.csv');

/**
 * The int8 model's accuracy cost on real labels: a copy of the shipped model, calibrated on the
 * even-numbered labelled frames and scored on the odd-numbered ones in float32 and in int8.
 */
async function int8Accuracy(): Promise<Record<string, unknown>> {
  if (!fs.existsSync(FACE_LABELS) || !fs.existsSync(path.join(SHIPPED_MODEL, 'card.json'))) return { skipped: `needs ${FACE_LABELS} and ${SHIPPED_MODEL}` };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facemap-bench-int8-'));
  try {
    for (const f of ['card.json', 'model.json', 'weights.bin']) fs.copyFileSync(path.join(SHIPPED_MODEL, f), path.join(dir, f));
    const card = readModelCard(dir);
    const labels = await readLabels(FACE_LABELS);
    const data = loadLabelledFrames(labels, { labelFile: FACE_LABELS });
    const S = card.inputSize;
    const even = data.frames.map((_, i) => i).filter((i) => i % 2 === 0);
    const odd = data.frames.map((_, i) => i).filter((i) => i % 2 === 1);
    const pixels = new Float32Array(even.length * S * S);
    even.forEach((i, j) => {
      const f = data.frames[i];
      const [t] = frameTransforms([f], S, card.box, cardInferenceExpand(card));
      pixels.set(preprocessFrame(f.data as Uint8Array, f.width, f.height, t), j * S * S);
    });
    const ex = await exportOnnxInt8(dir, { pixels, n: even.length, source: `${even.length} even-numbered labelled frames` });
    const f32 = await evaluateModelDir(dir, labels, { indices: odd, labelFile: FACE_LABELS });
    const i8 = await evaluateModelDir(dir, labels, { indices: odd, labelFile: FACE_LABELS, precision: 'int8' });
    const shift: number[] = [];
    for (let i = 0; i < f32.x.length; i++) if (Number.isFinite(f32.x[i])) shift.push(Math.hypot(f32.x[i] - i8.x[i], f32.y[i] - i8.y[i]));
    shift.sort((a, b) => a - b);
    return {
      model: 'models/fmnet-face',
      labels: FACE_LABELS,
      scoredFrames: odd.length,
      calibration: ex.calibration,
      meanErrorPx: { float32: r2(f32.metrics.mean), int8: r2(i8.metrics.mean) },
      medianErrorPx: { float32: r2(f32.metrics.median), int8: r2(i8.metrics.median) },
      keypointShiftInt8VsFloat32Px: { mean: r2(shift.reduce((a, b) => a + b, 0) / shift.length), median: r2(shift[shift.length >> 1]), p95: r2(shift[Math.floor(0.95 * shift.length)]) },
      note: 'the shipped model was trained on (some or all of) these frames, so the errors themselves are optimistic; the int8 - float32 difference is what this measures',
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const loadStart = load();
  const rounds = env('BENCH_ROUNDS', 2);
  const reps = env('BENCH_REPS', 5);
  const tfjsReps = env('BENCH_TFJS_REPS', 2);
  const threads = env('BENCH_THREADS', 2);
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  const video = process.env.BENCH_VIDEO ?? VIDEO_DEFAULT;
  const backend = await initBackend();
  log(`${describeBackend(backend)}; ONNX Runtime ${ortInfo().version}; load ${loadStart.join(' ')}; ${os.availableParallelism()} cores`);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'facemap-bench-infer-'));
  try {
    const modelDir = path.join(work, 'model');
    const model = createFMnet({ nKeypoints: K, channels: CHANNELS, inputSize: S, seed: 0 });
    await saveModel(modelDir, model, { keypoints: [...FACEMAP_KEYPOINTS], channels: CHANNELS, inputSize: S, box: null });
    const exported = await exportOnnx(modelDir);
    const bytes = new Uint8Array(fs.readFileSync(exported.file));
    log(`exported ${exported.file}: ${exported.foldedBatchNorms} batch norms folded, ${exported.keptBatchNorms} kept`);
    const haveVideo = video !== 'none' && fs.existsSync(video);
    // int8: calibrated on the video's frames (random frames when there is no video).
    const cal = haveVideo
      ? await calibrationFrames(modelDir, video, 64)
      : { pixels: randomBatch(16, 7), n: 16, source: '16 random frames (no video)' };
    const int8 = await exportOnnxInt8(modelDir, cal);
    const bytes8 = new Uint8Array(fs.readFileSync(int8.file));
    log(`int8 export: ${int8.quantizedConvs} convolutions int8, calibrated on ${cal.source}; keypoints vs float32 mean ${int8.deviation.mean} px (network input)`);

    const ortRounds: Record<string, number>[] = [];
    const int8Rounds: Record<string, number>[] = [];
    const torchRounds: (TorchResult | { error: string })[] = [];
    for (let r = 0; r < rounds; r++) {
      const o = ortFps(bytes, { threads, graphOptimization: 'all' }, reps);
      ortRounds.push(o);
      log(`round ${r + 1}: ONNX Runtime ${JSON.stringify(o)} frames/s (load ${load()[0]})`);
      const o8 = ortFps(bytes8, { threads, graphOptimization: 'all' }, reps);
      int8Rounds.push(o8);
      log(`round ${r + 1}: ONNX Runtime int8 ${JSON.stringify(o8)} frames/s (load ${load()[0]})`);
      const t = await runTorch(python, reps);
      torchRounds.push(t);
      log(`round ${r + 1}: PyTorch ${'error' in t ? t.error : JSON.stringify(t.results.map((x) => ({ batch: x.batch, fps: x.framesPerSecond })))} (load ${load()[0]})`);
    }
    const torchOk = torchRounds.filter((t): t is TorchResult => !('error' in t));
    const onnx: Record<string, unknown> = { threads, graphOptimization: 'all', rounds: ortRounds };
    const onnxInt8: Record<string, unknown> = { threads, graphOptimization: 'all', calibration: int8.calibration, deviationFromFloat32NetworkPx: int8.deviation, rounds: int8Rounds };
    const ratiosInt8: Record<string, number | null> = {};
    const pytorch: Record<string, unknown> = torchOk.length
      ? { torch: torchOk[0].torch, network: torchOk[0].network, trainableParams: torchOk[0].trainableParams, threads: torchOk[0].threads, peakRssMB: Math.max(...torchOk.map((t) => t.peakRssMB)), rounds: torchOk.map((t) => Object.fromEntries(t.results.map((x) => [`batch${x.batch}`, x.framesPerSecond]))) }
      : { error: (torchRounds[0] as { error: string }).error };
    const ratios: Record<string, number | null> = {};
    for (const n of BATCHES) {
      const key = `batch${n}`;
      onnx[key] = r2(median(ortRounds.map((o) => o[key])));
      onnxInt8[key] = r2(median(int8Rounds.map((o) => o[key])));
      if (torchOk.length === rounds) {
        const torchFps = (i: number): number => torchOk[i].results.find((x) => x.batch === n)?.framesPerSecond ?? NaN;
        pytorch[key] = r2(median(torchOk.map((_, i) => torchFps(i))));
        ratios[key] = r2(median(ortRounds.map((o, i) => o[key] / torchFps(i))));
        ratiosInt8[key] = r2(median(int8Rounds.map((o, i) => o[key] / torchFps(i))));
      } else {
        ratios[key] = null;
        ratiosInt8[key] = null;
      }
    }

    let variants: Record<string, unknown> | undefined;
    if (process.env.BENCH_VARIANTS === '1') {
      variants = {};
      const unfolded = fmnetToOnnx(model, { foldBatchNorm: false }).bytes;
      const cases: [string, Uint8Array, OrtSessionOptions][] = [
        ['default (all, folded, spinning)', bytes, { threads, graphOptimization: 'all' }],
        ['extended (no NCHWc)', bytes, { threads, graphOptimization: 'extended' }],
        ['basic', bytes, { threads, graphOptimization: 'basic' }],
        ['batch norms not folded', unfolded, { threads, graphOptimization: 'all' }],
        ['no spinning', bytes, { threads, graphOptimization: 'all', spinning: false }],
        ['1 thread', bytes, { threads: 1, graphOptimization: 'all' }],
      ];
      for (const [name, b, o] of cases) {
        variants[name] = ortFps(b, o, reps);
        log(`variant ${name}: ${JSON.stringify(variants[name])} (load ${load()[0]})`);
      }
    }

    const tfjsRes: Record<string, unknown> = { backend: describeBackend(backend) };
    for (const n of BATCHES) {
      const x = tf.tensor4d(randomBatch(n, n), [n, S, S, 1]);
      try {
        tfjsRes[`batch${n}`] = timeFps(n, tfjsReps, () => tf.dispose(tf.tidy(() => model.predict(x) as tf.Tensor[]).map((t) => (t.dataSync(), t)))).framesPerSecond;
      } catch (e) {
        tfjsRes[`batch${n}`] = null;
        tfjsRes[`batch${n}Error`] = (e as Error).message.slice(0, 200);
      } finally {
        x.dispose();
      }
      log(`tfjs batch ${n}: ${tfjsRes[`batch${n}`]} frames/s`);
    }
    const hwmModelOnly = vmHwmBytes();
    model.dispose();

    const accuracy = await int8Accuracy();
    log(`int8 accuracy on labelled frames: ${JSON.stringify(accuracy)}`);

    let e2e: Record<string, unknown>;
    let e2eOneWorker: Record<string, unknown> | undefined;
    let e2eInt8: Record<string, unknown> | undefined;
    if (!haveVideo) {
      e2e = { skipped: `video ${video} not found` };
      log(e2e.skipped as string);
    } else {
      log(`end to end: facemap-ts track ${video}`);
      e2e = await endToEnd(video, modelDir, path.join(work, 'track'));
      log(`end to end: ${JSON.stringify(e2e)}`);
      log(`end to end, int8: facemap-ts track ${video} --int8`);
      e2eInt8 = await endToEnd(video, modelDir, path.join(work, 'track8'), ['--int8']);
      log(`end to end, int8: ${JSON.stringify(e2eInt8)}`);
      if (process.env.BENCH_ONE_WORKER !== '0') {
        log(`end to end, 1 worker x ${os.availableParallelism()} threads: facemap-ts track ${video} --workers 1`);
        e2eOneWorker = await endToEnd(video, modelDir, path.join(work, 'track1'), ['--workers', '1']);
        log(`end to end, 1 worker: ${JSON.stringify(e2eOneWorker)}`);
      }
    }

    const o1 = onnx.batch1 as number;
    const o16 = onnx.batch16 as number;
    const i1 = onnxInt8.batch1 as number;
    const i16 = onnxInt8.batch16 as number;
    const atLeast = (r: Record<string, number | null>): boolean | null => (r.batch1 !== null && r.batch16 !== null ? (r.batch1 as number) >= 1.7 && (r.batch16 as number) >= 1.7 : null);
    const fpsWall = (e: Record<string, unknown> | undefined): number | null => (e && typeof e.framesPerSecondWall === 'number' ? e.framesPerSecondWall : null);
    console.log(
      JSON.stringify({
        bench: 'pose-infer',
        model: `FMnet ${S}x${S}, channels [${CHANNELS}], ${K} keypoints, ${countTrainableParams(createFMnet({ nKeypoints: K }))} params (random weights)`,
        machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? null, loadavgStart: loadStart, loadavgEnd: load() },
        modelOnlyFramesPerSecond: { onnxRuntime: onnx, onnxRuntimeInt8: onnxInt8, tfjs: tfjsRes, pytorch },
        onnxVsPytorch: ratios,
        onnxInt8VsPytorch: ratiosInt8,
        int8Accuracy: accuracy,
        variants,
        endToEnd: e2e,
        endToEndInt8: e2eInt8,
        endToEndOneWorker: e2eOneWorker,
        peakMemoryMB: {
          benchProcessModelOnly: mb(hwmModelOnly),
          track: e2e.peakRssMB ?? null,
          trackWithFfmpegSampled: e2e.peakRssSampledWithFfmpegMB ?? null,
          trackInt8WithFfmpegSampled: e2eInt8?.peakRssSampledWithFfmpegMB ?? null,
          pytorch: pytorch.peakRssMB ?? null,
        },
        targets: {
          modelOnlyAtLeast25: { float32: o1 >= 25 && o16 >= 25, int8: i1 >= 25 && i16 >= 25 },
          atLeast1p7xPytorch: { float32: atLeast(ratios), int8: atLeast(ratiosInt8) },
          endToEndAtLeast20: { float32: fpsWall(e2e) === null ? null : (fpsWall(e2e) as number) >= 20, int8: fpsWall(e2eInt8) === null ? null : (fpsWall(e2eInt8) as number) >= 20 },
          peakBelow2GB: [e2e, e2eInt8].every((e) => e && typeof e.peakRssSampledWithFfmpegMB === 'number')
            ? [e2e, e2eInt8].every((e) => (e?.peakRssSampledWithFfmpegMB as number) < 2048)
            : null,
        },
        note: 'shared machine: absolute frames/s fall with the load average; the ONNX Runtime / PyTorch ratios are per round, both measured back to back',
      }),
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
