/**
 * `node dist/bench/clusters.js`: minutes and peak memory of the cluster analysis at paper scale:
 * the `paper` preset's neural data (50,000 neurons x 10,800 samples at 3 Hz, 2.2 GB of HDF5)
 * streamed through the PCA (128 PCs), scaled k-means into 100 clusters with its sign-flip null
 * (coherent clusters) and the similarity-axis order, and one pass scoring one model (ridge from the planted features) per cluster and per
 * neuron with the sorted raster; then the tables. The activity is never in memory whole.
 *
 * The neural data are simulated first, in a child process (so that this process's peak memory is
 * the analysis's alone), unless BENCH_NEURAL names an existing file in the simulator's layout.
 * Progress goes to stderr; the last stdout line is one JSON object, with the CPU time (cpu_min) and
 * the 1-minute load average at start and end, since this machine is shared.
 * Env: BENCH_NEURAL (an existing neural.h5), BENCH_PRESET (default 'paper'), BENCH_OUT (keep the
 * simulated file and the tables there; default a temp folder, deleted after), BENCH_CLUSTERS
 * (default 100).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { matrix } from '../src/engine/linalg';
import { withH5 } from '../src/io/hdf5';
import { facemapSplit } from '../src/neural/align';
import { runLinearBaseline } from '../src/neural/baselines';
import { analyzeClusters, bootstrapCorrelation, pcPrediction } from '../src/neural/cluster-analysis';
import { writeClusterTables } from '../src/neural/cluster-tables';
import { adjustedRandIndex, NeuronClusters } from '../src/neural/clusters';
import { neuralPCA } from '../src/neural/pca';
import { readRecording } from '../src/neural/recording';
import { simulateBehavior } from '../src/synth/behavior';
import { NEURAL_PRESETS, NeuralPresetName, simulateNeural } from '../src/synth/neural';
import { Rng } from '../src/util/random';
import { vmHwmBytes } from './memory';

function log(msg: string): void {
  process.stderr.write(`[bench:clusters] ${msg}\n`);
}

/** Child mode: `clusters.js --simulate FILE PRESET` writes the preset's neural data to FILE. */
async function simulate(file: string, presetName: NeuralPresetName): Promise<void> {
  const preset = NEURAL_PRESETS[presetName];
  const latents = simulateBehavior({ fps: preset.cameraFps, nFrames: Math.round(preset.behaviorSeconds * preset.cameraFps) }, new Rng(1));
  const t0 = performance.now();
  let last = 0;
  await simulateNeural(latents, presetName, file, 1, {
    onProgress: ({ done, total }) => {
      const now = performance.now();
      if (now - last > 10000 || done === total) {
        last = now;
        log(`simulating: ${done} / ${total} neurons, ${((now - t0) / 1000).toFixed(0)} s`);
      }
    },
  });
}

async function main(): Promise<void> {
  const presetName = (process.env.BENCH_PRESET ?? 'paper') as NeuralPresetName;
  if (!NEURAL_PRESETS[presetName]) throw new Error(`unknown BENCH_PRESET ${presetName}`);
  const nClusters = Number(process.env.BENCH_CLUSTERS ?? 100);
  const dir = process.env.BENCH_OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fm-bench-clusters-'));
  fs.mkdirSync(dir, { recursive: true });
  let file = process.env.BENCH_NEURAL;
  let simulateS: number | null = null;
  if (!file) {
    file = path.join(dir, `neural_${presetName}.h5`);
    if (!fs.existsSync(file)) {
      const t = performance.now();
      const r = spawnSync(process.execPath, [__filename, '--simulate', file, presetName], { stdio: ['ignore', 'ignore', 'inherit'] });
      if (r.status !== 0) throw new Error(`simulation failed (exit ${r.status})`);
      simulateS = (performance.now() - t) / 1000;
    }
  }
  let rssPeak = process.memoryUsage().rss;
  const timer = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 200);
  const loadStart = os.loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rec = await readRecording(file, { checkFinite: false });
  const split = facemapSplit(rec.nTime);
  const lap = (t: number) => (performance.now() - t) / 1000;
  log(`${rec.nNeurons} neurons x ${rec.nTime} samples from ${file}`);

  let t = performance.now();
  let read = 0;
  let passes = 0;
  const pca = await neuralPCA(
    {
      ...rec.activity,
      readRows(i0, i1) {
        read += i1 - i0;
        if (Math.floor(read / rec.nNeurons) > passes) {
          passes = Math.floor(read / rec.nNeurons);
          log(`PCA: ${passes} passes over the file, ${lap(t).toFixed(0)} s`);
        }
        return rec.activity.readRows(i0, i1);
      },
    },
    { nPC: 128, seed: 0 },
  );
  const pcaS = lap(t);
  log(`PCA (128 PCs, ${(read / rec.nNeurons).toFixed(0)} passes) ${pcaS.toFixed(1)} s`);

  t = performance.now();
  const cl = new NeuronClusters({ nClusters, seed: 0 });
  await cl.fit(rec.activity, { pca });
  const fitS = lap(t);
  log(`k-means (${cl.nIter} iterations, converged ${cl.converged}), its sign-flip null and order ${fitS.toFixed(1)} s`);

  const truth = await withH5(file, (r) => ({
    F: r.read('/truth/features'),
    cluster: Int32Array.from(r.read('/truth/cluster').data as Int32Array),
  }));
  t = performance.now();
  const ridge = runLinearBaseline(matrix(truth.F.shape[0], truth.F.shape[1], Float32Array.from(truth.F.data as Float32Array)), pca, split, {
    model: 'ridge',
    input: 'true features',
  });
  const ridgeS = lap(t);
  t = performance.now();
  const analysis = analyzeClusters(rec.activity, cl.labels, {
    nClusters,
    timeIdx: split.test,
    predictions: [pcPrediction('ridge true features', ridge.Yhat, pca.U)],
    stats: pca.stats,
    positions: rec.positions,
    isort: cl.isort,
  });
  const analysisS = lap(t);
  log(`per-cluster and per-neuron VE, spread, raster: ${analysisS.toFixed(1)} s`);
  t = performance.now();
  const corr = bootstrapCorrelation(analysis.spread!, analysis.clusterVe['ridge true features'], { nBoot: 10000 });
  // Over the coherent clusters (coherence above the sign-flip null's 0.95 quantile): no truth used.
  const coherent = cl.coherent;
  const corrCoherent = bootstrapCorrelation(
    Float32Array.from(analysis.spread!, (v, c) => (coherent[c] ? v : NaN)),
    analysis.clusterVe['ridge true features'],
    { nBoot: 10000 },
  );
  await writeClusterTables(path.join(dir, 'tables'), {
    analysis,
    labels: cl.labels,
    coherence: cl.coherence,
    coherent,
    clusterGroup: cl.clusterGroup,
    embedding: cl.embedding,
    isort: cl.isort,
    correlations: { 'ridge true features': corr },
    correlationsCoherent: { 'ridge true features': corrCoherent },
  });
  const tablesS = lap(t);
  // Clusters made mostly of planted members (the simulator's background neurons, weakly driven
  // and spread uniformly, form clusters of their own that go against the planted relation).
  const bg = new Float64Array(nClusters);
  cl.labels.forEach((l, i) => (bg[l] += truth.cluster[i] < 0 ? 1 : 0));
  const planted = [...Array(nClusters).keys()].filter((c) => bg[c] < analysis.sizes[c] / 2);
  const corrPlanted = bootstrapCorrelation(
    planted.map((c) => analysis.spread![c]),
    planted.map((c) => analysis.clusterVe['ridge true features'][c]),
    { nBoot: 10000 },
  );
  const coherence = cl.coherence;
  const meanOf = (idx: number[]) => idx.reduce((s, c) => s + coherence[c], 0) / Math.max(1, idx.length);
  const background = [...Array(nClusters).keys()].filter((c) => !planted.includes(c));
  const totalS = lap(t0);
  const cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  rec.activity.close();
  const hwm = vmHwmBytes();
  if (!process.env.BENCH_OUT) fs.rmSync(dir, { recursive: true, force: true });
  const result = {
    bench: 'clusters',
    preset: process.env.BENCH_NEURAL ? null : presetName,
    n_neurons: rec.nNeurons,
    n_timepoints: rec.nTime,
    n_clusters: nClusters,
    n_pc: 128,
    simulate_s: simulateS === null ? null : +simulateS.toFixed(1),
    pca_s: +pcaS.toFixed(1),
    kmeans_order_s: +fitS.toFixed(1),
    kmeans_iterations: cl.nIter,
    converged: cl.converged,
    ridge_s: +ridgeS.toFixed(1),
    analysis_s: +analysisS.toFixed(1),
    tables_s: +tablesS.toFixed(1),
    clustering_min: +(totalS / 60).toFixed(2),
    clustering_without_pca_min: +((totalS - pcaS) / 60).toFixed(2),
    // CPU time of this process (all threads): the wall time it would need at most on an idle core.
    cpu_min: +((cpu.user + cpu.system) / 6e7).toFixed(2),
    vm_hwm_mb: hwm === null ? null : +(hwm / 2 ** 20).toFixed(0),
    rss_peak_sampled_mb: +(rssPeak / 2 ** 20).toFixed(0),
    ari_planted_members: +adjustedRandIndex(truth.cluster, cl.labels, (a) => a < 0).toFixed(4),
    merge_threshold: +cl.mergeThreshold.toFixed(4),
    n_groups: cl.nGroups,
    ari_planted_members_groups: +adjustedRandIndex(truth.cluster, cl.groups, (a) => a < 0).toFixed(4),
    coherence_threshold: +cl.coherenceThreshold.toFixed(3),
    n_coherent: coherent.reduce((a, b) => a + b, 0),
    spread_ve_r_coherent: +corrCoherent.r.toFixed(3),
    spread_ve_ci95_coherent: [+corrCoherent.lo.toFixed(3), +corrCoherent.hi.toFixed(3)],
    spread_ve_r: +corr.r.toFixed(3),
    spread_ve_ci95: [+corr.lo.toFixed(3), +corr.hi.toFixed(3)],
    n_planted_majority_clusters: planted.length,
    spread_ve_r_planted_majority: +corrPlanted.r.toFixed(3),
    spread_ve_ci95_planted_majority: [+corrPlanted.lo.toFixed(3), +corrPlanted.hi.toFixed(3)],
    coherence_planted_majority: +meanOf(planted).toFixed(3),
    coherence_background: +meanOf(background).toFixed(3),
    cpus: os.cpus().length,
    load_avg_1m: [+loadStart.toFixed(1), +os.loadavg()[0].toFixed(1)],
    node: process.version,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[2] === '--simulate') {
  simulate(process.argv[3], process.argv[4] as NeuralPresetName).catch((e) => {
    log(`simulation failed: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    log(`failed: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  });
}
