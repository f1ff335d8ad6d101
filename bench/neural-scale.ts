/**
 * `npm run bench:neural-scale`: the `paper` simulated session (50,000 neurons x 10,800 samples at
 * 3 Hz, 1 h of behaviour at 50 Hz = 180,000 camera frames) through the whole encoding analysis of
 * `facemap-ts encode` (src/neural/analysis.ts): read and check, neural PCs (streaming from HDF5),
 * explainable variance (peer prediction), the keypoint encoder (Facemap's recipe, 300 epochs),
 * the linear baselines from the keypoints, and the tables (CSV + HDF5 + saved encoder). Reports
 * minutes per step, total minutes, and peak memory (VmHWM of this process). Targets: <= 20 min,
 * <= 8 GB.
 *
 * Inputs are generated once into a cache folder and reused (not timed): the session's latents and
 * neural data by `simulateSession({ preset: 'paper', video: false })`, and the true keypoints of
 * the face rendered from those latents (64 x 64 renderer, keypoint positions only; the H.264
 * video, ~20 min to encode at 256 x 256, is not needed), written as a Facemap pose file. Without
 * the video there is no motion SVD, so the SVD baselines are not part of this run.
 *
 * STEPS below is the list of timed steps; the cluster analysis (clusterStep: scaled k-means of the
 * neurons on the encoder's PCs into 100 clusters, its null, the similarity-axis order, one pass
 * scoring every model per cluster, spread, bootstrap correlations, tables) is the last of them.
 *
 * Env: BENCH_CACHE (default $TMPDIR/facemap-ts-bench-cache), BENCH_EPOCHS (default 300),
 * BENCH_OUT (result folder, default <cache>/paper-encode-out). Progress on stderr; the last stdout
 * line is one JSON object.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../src/engine/backend';
import { withH5 } from '../src/io/hdf5';
import { adjustedRandIndex, clusterStep, ENCODE_STEPS, finiteMean, runEncode, type EncodeStep } from '../src/neural';
import { writePoseH5 } from '../src/pose/labels/facemap-h5';
import { FACEMAP_KEYPOINTS } from '../src/pose/labels/types';
import { FaceRenderer, faceStateAt } from '../src/synth/face';
import { readLatentsH5 } from '../src/synth/pose-h5';
import { readSessionManifest, simulateSession } from '../src/synth/session';
import { vmHwmBytes } from './memory';

/**
 * The timed steps, in order: the encoding analysis, then the cluster analysis on its PCs (100
 * clusters, per-cluster VE of every model, spread, bootstrap correlations, tables under
 * <out>/clusters).
 */
const STEPS: EncodeStep[] = [...ENCODE_STEPS, clusterStep()];

function log(msg: string): void {
  process.stderr.write(`[bench:neural-scale] ${msg}\n`);
}

async function paperSession(cache: string): Promise<{ dir: string; keypoints: string; fps: number }> {
  const dir = path.join(cache, 'paper-session');
  const keypoints = path.join(cache, 'paper-keypoints', 'face_keypoints.h5');
  if (!fs.existsSync(path.join(dir, 'session.json'))) {
    fs.mkdirSync(cache, { recursive: true });
    log(`simulating the paper session (latents + neural data, no video) into ${dir} (once)`);
    let last = 0;
    await simulateSession({
      preset: 'paper',
      outDir: dir,
      force: true,
      video: false,
      onProgress: (stage, done, total) => {
        const now = performance.now();
        if (now - last > 15000 || done === total) {
          last = now;
          log(`  ${stage} ${done} / ${total}`);
        }
      },
    });
  }
  const m = readSessionManifest(dir);
  if (!fs.existsSync(keypoints)) {
    log(`rendering the true keypoints of ${m.nFrames} frames (once)`);
    const latents = await readLatentsH5(path.join(dir, m.files.latents));
    const renderer = new FaceRenderer({ width: 64, height: 64, noiseSd: 0 });
    const nK = FACEMAP_KEYPOINTS.length;
    const traces = { names: [...FACEMAP_KEYPOINTS], nFrames: latents.nFrames, x: new Float32Array(latents.nFrames * nK), y: new Float32Array(latents.nFrames * nK), likelihood: new Float32Array(latents.nFrames * nK) };
    const t0 = performance.now();
    for (let f = 0; f < latents.nFrames; f++) {
      const r = renderer.render(faceStateAt(latents, f), f, latents.fps);
      traces.x.set(r.x, f * nK);
      traces.y.set(r.y, f * nK);
      traces.likelihood.set(r.likelihood, f * nK);
      if (f % 30000 === 29999) log(`  ${f + 1} / ${latents.nFrames} frames (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    fs.mkdirSync(path.dirname(keypoints), { recursive: true });
    await writePoseH5(keypoints, traces);
  }
  return { dir, keypoints, fps: m.cameraFps };
}

async function main(): Promise<void> {
  const cache = process.env.BENCH_CACHE ?? path.join(os.tmpdir(), 'facemap-ts-bench-cache');
  const epochs = Number(process.env.BENCH_EPOCHS ?? 300);
  const out = process.env.BENCH_OUT ?? path.join(cache, 'paper-encode-out');
  const info = await initBackend();
  const s = await paperSession(cache);
  const hwmBefore = vmHwmBytes();
  log(`tfjs backend ${info.choice}; running ${STEPS.map((st) => st.name).join(', ')} (peak memory so far ${hwmBefore === null ? '?' : (hwmBefore / 2 ** 30).toFixed(2)} GB, inputs included)`);
  const minutes: Record<string, number> = {};
  let lastReport = 0;
  const t0 = performance.now();
  const ctx = await runEncode(
    {
      neural: path.join(s.dir, 'neural.h5'),
      keypoints: s.keypoints,
      cameraFps: s.fps,
      out,
      encoder: { epochs },
      onProgress: (what, done, total, unit) => {
        const now = performance.now();
        if (now - lastReport > 30000 || done === total) {
          lastReport = now;
          log(`  ${what}: ${done} / ${total} ${unit} (${((now - t0) / 60000).toFixed(1)} min)`);
        }
      },
      onNote: (m) => log(`note: ${m}`),
    },
    STEPS,
    (name, seconds) => {
      minutes[name] = +(seconds / 60).toFixed(2);
      const hwm = vmHwmBytes();
      log(`step ${name}: ${(seconds / 60).toFixed(2)} min (peak memory ${hwm === null ? '?' : (hwm / 2 ** 30).toFixed(2)} GB)`);
    },
  );
  const totalMin = (performance.now() - t0) / 60000;
  const hwm = vmHwmBytes();
  const rec = ctx.recording!;
  const cl = ctx.clusters;
  const planted = await withH5(path.join(s.dir, 'neural.h5'), (r) => (r.has('/truth/cluster') ? Int32Array.from(r.read('/truth/cluster').data as Int32Array) : null));
  const ci = (c: { r: number; lo: number; hi: number; n: number }) => ({ r: +c.r.toFixed(3), ci95: [+c.lo.toFixed(3), +c.hi.toFixed(3)], n: c.n });
  const clusters = cl
    ? {
        n_clusters: cl.clusters.nClusters,
        kmeans_iterations: cl.clusters.nIter,
        converged: cl.clusters.converged,
        coherence_threshold: +cl.clusters.coherenceThreshold.toFixed(3),
        n_coherent: cl.clusters.coherent.reduce((a, b) => a + b, 0),
        ari_planted_members: planted ? +adjustedRandIndex(planted, cl.clusters.labels, (a) => a < 0).toFixed(4) : null,
        merge_threshold: +cl.clusters.mergeThreshold.toFixed(4),
        n_groups: cl.clusters.nGroups,
        ari_planted_members_groups: planted ? +adjustedRandIndex(planted, cl.clusters.groups, (a) => a < 0).toFixed(4) : null,
        spread_ve: Object.fromEntries(cl.analysis.models.map((m) => [m, { all: ci(cl.correlations[m]), coherent: ci(cl.correlationsCoherent[m]) }])),
      }
    : null;
  const result = {
    bench: 'neural-scale',
    neurons: rec.nNeurons,
    neural_samples: rec.nTime,
    camera_frames: ctx.keypoints!.nFrames,
    keypoint_columns: ctx.keypoints!.nFeatures,
    epochs,
    steps_min: minutes,
    total_min: +totalMin.toFixed(2),
    peak_memory_gb: hwm === null ? null : +(hwm / 2 ** 30).toFixed(2),
    targets: { total_le_20_min: totalMin <= 20, peak_le_8_gb: hwm === null ? null : hwm <= 8 * 2 ** 30 },
    models: ctx.models.map((m) => ({ model: m.model, input: m.input, pc_ve: +m.pcVe.toFixed(4), mean_neuron_ve: m.meanNeuronVe === null ? null : +m.meanNeuronVe.toFixed(4), normalized_ve: m.normalizedVe === null ? null : +m.normalizedVe.toFixed(1) })),
    mean_explainable: ctx.peer ? +finiteMean(ctx.peer.explainable).toFixed(4) : null,
    clusters,
    encoder_sec_per_epoch: ctx.encoder?.training ? +ctx.encoder.training.secondsPerEpoch.toFixed(3) : null,
    backend: info.choice,
    cores: os.availableParallelism(),
    load_avg_1m: +os.loadavg()[0].toFixed(2),
    out,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench:neural-scale] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
