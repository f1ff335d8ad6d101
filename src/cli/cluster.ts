/** `facemap-ts cluster`: neuron clusters, their variance explained by each model and their spatial spread. */
import * as path from 'node:path';
import { matrix } from '../engine/linalg';
import { FormatError, ParamError } from '../errors';
import { withH5 } from '../io/hdf5';
import { behaviorFeatures, runLinearBaseline } from '../neural/baselines';
import { ModelPrediction, pcPrediction } from '../neural/cluster-analysis';
import { writeClusterTables } from '../neural/cluster-tables';
import { clusterRecording, PCA_PASSES, withReadProgress } from '../neural/cluster-run';
import { adjustedRandIndex } from '../neural/clusters';
import { EncodingFolder, readEncodingFolder } from '../neural/encoding-io';
import { finiteMean } from '../neural/metrics';
import { neuralPCA, NeuralPCA } from '../neural/pca';
import { readKeypointMatrix, readRecording } from '../neural/recording';
import { clusterMapFigure, sortedRasterFigure, spreadVeFigure, varianceMapFigure } from '../plot/clusters';
import { figureHtml, plotlyScriptTag, type Figure } from '../plot/notebook';
import { facemapSplit } from '../synth/splits';
import { writeFileAtomicSync } from '../util/fsx';
import { progressBar, type ProgressBar } from '../util/progress';
import type { Command } from './command';
import { parseOptions } from './command';

function num(flag: string, v: string | undefined, dflt: number, ok: (x: number) => boolean, expected: string): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!ok(x)) throw new ParamError(flag, v, expected);
  return x;
}

const isPosInt = (x: number) => Number.isInteger(x) && x >= 1;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'cluster neurons on a similarity axis; variance explained and spatial spread per cluster',
  help: [
    'Usage: facemap-ts cluster --neural FILE [--encoding DIR] [--keypoints FILE --camera-fps F] [--truth]',
    '                          [--clusters N] [--pcs N] [--bin-um UM] [--boot N] [--seed N] [--out DIR]',
    '',
    'Clusters the neurons of FILE (any recording readRecording reads: .npy, .h5, .nwb, suite2p folder)',
    'by scaled k-means on their normalised PCs, orders clusters and neurons along a similarity axis,',
    'and scores, per cluster, the variance explained (VE) of its mean activity on the test samples by',
    'each model, its spatial spread (KL divergence of its positions against all neurons\'; lower = more',
    'spread) and the correlation of spread and VE with a bootstrap interval over clusters.',
    '',
    'Models come from:',
    '  --encoding DIR     an output folder of `facemap-ts encode`: DIR/split.json (test samples) and',
    '                     DIR/predictions.h5 with /predictions/<model> (predicted PCs, time x k, at the',
    '                     test samples or at every sample; or predicted neurons, time x N) and /pca/U',
    '                     (N x k loadings; with /pca/S the clusters reuse these PCs, no new PCA), optional',
    '                     /pca/mean and /pca/scale (the normalisation). See src/neural/encoding-io.ts.',
    '  --keypoints FILE   a Facemap pose .h5: fits ridge regression from the keypoints (paw excluded,',
    '                     smoothed, at neural times) to the PCs on the train samples ("ridge keypoints");',
    '                     needs --camera-fps (pose files carry no frame rate)',
    '  --truth            simulated sessions: also ridge from the planted features (/truth/features),',
    '                     and the adjusted Rand index of the clusters against the planted ones',
    'Without any model, clusters and spread are still computed.',
    '',
    '  --clusters N       number of clusters (default 100)',
    '  --pcs N            PCs of the normalised activity to cluster on (default 128)',
    '  --bin-um UM        bin of the spread histograms, um (default 200)',
    '  --boot N           bootstrap resamples for the correlation interval (default 10000)',
    '  --seed N           seed of k-means++, the PCA and the bootstrap (default 0)',
    '  --fps F            neural sampling rate, Hz, when FILE has no timestamps',
    '  --out DIR          output folder (default <FILE folder>/clusters)',
    '',
    'Coherent clusters: coherence (mean cosine of members with their centroid) above the 0.95 quantile',
    'of the clusters k-means cuts from a sign-flip null (neurons with the signs of their PC coordinates',
    'flipped at random: activity without groups). The spread-VE correlation is reported over the',
    'coherent clusters (the relation between functional groups) and over all clusters.',
    'Groups: with more clusters than functional groups (the paper\'s 100), k-means cuts a group into',
    'pieces; coherent clusters are merged while they are less distinct than (nearly) all neighbouring',
    'pieces of the null (merge cost below its 0.05 quantile). Clusters keep their ids; the `group`',
    'column and /neurons/group give the merged groups.',
    '',
    'Writes DIR/clusters.csv (one row per cluster: cluster, size, coherence (mean cosine of members with',
    'the centroid), coherent (0/1), group, ve_<model>..., spread_kl, spread_chance_kl (random sets of the same',
    'size), x_um, y_um),',
    'DIR/clusters.h5 (the table, neuron labels and axis positions, per-neuron VE, correlations, cluster',
    'means, the sorted raster; layout in src/neural/cluster-tables.ts), DIR/summary.json and',
    'DIR/figures.html (cluster map, VE map, spread versus VE, sorted raster beside the prediction).',
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(argv, {
      neural: { type: 'string' },
      encoding: { type: 'string' },
      keypoints: { type: 'string' },
      'camera-fps': { type: 'string' },
      truth: { type: 'boolean' },
      clusters: { type: 'string' },
      pcs: { type: 'string' },
      'bin-um': { type: 'string' },
      boot: { type: 'string' },
      seed: { type: 'string' },
      fps: { type: 'string' },
      out: { type: 'string' },
    });
    if (!values.neural) throw new ParamError('--neural', undefined, 'a neural recording file or suite2p folder');
    const nClusters = num('--clusters', values.clusters, 100, isPosInt, 'an integer >= 1');
    const nPC = num('--pcs', values.pcs, 128, isPosInt, 'an integer >= 1');
    const binUm = num('--bin-um', values['bin-um'], 200, (x) => x > 0, 'a number > 0 (um)');
    const nBoot = num('--boot', values.boot, 10000, isPosInt, 'an integer >= 1');
    const seed = num('--seed', values.seed, 0, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
    const fps = values.fps === undefined ? undefined : num('--fps', values.fps, 0, (x) => x > 0, 'a number > 0 (Hz)');
    if (values.keypoints && values['camera-fps'] === undefined) throw new ParamError('--camera-fps', undefined, 'the camera frame rate (Hz) of --keypoints');
    const cameraFps = num('--camera-fps', values['camera-fps'], 0, (x) => x > 0, 'a number > 0 (Hz)');
    const out = values.out ?? path.join(path.dirname(path.resolve(values.neural)), 'clusters');

    const rec = await readRecording(values.neural, { fps });
    let enc: EncodingFolder | null = null;
    try {
      if (!rec.positions) process.stderr.write(`note: ${rec.file} has no neuron positions: no spatial spread or maps\n`);
      enc = values.encoding ? await readEncodingFolder(values.encoding, rec.nNeurons, rec.nTime) : null;
      const split = enc?.split ?? facemapSplit(rec.nTime);
      const predictions: ModelPrediction[] = [...(enc?.predictions ?? [])];
      const bars: Partial<Record<string, ProgressBar>> = {};
      const progress = (stage: string, unit: string) => (done: number, total: number) => {
        const bar = (bars[stage] ??= progressBar(stage.padEnd(8), unit));
        bar.update(done, total);
        if (done >= total) bar.done();
      };
      // A PCA of our own when the models need targets (keypoints, truth) or the folder gives no PCs to cluster on.
      let pca: NeuralPCA | undefined;
      const needPca = !!values.keypoints || !!values.truth || !(enc?.U && enc.S);
      if (needPca) {
        const pcaBar = progress('PCA', 'neurons read');
        pca = await neuralPCA(withReadProgress(rec.activity, PCA_PASSES, pcaBar), { nPC: Math.min(nPC, rec.nNeurons, rec.nTime), seed });
        pcaBar(PCA_PASSES * rec.nNeurons, PCA_PASSES * rec.nNeurons);
      }
      if (values.keypoints) {
        if (!rec.timestamps) throw new ParamError('--fps', undefined, `the neural sampling rate: ${rec.file} has no timestamps`);
        const beh = await readKeypointMatrix(values.keypoints, { exclude: ['paw'] });
        beh.fps = cameraFps;
        const X = behaviorFeatures(beh, rec.timestamps);
        const r = runLinearBaseline(X, pca as NeuralPCA, split, { model: 'ridge', input: 'keypoints' });
        predictions.push(pcPrediction('ridge keypoints', r.Yhat, (pca as NeuralPCA).U));
      }
      let planted: Int32Array | null = null;
      if (values.truth) {
        const truth = await withH5(rec.file, (r) => {
          if (!r.has('/truth/features')) throw new FormatError(rec.file, 'no /truth/features (--truth needs a simulated session)');
          const f = r.read('/truth/features');
          return { F: matrix(f.shape[0], f.shape[1], Float32Array.from(f.data as ArrayLike<number>)), cluster: r.has('/truth/cluster') ? Int32Array.from(r.read('/truth/cluster').data as ArrayLike<number>) : null };
        });
        const r = runLinearBaseline(truth.F, pca as NeuralPCA, split, { model: 'ridge', input: 'true features' });
        predictions.push(pcPrediction('ridge true features', r.Yhat, (pca as NeuralPCA).U));
        planted = truth.cluster;
      }
      const clusterOnEncoding = !!(enc?.U && enc.S) && !pca;
      const res = await clusterRecording(rec.activity, {
        config: { nClusters, nPC, seed },
        split,
        predictions,
        pca,
        loadings: clusterOnEncoding && enc?.U && enc.S ? { U: enc.U, S: enc.S } : undefined,
        stats: enc?.stats ?? pca?.stats,
        positions: rec.positions,
        binUm,
        nBoot,
        onProgress: (stage, done, total) => {
          if (stage === 'kmeans') progress('k-means', 'iterations')(done, total);
          if (stage === 'analysis') progress('clusters', 'neurons')(done, total);
        },
      });
      const { clusters, analysis, correlations, correlationsCoherent } = res;
      const coherent = clusters.coherent;
      const nCoherent = coherent.reduce((a, b) => a + b, 0);
      const ari = planted ? adjustedRandIndex(planted, clusters.labels, (a) => a < 0) : null;
      const ariGroups = planted ? adjustedRandIndex(planted, clusters.groups, (a) => a < 0) : null;
      const files = await writeClusterTables(out, {
        analysis,
        labels: clusters.labels,
        coherence: clusters.coherence,
        coherent,
        clusterGroup: clusters.clusterGroup,
        embedding: clusters.embedding,
        isort: clusters.isort,
        correlations,
        correlationsCoherent,
        attrs: { seed, source: rec.file, n_pc: nPC, coherence_threshold: clusters.coherenceThreshold, merge_threshold: clusters.mergeThreshold, n_groups: clusters.nGroups },
      });
      const summary = {
        neural: rec.file,
        encoding: values.encoding ?? null,
        nNeurons: rec.nNeurons,
        nTime: rec.nTime,
        nClusters,
        nTest: split.test.length,
        splitFromFile: enc?.splitFromFile ?? false,
        clusteredOn: clusterOnEncoding ? 'encoding PCs (/pca/U, /pca/S)' : `top ${pca?.U.cols} PCs of the normalised activity`,
        kmeansIterations: clusters.nIter,
        converged: clusters.converged,
        coherenceThreshold: clusters.coherenceThreshold,
        nCoherent,
        mergeThreshold: clusters.mergeThreshold,
        nGroups: clusters.nGroups,
        binUm,
        seed,
        models: analysis.models.map((m) => ({
          name: m,
          meanClusterVe: finiteMean(analysis.clusterVe[m]),
          meanNeuronVe: finiteMean(analysis.neuronVe[m]),
          spreadVsVe: correlations[m] ?? null,
          spreadVsVeCoherent: correlationsCoherent[m] ?? null,
        })),
        adjustedRandIndexPlantedMembers: ari,
        adjustedRandIndexGroupsPlantedMembers: ariGroups,
      };
      const summaryFile = path.join(out, 'summary.json');
      writeFileAtomicSync(summaryFile, `${JSON.stringify(summary, null, 2)}\n`);
      const htmlFile = path.join(out, 'figures.html');
      writeFileAtomicSync(htmlFile, figuresPage(res, rec.positions, rec.file));
      files.push(summaryFile, htmlFile);

      process.stdout.write(`${nClusters} clusters of ${rec.nNeurons} neurons (${clusters.nIter} k-means iterations${clusters.converged ? '' : ', not converged'}); ${split.test.length} test samples\n`);
      process.stdout.write(`${nCoherent} coherent clusters (coherence > ${clusters.coherenceThreshold.toFixed(3)}, the sign-flip null's ${clusters.config.nullQuantile} quantile)\n`);
      process.stdout.write(`${clusters.nGroups} groups after merging coherent clusters that are less distinct than the null's pieces (merge cost < ${clusters.mergeThreshold.toFixed(3)})\n`);
      if (ari !== null) process.stdout.write(`adjusted Rand index against the planted clusters (planted members only): clusters ${ari.toFixed(3)}, groups ${ariGroups!.toFixed(3)}\n`);
      if (analysis.models.length) {
        const w = Math.max(5, ...analysis.models.map((m) => m.length));
        process.stdout.write(`${'model'.padEnd(w)}  mean cluster VE  mean neuron VE  spread-VE r [95% CI]: coherent clusters  all clusters\n`);
        const fmt = (c: { r: number; lo: number; hi: number } | null) => (c ? `${c.r.toFixed(2)} [${c.lo.toFixed(2)}, ${c.hi.toFixed(2)}]` : '-');
        for (const m of summary.models) {
          process.stdout.write(
            `${m.name.padEnd(w)}  ${m.meanClusterVe.toFixed(3).padStart(15)}  ${m.meanNeuronVe.toFixed(3).padStart(14)}  ` +
              `${fmt(m.spreadVsVeCoherent).padStart(39)}  ${fmt(m.spreadVsVe)}\n`,
          );
        }
      } else process.stdout.write('no model given (--encoding, --keypoints or --truth): clusters and spread only\n');
      process.stdout.write(`wrote ${files.join(', ')}\n`);
    } finally {
      enc?.close();
      rec.activity.close();
    }
  },
};

/** A standalone HTML page of the cluster figures (plotly inlined once). */
function figuresPage(res: Awaited<ReturnType<typeof clusterRecording>>, positions: Float32Array | undefined, file: string): string {
  const { clusters, analysis, correlationsCoherent } = res;
  const coherent = clusters.coherent;
  const figs: Figure[] = [];
  const first = analysis.models[0];
  if (positions) {
    figs.push(clusterMapFigure(positions, clusters.labels));
    if (first) figs.push(varianceMapFigure(positions, analysis.neuronVe[first], { title: `Variance explained per neuron (${first}, test samples)` }));
    for (const m of analysis.models) {
      if (analysis.spread) figs.push(spreadVeFigure(analysis.clusterVe[m], analysis.spread, analysis.sizes, { model: m, correlation: correlationsCoherent[m], coherent }));
    }
  }
  const r = analysis.raster;
  if (r) {
    figs.push(sortedRasterFigure(r.activity, first ? r.predicted[first] : null, r.rows, r.cols, { title: 'Neurons sorted on the similarity axis (test samples)', model: first }));
  }
  return [
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>facemap-ts clusters</title></head>',
    '<body style="font-family:sans-serif;max-width:1100px;margin:auto">',
    `<h1>Neuron clusters</h1><p>${escapeHtml(file)}: ${analysis.nNeurons} neurons, ${analysis.nClusters} clusters, ${analysis.timeIdx.length} test samples.</p>`,
    plotlyScriptTag(),
    ...figs.map((f) => figureHtml(f, { height: 520 })),
    '</body></html>',
  ].join('\n');
}
