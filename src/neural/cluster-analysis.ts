/**
 * Per-cluster numbers of the paper's Fig. 4: variance explained of each cluster's mean activity by
 * each model (test samples only), the cluster's spatial spread, their correlation with a bootstrap
 * confidence interval over clusters, and a raster of activity sorted along the similarity axis
 * next to each model's prediction.
 *
 * Any model plugs in through {@link ModelPrediction}: predicted PC time courses with their
 * loadings (the encoder's and the linear baselines' output), or a function returning predicted
 * normalised activity for a block of neurons. Everything here is on the normalised activity
 * (each neuron mean-subtracted and divided by its RMS, {@link normStats}), like the PCs.
 */
import { matmul, Matrix, matrix } from '../engine/linalg';
import { ParamError, ShapeError } from '../errors';
import { Rng } from '../util/random';
import { NormStats, normStats, readNormalizedRows } from './pca';
import { ActivitySource, defaultBlockNeurons } from './source';

/** A model's predicted PC time courses: activity of neuron i at sample t ≈ loadings[i] . pcs[t]. */
export interface PcPrediction {
  name: string;
  /** n x k predicted PCs, one row per scored sample (the `timeIdx` of {@link analyzeClusters}). */
  pcs: Matrix;
  /** N x k loadings (U of the PCA the model was fitted to). */
  loadings: Matrix;
}

/** A model's predicted normalised activity, read per block of neurons. */
export interface NeuronPrediction {
  name: string;
  /** Predictions for neurons i0..i1-1: (i1 - i0) x n, row-major, columns the scored samples. */
  neurons(i0: number, i1: number): Float32Array;
}

export type ModelPrediction = PcPrediction | NeuronPrediction;

/** A neurons x samples raster binned along the similarity axis (rows) and in time (columns). */
export interface SortedRaster {
  rows: number;
  cols: number;
  /** rows x cols mean normalised activity; row 0 holds the first neurons of `isort`. */
  activity: Float32Array;
  /** Per model, rows x cols mean predicted activity of the same neurons and samples. */
  predicted: Record<string, Float32Array>;
  /** rows + 1 bounds into the sorted neuron order: row r holds isort[rowBounds[r] .. rowBounds[r+1]-1]. */
  rowBounds: Int32Array;
  /** cols + 1 bounds into `timeIdx`: column c averages samples timeIdx[colBounds[c] .. colBounds[c+1]-1]. */
  colBounds: Int32Array;
  /** rows: cluster of the middle neuron of each row (-1 when it has none). */
  rowCluster: Int32Array;
}

export interface ClusterAnalysisOptions {
  /** Number of clusters (default the largest label + 1); labels < 0 are in no cluster. */
  nClusters?: number;
  /** Samples scored, ascending (the split's test samples). */
  timeIdx: ArrayLike<number>;
  predictions?: ModelPrediction[];
  /** Normalisation (default computed, one more pass over the source). */
  stats?: NormStats;
  /** N x 2 (x, y) um: spread and centroid per cluster when given. */
  positions?: Float32Array;
  /** Bin of the spread histograms, um (default 200). */
  binUm?: number;
  /** Seed of the random sets of {@link chanceSpread} (default 0). */
  seed?: number;
  /** Neuron order of the raster (e.g. NeuronClusters.isort); no raster without it. */
  isort?: Int32Array;
  /** Raster size (default 300 rows, 800 columns, a size plotly draws quickly; capped at neurons and samples). */
  rasterRows?: number;
  rasterCols?: number;
  blockNeurons?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Result of {@link analyzeClusters}. */
export interface ClusterAnalysis {
  nClusters: number;
  nNeurons: number;
  /** C neurons per cluster. */
  sizes: Int32Array;
  timeIdx: Int32Array;
  models: string[];
  /** C x n mean normalised activity of each cluster at the scored samples (zeros for an empty cluster). */
  meanActivity: Matrix;
  /** Per model, C x n predicted cluster means. */
  predictedMean: Record<string, Matrix>;
  /** Per model, C variance explained of the cluster mean (1 - MSE / variance over the samples; NaN when empty or constant). */
  clusterVe: Record<string, Float32Array>;
  /** Per model, N variance explained of each neuron over the samples. */
  neuronVe: Record<string, Float32Array>;
  /** C spatial spread (KL divergence, nats; lower = more spread), NaN for an empty cluster; null without positions. */
  spread: Float32Array | null;
  /** C spread of random sets of the same sizes ({@link chanceSpread}, 20 draws); null without positions. */
  spreadChance: Float32Array | null;
  /** C x 2 mean position of each cluster, um; null without positions. */
  centroidUm: Float32Array | null;
  binUm: number;
  raster: SortedRaster | null;
}

/** A {@link PcPrediction}. */
export function pcPrediction(name: string, pcs: Matrix, loadings: Matrix): PcPrediction {
  if (pcs.cols !== loadings.cols) throw new ShapeError(`model '${name}': ${pcs.cols} predicted PCs, loadings have ${loadings.cols}`);
  return { name, pcs, loadings };
}

function isPc(p: ModelPrediction): p is PcPrediction {
  return (p as PcPrediction).pcs !== undefined;
}

/** Even bounds of n items in m parts: m + 1 integers from 0 to n. */
function evenBounds(n: number, m: number): Int32Array {
  return Int32Array.from({ length: m + 1 }, (_, r) => Math.floor((r * n) / m));
}

/** 1 - mean((y - yhat)^2) / var(y) of two length-n rows (float64 sums); NaN when y is constant. */
function rowVe(y: ArrayLike<number>, yo: number, p: ArrayLike<number>, po: number, n: number): number {
  let m = 0;
  for (let t = 0; t < n; t++) m += y[yo + t];
  m /= n;
  let sse = 0;
  let sst = 0;
  for (let t = 0; t < n; t++) {
    sse += (y[yo + t] - p[po + t]) ** 2;
    sst += (y[yo + t] - m) ** 2;
  }
  return sst > 1e-12 * n ? 1 - sse / sst : NaN;
}

/** Each neuron's square bin (dense ids over the occupied bins) and the share of all neurons in each. */
interface SpatialBins {
  bin: Int32Array;
  /** Fraction of all N neurons in each occupied bin. */
  q: Float64Array;
}

/** Bins of `binUm` squares laid from the smallest x and y of all neurons. */
function spatialBins(positions: ArrayLike<number>, binUm: number): SpatialBins {
  if (!(binUm > 0)) throw new ParamError('binUm', binUm, 'a number > 0 (um)');
  const N = positions.length / 2;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  for (let i = 0; i < N; i++) {
    x0 = Math.min(x0, positions[2 * i]);
    y0 = Math.min(y0, positions[2 * i + 1]);
    x1 = Math.max(x1, positions[2 * i]);
  }
  const nx = Math.floor((x1 - x0) / binUm) + 1;
  const ids = new Map<number, number>();
  const bin = new Int32Array(N);
  const counts: number[] = [];
  for (let i = 0; i < N; i++) {
    const b = Math.floor((positions[2 * i] - x0) / binUm) + nx * Math.floor((positions[2 * i + 1] - y0) / binUm);
    let id = ids.get(b);
    if (id === undefined) {
      id = counts.length;
      ids.set(b, id);
      counts.push(0);
    }
    counts[id]++;
    bin[i] = id;
  }
  return { bin, q: Float64Array.from(counts, (c) => c / N) };
}

/** KL divergence of the histogram `count` (of `n` neurons, nonzero entries listed in `used`) against q. */
function klOf(count: Float64Array, used: number[], n: number, q: Float64Array): number {
  let kl = 0;
  for (const b of used) {
    const p = count[b] / n;
    kl += p * Math.log(p / q[b]);
  }
  return kl;
}

/**
 * Spatial spread of every cluster, as the paper: the discrete KL divergence (nats) of the
 * histogram of the cluster's (x, y) positions against that of all N neurons (background
 * included), in square bins of `binUm` laid from the smallest x and y of all neurons. 0 = spread
 * like the whole population; larger = more compact. Same numbers as `spatialSpreadKL` of the
 * simulator for each cluster, in one pass.
 * @param positions N x 2 (x, y) um. @param labels N ids in 0..C-1 (< 0: in no cluster).
 * @returns spread (C, NaN for an empty cluster) and centroid (C x 2, um).
 */
export function clusterSpread(positions: ArrayLike<number>, labels: ArrayLike<number>, nClusters: number, binUm = 200): { spread: Float32Array; centroid: Float32Array } {
  const N = labels.length;
  if (positions.length !== 2 * N) throw new ShapeError(`positions hold ${positions.length / 2} neurons, labels ${N}`);
  const { bin, q } = spatialBins(positions, binUm);
  const members: number[][] = Array.from({ length: nClusters }, () => []);
  for (let i = 0; i < N; i++) {
    const c = labels[i];
    if (c < 0) continue;
    if (c >= nClusters || !Number.isInteger(c)) throw new ParamError('labels', c, `cluster ids in 0..${nClusters - 1} (or < 0 for none)`);
    members[c].push(i);
  }
  const spread = new Float32Array(nClusters);
  const centroid = new Float32Array(2 * nClusters);
  const count = new Float64Array(q.length);
  members.forEach((m, c) => {
    if (!m.length) {
      spread[c] = centroid[2 * c] = centroid[2 * c + 1] = NaN;
      return;
    }
    const used: number[] = [];
    let sx = 0;
    let sy = 0;
    for (const i of m) {
      if (count[bin[i]]++ === 0) used.push(bin[i]);
      sx += positions[2 * i];
      sy += positions[2 * i + 1];
    }
    spread[c] = klOf(count, used, m.length, q);
    for (const b of used) count[b] = 0;
    centroid[2 * c] = sx / m.length;
    centroid[2 * c + 1] = sy / m.length;
  });
  return { spread, centroid };
}

/**
 * Expected spread of a cluster of each size by chance: the mean KL divergence ({@link clusterSpread})
 * of `draws` random sets of that many neurons drawn without replacement from all N (seeded). The
 * discrete KL of n neurons has a floor of about (B - 1) / (2 n) over B occupied bins from sampling
 * alone, so small clusters look compact; compare a cluster's spread with this.
 * @param sizes C cluster sizes. @returns C values (NaN for size 0).
 */
export function chanceSpread(positions: ArrayLike<number>, sizes: ArrayLike<number>, binUm = 200, opts: { draws?: number; seed?: number } = {}): Float32Array {
  const N = positions.length / 2;
  const draws = opts.draws ?? 20;
  if (!Number.isInteger(draws) || draws < 1) throw new ParamError('draws', draws, 'an integer >= 1');
  const { bin, q } = spatialBins(positions, binUm);
  const rng = new Rng(opts.seed ?? 0);
  const perm = Int32Array.from({ length: N }, (_, i) => i);
  const count = new Float64Array(q.length);
  const out = new Float32Array(sizes.length);
  for (let c = 0; c < sizes.length; c++) {
    const n = sizes[c];
    if (!(n > 0)) {
      out[c] = NaN;
      continue;
    }
    if (n > N) throw new ParamError('sizes', n, `cluster sizes <= ${N} (the number of neurons)`);
    let s = 0;
    for (let d = 0; d < draws; d++) {
      const used: number[] = [];
      for (let k = 0; k < n; k++) {
        const j = k + rng.int(N - k);
        [perm[k], perm[j]] = [perm[j], perm[k]];
        if (count[bin[perm[k]]]++ === 0) used.push(bin[perm[k]]);
      }
      s += klOf(count, used, n, q);
      for (const b of used) count[b] = 0;
    }
    out[c] = s / draws;
  }
  return out;
}

/**
 * Streams the activity once (blocks of neurons in file order) and computes, for the samples
 * `timeIdx`: each cluster's mean activity and its VE by each model, each neuron's VE by each
 * model, and (with `isort`) the sorted raster of activity and predictions; plus the spread and
 * centroid of each cluster from `positions`.
 * Memory: one block of neurons x T, C x n and rows x n float64 sums per model (n = timeIdx.length).
 * @param labels N cluster ids (e.g. NeuronClusters.labels, or planted ids; < 0: in no cluster).
 */
export function analyzeClusters(src: ActivitySource, labels: Int32Array, opts: ClusterAnalysisOptions): ClusterAnalysis {
  const { nNeurons: N, nTime: T } = src;
  if (labels.length !== N) throw new ShapeError(`${labels.length} labels for ${N} neurons of ${src.file}`);
  let maxLabel = -1;
  for (const l of labels) maxLabel = Math.max(maxLabel, l);
  const C = opts.nClusters ?? maxLabel + 1;
  if (!Number.isInteger(C) || C < 1 || maxLabel >= C) throw new ParamError('nClusters', opts.nClusters, `an integer > the largest label (${maxLabel})`);
  const timeIdx = Int32Array.from(opts.timeIdx);
  const n = timeIdx.length;
  if (n < 2) throw new ShapeError(`timeIdx holds ${n} samples; expected at least 2`);
  for (let k = 0; k < n; k++) {
    if (!(timeIdx[k] >= 0 && timeIdx[k] < T) || (k > 0 && timeIdx[k] <= timeIdx[k - 1])) throw new ParamError('timeIdx', timeIdx[k], `ascending sample indices in 0..${T - 1}`);
  }
  const preds = opts.predictions ?? [];
  const names = preds.map((p) => p.name);
  if (new Set(names).size !== names.length) throw new ParamError('predictions', names, 'distinct model names');
  for (const p of preds) {
    if (isPc(p)) {
      if (p.pcs.rows !== n) throw new ShapeError(`model '${p.name}': ${p.pcs.rows} predicted samples, ${n} scored samples (timeIdx)`);
      if (p.loadings.rows !== N) throw new ShapeError(`model '${p.name}': loadings for ${p.loadings.rows} neurons, ${src.file} has ${N}`);
      if (p.pcs.cols !== p.loadings.cols) throw new ShapeError(`model '${p.name}': ${p.pcs.cols} predicted PCs, loadings have ${p.loadings.cols}`);
    }
  }
  const b = opts.blockNeurons ?? defaultBlockNeurons(T);
  const stats = opts.stats ?? normStats(src, b);
  if (stats.mean.length !== N) throw new ShapeError(`stats are for ${stats.mean.length} neurons, ${src.file} has ${N}`);

  const sizes = new Int32Array(C);
  for (const l of labels) if (l >= 0) sizes[l]++;
  const clusterSum = new Float64Array(C * n);
  const predSum = preds.map(() => new Float64Array(C * n));
  const neuronVe = preds.map(() => new Float32Array(N));

  let rows = 0;
  let rowOf: Int32Array | null = null;
  let rowBounds: Int32Array = new Int32Array(0);
  let rasterSum: Float64Array | null = null;
  let rasterPred: Float64Array[] = [];
  if (opts.isort) {
    if (opts.isort.length !== N) throw new ShapeError(`isort has ${opts.isort.length} neurons, ${src.file} ${N}`);
    rows = Math.min(N, opts.rasterRows ?? 300);
    if (!Number.isInteger(rows) || rows < 1) throw new ParamError('rasterRows', opts.rasterRows, 'an integer >= 1');
    rowBounds = evenBounds(N, rows);
    rowOf = new Int32Array(N).fill(-1);
    let r = 0;
    for (let rank = 0; rank < N; rank++) {
      while (rank >= rowBounds[r + 1]) r++;
      const i = opts.isort[rank];
      if (!(i >= 0 && i < N) || rowOf[i] >= 0) throw new ParamError('isort', i, `a permutation of 0..${N - 1}`);
      rowOf[i] = r;
    }
    rasterSum = new Float64Array(rows * n);
    rasterPred = preds.map(() => new Float64Array(rows * n));
  }

  const act = new Float32Array(b * n);
  for (let i0 = 0; i0 < N; i0 += b) {
    const i1 = Math.min(N, i0 + b);
    const w = i1 - i0;
    const full = readNormalizedRows(src, stats, i0, i1);
    for (let i = 0; i < w; i++) for (let k = 0; k < n; k++) act[i * n + k] = full[i * T + timeIdx[k]];
    for (let i = 0; i < w; i++) {
      const c = labels[i0 + i];
      if (c >= 0) for (let k = 0; k < n; k++) clusterSum[c * n + k] += act[i * n + k];
      if (rowOf) {
        const r = rowOf[i0 + i];
        for (let k = 0; k < n; k++) (rasterSum as Float64Array)[r * n + k] += act[i * n + k];
      }
    }
    preds.forEach((p, m) => {
      let pred: Float32Array;
      if (isPc(p)) {
        const kk = p.loadings.cols;
        pred = matmul(matrix(w, kk, p.loadings.data.subarray(i0 * kk, i1 * kk)), p.pcs, { transposeB: true }).data;
      } else {
        pred = p.neurons(i0, i1);
        if (pred.length !== w * n) throw new ShapeError(`model '${p.name}' returned ${pred.length} values for neurons ${i0}..${i1 - 1}; expected ${w} x ${n}`);
      }
      for (let i = 0; i < w; i++) {
        neuronVe[m][i0 + i] = rowVe(act, i * n, pred, i * n, n);
        const c = labels[i0 + i];
        if (c >= 0) for (let k = 0; k < n; k++) predSum[m][c * n + k] += pred[i * n + k];
        if (rowOf) {
          const r = rowOf[i0 + i];
          for (let k = 0; k < n; k++) rasterPred[m][r * n + k] += pred[i * n + k];
        }
      }
    });
    opts.onProgress?.(i1, N);
  }

  const meanActivity = matrix(C, n);
  for (let c = 0; c < C; c++) for (let k = 0; k < n; k++) meanActivity.data[c * n + k] = sizes[c] ? clusterSum[c * n + k] / sizes[c] : 0;
  const predictedMean: Record<string, Matrix> = {};
  const clusterVe: Record<string, Float32Array> = {};
  const neuronVeOut: Record<string, Float32Array> = {};
  preds.forEach((p, m) => {
    const pm = matrix(C, n);
    const ve = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      for (let k = 0; k < n; k++) pm.data[c * n + k] = sizes[c] ? predSum[m][c * n + k] / sizes[c] : 0;
      ve[c] = sizes[c] ? rowVe(meanActivity.data, c * n, pm.data, c * n, n) : NaN;
    }
    predictedMean[p.name] = pm;
    clusterVe[p.name] = ve;
    neuronVeOut[p.name] = neuronVe[m];
  });

  let raster: SortedRaster | null = null;
  if (rowOf && rasterSum) {
    const cols = Math.min(n, opts.rasterCols ?? 800);
    if (!Number.isInteger(cols) || cols < 1) throw new ParamError('rasterCols', opts.rasterCols, 'an integer >= 1');
    const colBounds = evenBounds(n, cols);
    const bin = (sum: Float64Array) => {
      const out = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        const cnt = rowBounds[r + 1] - rowBounds[r];
        for (let c = 0; c < cols; c++) {
          let s = 0;
          for (let k = colBounds[c]; k < colBounds[c + 1]; k++) s += sum[r * n + k];
          out[r * cols + c] = s / (cnt * (colBounds[c + 1] - colBounds[c]));
        }
      }
      return out;
    };
    const predicted: Record<string, Float32Array> = {};
    preds.forEach((p, m) => (predicted[p.name] = bin(rasterPred[m])));
    const isort = opts.isort as Int32Array;
    const rowCluster = Int32Array.from({ length: rows }, (_, r) => labels[isort[(rowBounds[r] + rowBounds[r + 1]) >> 1]] ?? -1);
    raster = { rows, cols, activity: bin(rasterSum), predicted, rowBounds, colBounds, rowCluster };
  }

  const binUm = opts.binUm ?? 200;
  let spread: Float32Array | null = null;
  let centroidUm: Float32Array | null = null;
  let spreadChance: Float32Array | null = null;
  if (opts.positions) {
    const s = clusterSpread(opts.positions, labels, C, binUm);
    spread = s.spread;
    centroidUm = s.centroid;
    spreadChance = chanceSpread(opts.positions, sizes, binUm, { seed: opts.seed });
  }
  return { nClusters: C, nNeurons: N, sizes, timeIdx, models: names, meanActivity, predictedMean, clusterVe, neuronVe: neuronVeOut, spread, spreadChance, centroidUm, binUm, raster };
}

/** A correlation with its bootstrap confidence interval. */
export interface CorrelationCI {
  method: 'pearson' | 'spearman';
  /** Correlation of the finite pairs. */
  r: number;
  /** Percentile bootstrap interval at `level`. */
  lo: number;
  hi: number;
  level: number;
  /** Pairs used (both values finite). */
  n: number;
  /** Bootstrap resamples with a defined correlation. */
  nBoot: number;
  seed: number;
}

function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) [mx, my] = [mx + x[i], my + y[i]];
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Ranks from 1, ties given their average rank. */
export function ranks(x: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const r = new Float64Array(x.length);
  for (let s = 0; s < idx.length; ) {
    let e = s;
    while (e + 1 < idx.length && x[idx[e + 1]] === x[idx[s]]) e++;
    for (let k = s; k <= e; k++) r[idx[k]] = (s + e) / 2 + 1;
    s = e + 1;
  }
  return r;
}

/** Pearson or Spearman correlation of x and y (same length; non-finite pairs dropped). */
export function correlation(x: ArrayLike<number>, y: ArrayLike<number>, method: 'pearson' | 'spearman' = 'pearson'): number {
  const [a, b] = finitePairs(x, y);
  if (a.length < 3) return NaN;
  return method === 'spearman' ? pearson(ranks(a), ranks(b)) : pearson(a, b);
}

function finitePairs(x: ArrayLike<number>, y: ArrayLike<number>): [Float64Array, Float64Array] {
  if (x.length !== y.length) throw new ShapeError(`correlation of ${x.length} and ${y.length} values`);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i]) && Number.isFinite(y[i])) {
      a.push(x[i]);
      b.push(y[i]);
    }
  }
  return [Float64Array.from(a), Float64Array.from(b)];
}

/** The q-quantile (0..1) of sorted values, linear interpolation (numpy's default). */
function quantileSorted(s: Float64Array, q: number): number {
  if (!s.length) return NaN;
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

/**
 * Correlation of x and y (e.g. spread and VE of each cluster) with a percentile bootstrap
 * interval: `nBoot` resamples of the pairs with replacement (seeded); resamples whose
 * correlation is undefined (a constant side) are skipped.
 */
export function bootstrapCorrelation(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  opts: { nBoot?: number; level?: number; seed?: number; method?: 'pearson' | 'spearman' } = {},
): CorrelationCI {
  const nBoot = opts.nBoot ?? 10000;
  const level = opts.level ?? 0.95;
  const seed = opts.seed ?? 0;
  const method = opts.method ?? 'pearson';
  if (!Number.isInteger(nBoot) || nBoot < 1) throw new ParamError('nBoot', nBoot, 'an integer >= 1');
  if (!(level > 0 && level < 1)) throw new ParamError('level', level, 'a number in (0, 1)');
  if (method !== 'pearson' && method !== 'spearman') throw new ParamError('method', method, "'pearson' | 'spearman'");
  const [a, b] = finitePairs(x, y);
  const n = a.length;
  const r = correlation(a, b, method);
  if (n < 3) return { method, r: NaN, lo: NaN, hi: NaN, level, n, nBoot: 0, seed };
  const rng = new Rng(seed);
  const ra = new Float64Array(n);
  const rb = new Float64Array(n);
  const boots: number[] = [];
  for (let k = 0; k < nBoot; k++) {
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      ra[i] = a[j];
      rb[i] = b[j];
    }
    const v = method === 'spearman' ? pearson(ranks(ra), ranks(rb)) : pearson(ra, rb);
    if (Number.isFinite(v)) boots.push(v);
  }
  const s = Float64Array.from(boots).sort();
  return { method, r, lo: quantileSorted(s, (1 - level) / 2), hi: quantileSorted(s, 1 - (1 - level) / 2), level, n, nBoot: boots.length, seed };
}
