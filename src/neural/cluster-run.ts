/**
 * The cluster analysis end to end on one recording: clusters on the similarity axis, per-cluster
 * VE by each model on the test samples, spread, spread-versus-VE correlations with bootstrap
 * intervals, and the sorted raster. What `facemap-ts cluster` and notebooks call.
 */
import * as path from 'node:path';
import { Matrix } from '../engine/linalg';
import { ParamError, ShapeError } from '../errors';
import { Split } from '../synth/splits';
import type { EncodeContext, EncodeStep } from './analysis';
import { analyzeClusters, bootstrapCorrelation, ClusterAnalysis, CorrelationCI, ModelPrediction, pcPrediction } from './cluster-analysis';
import { writeClusterTables } from './cluster-tables';
import { ClusterConfig, NeuronClusters, pcScores } from './clusters';
import { NeuralPCA, NormStats } from './pca';
import { ActivitySource } from './source';

/** Passes of {@link neuralPCA} with its defaults over the source: normStats, then 2 (powerIters + 1) + 1. */
export const PCA_PASSES = 12;

/**
 * `src` reporting the neurons read so far against `passes` x nNeurons (held below the total
 * until the caller reports it done); close() leaves `src` open.
 */
export function withReadProgress(src: ActivitySource, passes: number, onProgress: (done: number, total: number) => void): ActivitySource {
  const total = passes * src.nNeurons;
  let read = 0;
  return {
    nNeurons: src.nNeurons,
    nTime: src.nTime,
    file: src.file,
    readRows(i0, i1) {
      read += i1 - i0;
      onProgress(Math.min(read, total - 1), total);
      return src.readRows(i0, i1);
    },
    close() {},
  };
}

export interface ClusterRecordingOptions {
  config?: Partial<ClusterConfig>;
  /** Test samples are scored (predictions are at split.test). */
  split: Split;
  predictions?: ModelPrediction[];
  /** PCs to cluster on (e.g. the encoder's targets); default computed streaming. */
  pca?: NeuralPCA;
  /** Or only loadings and singular values of PCs computed elsewhere (no time courses): clusters are fitted on U diag(S). */
  loadings?: { U: Matrix; S: Float32Array };
  /** Normalisation (default the PCA's, else computed). */
  stats?: NormStats;
  /** N x 2 (x, y) um. */
  positions?: Float32Array;
  binUm?: number;
  /** Bootstrap resamples (default 10,000), interval level (0.95), correlation method ('pearson'). */
  nBoot?: number;
  level?: number;
  method?: 'pearson' | 'spearman';
  rasterRows?: number;
  rasterCols?: number;
  /** Progress: 'pca' in neurons read (about 12 passes over the file), 'kmeans' in iterations (out of maxIter, then out of those run), 'analysis' in neurons. */
  onProgress?: (stage: 'pca' | 'kmeans' | 'analysis', done: number, total: number) => void;
}

/** Result of {@link clusterRecording}. */
export interface ClusterRecordingResult {
  clusters: NeuronClusters;
  analysis: ClusterAnalysis;
  /** Per model name: correlation of spread and cluster VE over all clusters (empty without positions). */
  correlations: Record<string, CorrelationCI>;
  /**
   * Per model name: the same over the coherent clusters only ({@link NeuronClusters.coherent}:
   * coherence above that of clusters cut from a population without clusters), bootstrap over
   * those clusters. The number to report for "strongly driven clusters are spread".
   */
  correlationsCoherent: Record<string, CorrelationCI>;
}

/**
 * Clusters the neurons of `src` and scores every model per cluster (module doc). Memory: that of
 * the streaming PCA (when computed) and of {@link analyzeClusters}.
 */
export async function clusterRecording(src: ActivitySource, opts: ClusterRecordingOptions): Promise<ClusterRecordingResult> {
  const clusters = new NeuronClusters(opts.config);
  const onIteration = (iter: number) => opts.onProgress?.('kmeans', iter, clusters.config.maxIter);
  if (opts.loadings && !opts.pca) {
    if (opts.loadings.U.rows !== src.nNeurons) throw new ShapeError(`loadings for ${opts.loadings.U.rows} neurons, ${src.file} has ${src.nNeurons}`);
    clusters.fitScores(pcScores(opts.loadings.U, opts.loadings.S), { onIteration });
  } else {
    const counted = withReadProgress(src, PCA_PASSES, (d, t) => opts.onProgress?.('pca', d, t));
    await clusters.fit(opts.pca ? src : counted, { pca: opts.pca, onIteration });
    if (!opts.pca) opts.onProgress?.('pca', PCA_PASSES * src.nNeurons, PCA_PASSES * src.nNeurons);
  }
  opts.onProgress?.('kmeans', clusters.nIter, clusters.nIter);
  const stats = opts.stats ?? clusters.pca?.stats;
  const analysis = analyzeClusters(src, clusters.labels, {
    nClusters: clusters.nClusters,
    timeIdx: opts.split.test,
    predictions: opts.predictions,
    stats,
    positions: opts.positions,
    binUm: opts.binUm,
    seed: clusters.config.seed,
    isort: clusters.isort,
    rasterRows: opts.rasterRows,
    rasterCols: opts.rasterCols,
    blockNeurons: clusters.config.blockNeurons,
    onProgress: (d, t) => opts.onProgress?.('analysis', d, t),
  });
  const correlations: Record<string, CorrelationCI> = {};
  const correlationsCoherent: Record<string, CorrelationCI> = {};
  if (analysis.spread) {
    const coherent = clusters.coherent;
    const spreadCoherent = Float32Array.from(analysis.spread, (v, c) => (coherent[c] ? v : NaN));
    const boot = { nBoot: opts.nBoot, level: opts.level, method: opts.method, seed: clusters.config.seed };
    for (const m of analysis.models) {
      correlations[m] = bootstrapCorrelation(analysis.spread, analysis.clusterVe[m], boot);
      correlationsCoherent[m] = bootstrapCorrelation(spreadCoherent, analysis.clusterVe[m], boot);
    }
  }
  return { clusters, analysis, correlations, correlationsCoherent };
}

/** Options of {@link clusterStep}. */
export interface ClusterStepOptions {
  /** Clustering settings (default 100 clusters, seed 0). */
  config?: Partial<ClusterConfig>;
  /** Bootstrap resamples of the correlation intervals (default 10,000). */
  nBoot?: number;
  binUm?: number;
  /** Subfolder of the encode output for clusters.csv / clusters.h5 (default 'clusters'). */
  subdir?: string;
}

/**
 * A step of the encoding analysis ({@link runEncode}) that clusters the neurons on the PCs the
 * encoder was fitted to (no new PCA), scores every model of the run that predicts PCs or neurons
 * per cluster, and writes the cluster tables into `<out>/<subdir>` (when the run has an output
 * folder). Put it after the models (e.g. `[...ENCODE_STEPS, clusterStep()]`); the result is in
 * `ctx.clusters`.
 */
export function clusterStep(opts: ClusterStepOptions = {}): EncodeStep {
  return {
    name: 'clusters',
    async run(ctx: EncodeContext) {
      const { recording: rec, pca, split } = ctx;
      if (!rec || !pca || !split) throw new ParamError('steps', 'clusters', "the 'read' and 'pca' steps to run first");
      const N = rec.nNeurons;
      const k = pca.U.cols;
      const predictions: ModelPrediction[] = [];
      for (const r of ctx.results) {
        const Y = r.Yhat;
        if (!Y) continue;
        const name = r.model === 'keypoint network' ? r.model : `${r.model} ${r.input}`;
        if (Y.cols === k) predictions.push(pcPrediction(name, Y, pca.U));
        else if (Y.cols === N) {
          // n_test x N predicted neurons: blocks of rows of its transpose.
          const n = Y.rows;
          predictions.push({
            name,
            neurons(i0, i1) {
              const out = new Float32Array((i1 - i0) * n);
              for (let i = i0; i < i1; i++) for (let t = 0; t < n; t++) out[(i - i0) * n + t] = Y.data[t * N + i];
              return out;
            },
          });
        }
      }
      const report = ctx.options.onProgress;
      const res = await clusterRecording(rec.activity, {
        config: { seed: ctx.options.seed ?? 0, ...opts.config },
        split,
        pca,
        predictions,
        stats: pca.stats,
        positions: rec.positions,
        binUm: opts.binUm,
        nBoot: opts.nBoot,
        onProgress: (stage, done, total) => report?.(`clusters (${stage})`, done, total, stage === 'analysis' ? 'neurons' : 'iterations'),
      });
      ctx.clusters = res;
      const out = ctx.options.out;
      if (out) {
        const c = res.clusters;
        ctx.files.push(
          ...(await writeClusterTables(path.join(out, opts.subdir ?? 'clusters'), {
            analysis: res.analysis,
            labels: c.labels,
            coherence: c.coherence,
            coherent: c.coherent,
            clusterGroup: c.clusterGroup,
            embedding: c.embedding,
            isort: c.isort,
            correlations: res.correlations,
            correlationsCoherent: res.correlationsCoherent,
            attrs: { seed: c.config.seed, source: rec.file, n_pc: k },
          })),
        );
      }
    },
  };
}
