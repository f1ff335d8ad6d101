/**
 * Clusters of neurons by their activity, ordered along a one-dimensional similarity axis for
 * raster plots (in the spirit of Rastermap, not a port of it).
 *
 * 1. Features: each neuron's row of the top PCs of the normalised activity, U_i diag(S) (its
 *    projection on the PC time courses), scaled to unit length ("normalised PCs"), so that the
 *    dot product of two neurons' features is the cosine of their activity in the PC subspace.
 * 2. Scaled k-means (Rastermap's variant): a neuron i is modelled as c_i mu_k with a free scale
 *    c_i; it joins the centroid mu_k (unit length) of largest cosine x_i . mu_k, and each
 *    centroid becomes the normalised sum of its members weighted by their scales
 *    max(0, x_i . mu_k) (the least-squares centroid for fixed scales). Initialisation by greedy
 *    k-means++ on the cosine distance 1 - x . mu, seeded. Empty clusters are re-seeded at the
 *    worst-fitted neurons.
 * 3. Cluster order: the similarity of clusters is the cosine of their centroids (C x C). The
 *    starting order sorts the leading eigenvector of the double-centred similarity (the first PC of
 *    the centroids); a travelling-salesman local search (2-opt segment reversals and moves of
 *    segments of up to 3 clusters, first improvement, until none improves) then maximises the
 *    summed similarity of neighbouring clusters along the path. Cluster ids are renumbered along
 *    this axis: cluster 0 is at one end, cluster C - 1 at the other.
 * 4. Neuron order: within cluster p, neurons are sorted by x . mu_{p+1} - x . mu_{p-1} (those most
 *    like the previous cluster first; a missing neighbour counts 0), so that rasters run smoothly
 *    across cluster borders; the neuron's position on the axis is
 *    p - 0.5 + (rank + 0.5) / size, in [-0.5, C - 0.5).
 * 5. Coherent clusters: a cluster's coherence is the mean cosine of its members with its
 *    centroid. k-means cuts every population into C pieces, also neurons that form no group (a
 *    continuum of unrelated activity); such pieces have a spread and a VE, but they are not
 *    functional groups. The sign-flip null ({@link nullCoherence}: a subset of neurons with the
 *    signs of their PC coordinates flipped at random, clustered the same way) gives the coherence
 *    of pieces cut from activity without groups; a cluster is `coherent` when its coherence
 *    exceeds the null clusters' `nullQuantile` quantile (default 0.95). One more k-means run on
 *    `nullNeurons` (default 20,000) neurons.
 * 6. Groups: k-means with more clusters than there are functional groups (the paper's 100) cuts a
 *    group into pieces. Coherent clusters are merged, greedily (cheapest first, costs recomputed
 *    for the merged group), while the cheapest merge costs less than the merges between nearest
 *    neighbours in the sign-flip null. The cost of merging a and b is the relative increase of
 *    the cosine loss sum_i (1 - x_i . mu): with s the sum of a cluster's unit features and n its
 *    size, (|s_a| + |s_b| - |s_a + s_b|) / (n_a - |s_a| + n_b - |s_b|). Each null cluster's
 *    cheapest merge with another null cluster gives the null distribution; the threshold is its
 *    `mergeQuantile` quantile (default 0.05): two pieces are merged when they are less distinct
 *    than (nearly) all neighbouring pieces k-means cuts out of activity without groups.
 *    Incoherent clusters are never merged (a merge with a large incoherent cluster looks cheap
 *    relative to its loss, and would chain distinct groups through it). Clusters keep their ids;
 *    `groups` labels neurons by group, groups numbered by their first cluster on the axis.
 *    On the simulated `demo` neurons (20 planted clusters, 100 k-means clusters) this takes the
 *    adjusted Rand index from 0.85 (clusters) to 0.99 (groups).
 *
 * Memory: the PCA streams the activity (see {@link neuralPCA}); clustering holds N x k features
 * and an N x C similarity (float32): ~45 MB for N = 50,000, k = 128, C = 100.
 */
import { matmul, Matrix, matrix } from '../engine/linalg';
import { symmetricEigen } from '../engine/dense';
import { NotFittedError, ParamError, ShapeError } from '../errors';
import { Rng } from '../util/random';
import { neuralPCA, NeuralPCA, normStats, readNormalizedRows } from './pca';
import { ActivitySource, defaultBlockNeurons } from './source';

/** Configuration of {@link NeuronClusters}; every field has a default. */
export interface ClusterConfig {
  /** Number of clusters (default 100, as in the paper), >= 1 and <= the number of neurons. */
  nClusters: number;
  /** PCs of the normalised activity used as features when fit computes them (default 128). */
  nPC: number;
  /** Most k-means iterations (default 200; it stops earlier when at most `tol` x N neurons change cluster). */
  maxIter: number;
  /**
   * Fraction of neurons allowed to change cluster in the last iteration (default 1e-3). At paper
   * scale (50,000 neurons, 100 clusters) the count of neurons changing falls slowly through the
   * last iterations (50 after ~55 iterations, 0 after 124, on the simulated `paper` session).
   */
  tol: number;
  /** Candidates tried per k-means++ centre (default 0 = auto, 2 + floor(ln nClusters)). */
  localTrials: number;
  /** Seed of k-means++ (and of the PCA's random test matrix), integer (default 0). */
  seed: number;
  /** Neurons per block when streaming activity (default ~16 MB of float32 a block). */
  blockNeurons?: number;
  /**
   * Neurons drawn for the sign-flip null that sets the coherence threshold
   * ({@link nullCoherence}; default 20,000, capped at the number of neurons; 0 = no null, every
   * cluster counts as coherent).
   */
  nullNeurons: number;
  /** Quantile of the null clusters' coherence a cluster must exceed to count as coherent (default 0.95, in (0, 1]). */
  nullQuantile: number;
  /**
   * Quantile of the null's nearest-neighbour merge costs below which coherent clusters are merged
   * into groups (module doc, step 6; default 0.05, in [0, 1); 0 = no merging, every cluster is
   * its own group, as without a null).
   */
  mergeQuantile: number;
}

export const DEFAULT_CLUSTER_CONFIG: Readonly<ClusterConfig> = Object.freeze({ nClusters: 100, nPC: 128, maxIter: 200, tol: 1e-3, localTrials: 0, seed: 0, nullNeurons: 20000, nullQuantile: 0.95, mergeQuantile: 0.05 });

/** Full validated configuration; ParamError naming the first bad field. */
export function resolveClusterConfig(partial: Partial<ClusterConfig> = {}): ClusterConfig {
  const c: ClusterConfig = { ...DEFAULT_CLUSTER_CONFIG, ...partial };
  const int = (f: keyof ClusterConfig, min: number) => {
    const v = c[f];
    if (!Number.isInteger(v) || (v as number) < min) throw new ParamError(f, v, `an integer >= ${min}`);
  };
  int('nClusters', 1);
  int('nPC', 1);
  int('maxIter', 1);
  int('localTrials', 0);
  if (!(c.tol >= 0 && c.tol < 1)) throw new ParamError('tol', c.tol, 'a number in [0, 1)');
  if (!Number.isInteger(c.seed)) throw new ParamError('seed', c.seed, 'an integer');
  if (c.blockNeurons !== undefined) int('blockNeurons', 1);
  int('nullNeurons', 0);
  if (!(c.nullQuantile > 0 && c.nullQuantile <= 1)) throw new ParamError('nullQuantile', c.nullQuantile, 'a number in (0, 1]');
  if (!(c.mergeQuantile >= 0 && c.mergeQuantile < 1)) throw new ParamError('mergeQuantile', c.mergeQuantile, 'a number in [0, 1)');
  return c;
}

/** Cluster and axis position of neurons, from {@link NeuronClusters.predict}. */
export interface ClusterAssignment {
  /** nNeurons cluster ids (0..C-1, numbered along the similarity axis). */
  labels: Int32Array;
  /** nNeurons positions on the similarity axis, in [-0.5, C - 0.5). */
  embedding: Float32Array;
  /** nNeurons cosine of each neuron's features with its cluster's centroid. */
  fit: Float32Array;
  /** nNeurons group ids (the group of each neuron's cluster, module doc step 6). */
  groups: Int32Array;
}

interface Fitted {
  /** C x k unit centroids, row c = cluster c (axis order). */
  centroids: Matrix;
  similarity: Matrix;
  labels: Int32Array;
  embedding: Float32Array;
  isort: Int32Array;
  sizes: Int32Array;
  fit: Float32Array;
  nIter: number;
  converged: boolean;
  /** Sorted coherence of the null clusters (empty without a null). */
  nullCoherence: Float32Array;
  /** Sorted nearest-neighbour merge costs of the null clusters (empty without a null). */
  nullMergeCost: Float32Array;
  /** C group id of each cluster. */
  clusterGroup: Int32Array;
  /** T x k time basis mapping normalised activity to features (null when fitted from scores). */
  basis: Matrix | null;
  pca: NeuralPCA | null;
}

/** Rows of X scaled to unit length (zero rows stay zero). */
export function normalizeRows(X: Matrix): Matrix {
  const out = new Float32Array(X.data.length);
  for (let i = 0; i < X.rows; i++) {
    const o = i * X.cols;
    let s = 0;
    for (let j = 0; j < X.cols; j++) s += X.data[o + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < X.cols; j++) out[o + j] = X.data[o + j] * inv;
  }
  return matrix(X.rows, X.cols, out);
}

/** Neurons' features from a PCA: rows of U diag(S), N x k, not yet normalised. */
export function pcScores(U: Matrix, S: ArrayLike<number>): Matrix {
  if (S.length !== U.cols) throw new ShapeError(`U has ${U.cols} PCs, S ${S.length}`);
  const out = new Float32Array(U.data.length);
  for (let i = 0; i < U.rows; i++) for (let j = 0; j < U.cols; j++) out[i * U.cols + j] = U.data[i * U.cols + j] * S[j];
  return matrix(U.rows, U.cols, out);
}

/** Argmax and max of each row of an N x C matrix. */
function rowArgmax(P: Matrix): { idx: Int32Array; val: Float32Array } {
  const idx = new Int32Array(P.rows);
  const val = new Float32Array(P.rows);
  for (let i = 0; i < P.rows; i++) {
    const o = i * P.cols;
    let b = 0;
    let v = P.data[o];
    for (let j = 1; j < P.cols; j++) if (P.data[o + j] > v) [b, v] = [j, P.data[o + j]];
    idx[i] = b;
    val[i] = v;
  }
  return { idx, val };
}

/** Index into `cum` (ascending cumulative weights) where a uniform draw in [0, cum[last]) lands. */
function sampleCumulative(cum: Float64Array, u: number): number {
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cum[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Greedy k-means++ on unit rows X with the cosine distance d = 1 - x . mu: each new centre is the
 * best (lowest summed distance) of `trials` neurons drawn with probability proportional to their
 * distance to the nearest centre so far. Returns C x k centres (copies of rows of X).
 */
function kmeansPlusPlus(X: Matrix, C: number, trials: number, rng: Rng): Matrix {
  const { rows: N, cols: k } = X;
  const centres = new Float32Array(C * k);
  const dist = new Float64Array(N).fill(Infinity);
  const update = (rowIdx: number[]) => {
    const cand = matrix(rowIdx.length, k);
    rowIdx.forEach((r, j) => cand.data.set(X.data.subarray(r * k, (r + 1) * k), j * k));
    return matmul(X, cand, { transposeB: true });
  };
  const first = rng.int(N);
  centres.set(X.data.subarray(first * k, (first + 1) * k), 0);
  const d0 = update([first]);
  for (let i = 0; i < N; i++) dist[i] = Math.max(0, 1 - d0.data[i]);
  const cum = new Float64Array(N);
  for (let c = 1; c < C; c++) {
    let s = 0;
    for (let i = 0; i < N; i++) cum[i] = s += dist[i];
    const cands: number[] = [];
    for (let t = 0; t < trials; t++) cands.push(s > 0 ? sampleCumulative(cum, rng.uniform() * s) : rng.int(N));
    const P = update(cands);
    let best = 0;
    let bestPot = Infinity;
    for (let j = 0; j < cands.length; j++) {
      let pot = 0;
      for (let i = 0; i < N; i++) pot += Math.min(dist[i], Math.max(0, 1 - P.data[i * cands.length + j]));
      if (pot < bestPot) [best, bestPot] = [j, pot];
    }
    const r = cands[best];
    centres.set(X.data.subarray(r * k, (r + 1) * k), c * k);
    for (let i = 0; i < N; i++) dist[i] = Math.min(dist[i], Math.max(0, 1 - P.data[i * cands.length + best]));
  }
  return matrix(C, k, centres);
}

/** Per-cluster mean of `fit` (the cosine with the centroid) over the members; NaN for an empty cluster. */
export function clusterCoherence(labels: Int32Array, fit: Float32Array, nClusters: number): Float32Array {
  const out = new Float32Array(nClusters);
  const n = new Int32Array(nClusters);
  for (let i = 0; i < labels.length; i++) {
    out[labels[i]] += fit[i];
    n[labels[i]]++;
  }
  for (let c = 0; c < nClusters; c++) out[c] = n[c] ? out[c] / n[c] : NaN;
  return out;
}

/** Options of {@link nullCoherence}. */
export interface NullCoherenceOptions {
  /** Neurons drawn for the null population (default min(N, 20,000), without replacement); coherence depends on the number of clusters, hardly on neurons per cluster. */
  nNeurons?: number;
  seed?: number;
  maxIter?: number;
  tol?: number;
  localTrials?: number;
}

/**
 * The coherence k-means finds in a population without clusters: a sign-flip null. Each neuron of
 * a random subset keeps the magnitude of its feature on every PC (how strongly it loads on each
 * PC: which activity patterns it takes part in, and the non-Gaussian spread of those profiles
 * over neurons), but the sign of each coordinate is flipped at random, independently per neuron
 * and PC. That destroys what makes a cluster, neurons pointing the same way in PC space, while
 * keeping everything else; the null population is then clustered like the data (scaled k-means,
 * same number of clusters). Returns the coherence (mean cosine of members with their centroid) of
 * each null cluster, sorted ascending (empty clusters left out). A fitted cluster more coherent
 * than (nearly) all of these is a group of neurons that share activity, not a piece that k-means
 * cut out of unstructured activity. (A Gaussian null with the population's PC spectrum, as in
 * SigClust, was tried first: on the simulated `paper` session its clusters were less coherent
 * than the clusters k-means cut from the simulator's unclustered neurons, so it called those
 * coherent; the sign-flip null keeps the neurons' own loading profiles and does not.)
 * @param X N x k features, unit rows ({@link normalizeRows} of the PC scores).
 */
export function nullCoherence(X: Matrix, nClusters: number, opts: NullCoherenceOptions = {}): Float32Array {
  return signFlipNull(X, nClusters, opts).coherence;
}

/** Coherence and nearest-neighbour merge costs of the sign-flip null's clusters, each sorted ascending. */
function signFlipNull(X: Matrix, nClusters: number, opts: NullCoherenceOptions): { coherence: Float32Array; mergeCost: Float32Array } {
  const { rows: N, cols: k } = X;
  const n = opts.nNeurons ?? Math.min(N, 20000);
  if (!Number.isInteger(n) || n < nClusters || n > N) throw new ParamError('nullNeurons', n, `an integer in [nClusters (${nClusters}), ${N} (the number of neurons)]`);
  const rng = new Rng((opts.seed ?? 0) ^ 0x5eed);
  const perm = Int32Array.from({ length: N }, (_, i) => i);
  const Z = matrix(n, k);
  for (let q = 0; q < n; q++) {
    const j = q + rng.int(N - q);
    [perm[q], perm[j]] = [perm[j], perm[q]];
    const o = perm[q] * k;
    for (let f = 0; f < k; f++) Z.data[q * k + f] = rng.uniform() < 0.5 ? -X.data[o + f] : X.data[o + f];
  }
  const km = scaledKMeans(Z, nClusters, { seed: opts.seed, maxIter: opts.maxIter, tol: opts.tol, localTrials: opts.localTrials });
  const coherence = clusterCoherence(km.labels, km.fit, nClusters)
    .filter((v) => Number.isFinite(v))
    .sort();
  const { sums, sizes, norms } = clusterSums(Z, km.labels, nClusters);
  const nn: number[] = [];
  for (let a = 0; a < nClusters; a++) {
    if (!sizes[a]) continue;
    let best = Infinity;
    for (let b = 0; b < nClusters; b++) if (b !== a && sizes[b]) best = Math.min(best, pairCost(sums, sizes, norms, k, a, b));
    if (Number.isFinite(best)) nn.push(best);
  }
  return { coherence, mergeCost: Float32Array.from(nn).sort() };
}

/** Per cluster: the sum of its members' rows of X (C x k, float64), its size and the norm of the sum. */
function clusterSums(X: Matrix, labels: ArrayLike<number>, C: number): { sums: Float64Array; sizes: Float64Array; norms: Float64Array } {
  const k = X.cols;
  const sums = new Float64Array(C * k);
  const sizes = new Float64Array(C);
  for (let i = 0; i < X.rows; i++) {
    const o = labels[i] * k;
    sizes[labels[i]]++;
    for (let j = 0; j < k; j++) sums[o + j] += X.data[i * k + j];
  }
  const norms = new Float64Array(C);
  for (let c = 0; c < C; c++) norms[c] = vecNorm(sums, c * k, k);
  return { sums, sizes, norms };
}

function vecNorm(v: Float64Array, o: number, k: number): number {
  let s = 0;
  for (let j = 0; j < k; j++) s += v[o + j] ** 2;
  return Math.sqrt(s);
}

/** {@link mergeCost} of clusters a and b from their sums (rows of `sums`), sizes and sum norms. */
function pairCost(sums: Float64Array, sizes: Float64Array, norms: Float64Array, k: number, a: number, b: number): number {
  let ab = 0;
  for (let j = 0; j < k; j++) ab += (sums[a * k + j] + sums[b * k + j]) ** 2;
  const loss = sizes[a] - norms[a] + sizes[b] - norms[b];
  const rise = norms[a] + norms[b] - Math.sqrt(ab);
  return loss > 0 ? rise / loss : rise > 0 ? Infinity : 0;
}

/**
 * Relative cost of merging two clusters of unit features (module doc, step 6): the rise of the
 * cosine loss sum_i (1 - x_i . mu) when a and b share one centroid, over their summed loss apart.
 * `sumA`, `sumB`: the sums of the members' unit feature rows; `nA`, `nB`: the cluster sizes.
 */
export function mergeCost(sumA: ArrayLike<number>, nA: number, sumB: ArrayLike<number>, nB: number): number {
  const k = sumA.length;
  if (sumB.length !== k) throw new ShapeError(`cluster sums have ${k} and ${sumB.length} features`);
  const sums = new Float64Array(2 * k);
  sums.set(sumA, 0);
  sums.set(sumB, k);
  return pairCost(sums, Float64Array.of(nA, nB), Float64Array.of(vecNorm(sums, 0, k), vecNorm(sums, k, k)), k, 0, 1);
}

/**
 * Groups of clusters (module doc, step 6): greedy agglomeration of the `eligible` clusters (C
 * flags; default all) of neurons with unit features X and cluster `labels`, cheapest
 * {@link mergeCost} first, while that cost is below `threshold`. Returns C group ids, numbered
 * 0..G-1 in the order of each group's first (lowest-numbered) cluster; empty clusters stay alone.
 */
export function mergeClusters(X: Matrix, labels: Int32Array, nClusters: number, opts: { threshold: number; eligible?: ArrayLike<number> }): Int32Array {
  const C = nClusters;
  const k = X.cols;
  if (labels.length !== X.rows) throw new ShapeError(`${labels.length} labels for ${X.rows} neurons`);
  if (opts.eligible && opts.eligible.length !== C) throw new ShapeError(`${opts.eligible.length} eligibility flags for ${C} clusters`);
  const { sums, sizes, norms } = clusterSums(X, labels, C);
  const alive = Uint8Array.from({ length: C }, (_, c) => (sizes[c] > 0 && (!opts.eligible || opts.eligible[c]) ? 1 : 0));
  const parent = Int32Array.from({ length: C }, (_, c) => c);
  const cost = new Float64Array(C * C).fill(Infinity);
  for (let a = 0; a < C; a++) if (alive[a]) for (let b = a + 1; b < C; b++) if (alive[b]) cost[a * C + b] = cost[b * C + a] = pairCost(sums, sizes, norms, k, a, b);
  for (;;) {
    let best = Infinity;
    let ba = -1;
    let bb = -1;
    for (let a = 0; a < C; a++) {
      if (!alive[a]) continue;
      for (let b = a + 1; b < C; b++) if (alive[b] && cost[a * C + b] < best) [best, ba, bb] = [cost[a * C + b], a, b];
    }
    if (!(best < opts.threshold)) break;
    for (let j = 0; j < k; j++) sums[ba * k + j] += sums[bb * k + j];
    sizes[ba] += sizes[bb];
    norms[ba] = vecNorm(sums, ba * k, k);
    alive[bb] = 0;
    parent[bb] = ba;
    for (let c = 0; c < C; c++) {
      cost[bb * C + c] = cost[c * C + bb] = Infinity;
      if (c !== ba && alive[c]) cost[ba * C + c] = cost[c * C + ba] = pairCost(sums, sizes, norms, k, ba, c);
    }
  }
  const root = (c: number) => {
    while (parent[c] !== c) c = parent[c];
    return c;
  };
  const id = new Int32Array(C).fill(-1);
  let g = 0;
  const out = new Int32Array(C);
  for (let c = 0; c < C; c++) {
    const r = root(c);
    if (id[r] < 0) id[r] = g++;
    out[c] = id[r];
  }
  return out;
}

/** Result of {@link scaledKMeans}. `converged`: at most tol x N neurons changed cluster in the last iteration. */
export interface ScaledKMeansResult {
  /** C x k unit centroids. */
  centroids: Matrix;
  /** N cluster ids. */
  labels: Int32Array;
  /** N cosine with the assigned centroid. */
  fit: Float32Array;
  nIter: number;
  converged: boolean;
}

/**
 * Scaled k-means (module doc) of the unit rows of X (N x k) into C clusters, k-means++ start;
 * maxIter and tol default to {@link DEFAULT_CLUSTER_CONFIG}'s. Deterministic for a seed.
 */
export function scaledKMeans(
  X: Matrix,
  C: number,
  opts: { maxIter?: number; tol?: number; localTrials?: number; seed?: number; onIteration?: (iter: number, changed: number) => void } = {},
): ScaledKMeansResult {
  const { rows: N, cols: k } = X;
  if (!Number.isInteger(C) || C < 1 || C > N) throw new ParamError('nClusters', C, `an integer in [1, ${N}] (the number of neurons)`);
  const maxIter = opts.maxIter ?? DEFAULT_CLUSTER_CONFIG.maxIter;
  const maxChanged = Math.floor((opts.tol ?? DEFAULT_CLUSTER_CONFIG.tol) * N);
  const trials = opts.localTrials || 2 + Math.floor(Math.log(C));
  const rng = new Rng(opts.seed ?? 0);
  const cent = kmeansPlusPlus(X, C, trials, rng);
  let labels: Int32Array = new Int32Array(N).fill(-1);
  let fit: Float32Array = new Float32Array(N);
  let nIter = 0;
  let converged = false;
  const acc = new Float64Array(C * k);
  while (nIter < maxIter) {
    nIter++;
    const am = rowArgmax(matmul(X, cent, { transposeB: true }));
    let changed = 0;
    for (let i = 0; i < N; i++) if (am.idx[i] !== labels[i]) changed++;
    opts.onIteration?.(nIter, changed);
    labels = am.idx;
    fit = am.val;
    if (changed <= maxChanged) {
      converged = true;
      break;
    }
    acc.fill(0);
    for (let i = 0; i < N; i++) {
      const w = Math.max(0, fit[i]);
      if (w === 0) continue;
      const o = labels[i] * k;
      for (let j = 0; j < k; j++) acc[o + j] += w * X.data[i * k + j];
    }
    let worst: number[] | null = null;
    let w = 0;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += acc[c * k + j] ** 2;
      if (s > 0) {
        const inv = 1 / Math.sqrt(s);
        for (let j = 0; j < k; j++) cent.data[c * k + j] = acc[c * k + j] * inv;
      } else {
        worst ??= Array.from({ length: N }, (_, i) => i).sort((a, b) => fit[a] - fit[b] || a - b);
        const r = worst[w++ % N];
        cent.data.set(X.data.subarray(r * k, (r + 1) * k), c * k);
      }
    }
  }
  if (!converged) {
    const am = rowArgmax(matmul(X, cent, { transposeB: true }));
    labels = am.idx;
    fit = am.val;
  }
  return { centroids: cent, labels, fit, nIter, converged };
}

/** Summed similarity of neighbours along a path `order` through a C x C similarity. */
export function pathSimilarity(sim: Matrix, order: ArrayLike<number>): number {
  let s = 0;
  for (let i = 1; i < order.length; i++) s += sim.data[order[i - 1] * sim.cols + order[i]];
  return s;
}

/**
 * An order of the C clusters along one axis from their similarity (C x C, symmetric): the sorted
 * leading eigenvector of the double-centred similarity, improved by 2-opt reversals and moves of
 * segments of 1-3 clusters (reversed or not) while the summed similarity of neighbours grows.
 */
export function orderBySimilarity(sim: Matrix): Int32Array {
  const C = sim.rows;
  if (sim.cols !== C) throw new ShapeError(`similarity is ${sim.rows} x ${sim.cols}; expected square`);
  if (C <= 2) return Int32Array.from({ length: C }, (_, i) => i);
  const S = (a: number, b: number) => sim.data[a * C + b];
  const rowMean = new Float64Array(C);
  let all = 0;
  for (let a = 0; a < C; a++) {
    for (let b = 0; b < C; b++) rowMean[a] += S(a, b) / C;
    all += rowMean[a] / C;
  }
  const centred = new Float64Array(C * C);
  for (let a = 0; a < C; a++) for (let b = 0; b < C; b++) centred[a * C + b] = S(a, b) - rowMean[a] - rowMean[b] + all;
  const eig = symmetricEigen({ data: centred, rows: C, cols: C });
  const v = eig.vectors.data.subarray(0, C);
  const p = Array.from({ length: C }, (_, i) => i).sort((a, b) => v[a] - v[b] || a - b);
  // Edge weight between path positions; an end of the path has no neighbour (weight 0).
  const e = (i: number, j: number) => (i < 0 || j >= C ? 0 : S(p[i], p[j]));
  for (let pass = 0; pass < 1000; pass++) {
    let improved = false;
    for (let i = 0; i < C - 1; i++) {
      for (let j = i + 1; j < C; j++) {
        const gain = (i > 0 ? S(p[i - 1], p[j]) : 0) + (j < C - 1 ? S(p[i], p[j + 1]) : 0) - e(i - 1, i) - e(j, j + 1);
        if (gain > 1e-9) {
          reverse(p, i, j);
          improved = true;
        }
      }
    }
    for (let len = 1; len <= 3; len++) {
      for (let i = 0; i + len <= C; i++) {
        const j = i + len - 1;
        const seg = p.slice(i, j + 1);
        const rest = [...p.slice(0, i), ...p.slice(j + 1)];
        // Taking the segment out joins p[i-1] and p[j+1].
        const removed = e(i - 1, i) + e(j, j + 1) - (i > 0 && j < C - 1 ? S(p[i - 1], p[j + 1]) : 0);
        let best = 1e-9;
        let bestAt = -2;
        let bestRev = false;
        for (let q = -1; q < rest.length; q++) {
          // Put the segment after rest[q] (q = -1: first).
          const a = q >= 0 ? rest[q] : -1;
          const b = q + 1 < rest.length ? rest[q + 1] : -1;
          const joined = a >= 0 && b >= 0 ? S(a, b) : 0;
          for (const rev of [false, true]) {
            const first = rev ? seg[len - 1] : seg[0];
            const last = rev ? seg[0] : seg[len - 1];
            const gain = (a >= 0 ? S(a, first) : 0) + (b >= 0 ? S(last, b) : 0) - joined - removed;
            if (gain > best) [best, bestAt, bestRev] = [gain, q, rev];
          }
        }
        if (bestAt > -2) {
          if (bestRev) seg.reverse();
          rest.splice(bestAt + 1, 0, ...seg);
          p.splice(0, C, ...rest);
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  return Int32Array.from(p);
}

function reverse(p: number[], i: number, j: number): void {
  while (i < j) {
    [p[i], p[j]] = [p[j], p[i]];
    i++;
    j--;
  }
}

/**
 * Positions on the axis of neurons with features X (unit rows, N x k) given the ordered unit
 * centroids (C x k) and each neuron's cluster: module doc, step 4.
 */
function axisPositions(X: Matrix, centroids: Matrix, labels: Int32Array): Float32Array {
  const C = centroids.rows;
  const P = matmul(X, centroids, { transposeB: true });
  const N = X.rows;
  const score = new Float64Array(N);
  const members: number[][] = Array.from({ length: C }, () => []);
  for (let i = 0; i < N; i++) {
    const c = labels[i];
    const next = c + 1 < C ? P.data[i * C + c + 1] : 0;
    const prev = c > 0 ? P.data[i * C + c - 1] : 0;
    score[i] = next - prev;
    members[c].push(i);
  }
  const pos = new Float32Array(N);
  members.forEach((m, c) => {
    m.sort((a, b) => score[a] - score[b] || a - b);
    m.forEach((i, r) => (pos[i] = c - 0.5 + (r + 0.5) / m.length));
  });
  return pos;
}

/** The q quantile of ascending values z: z[ceil(q n) - 1] (-Infinity when empty). */
function quantileOf(z: Float32Array, q: number): number {
  if (!z.length) return -Infinity;
  return z[Math.min(z.length - 1, Math.max(0, Math.ceil(q * z.length) - 1))];
}

/** Neuron indices sorted by position (ties by index). */
function argsort(v: Float32Array): Int32Array {
  return Int32Array.from(Array.from({ length: v.length }, (_, i) => i).sort((a, b) => v[a] - v[b] || a - b));
}

/**
 * Clusters of neurons on a similarity axis (module doc). `fit` returns this; learned state is in
 * the readonly getters, which throw NotFittedError before fit.
 *
 * ```ts
 * const cl = await new NeuronClusters({ nClusters: 100 }).fit(recording.activity);
 * cl.labels;  // N cluster ids along the axis
 * cl.isort;   // neuron order for a raster
 * ```
 */
export class NeuronClusters {
  readonly config: ClusterConfig;
  private state: Fitted | null = null;

  constructor(config: Partial<ClusterConfig> = {}) {
    this.config = resolveClusterConfig(config);
  }

  private get s(): Fitted {
    if (!this.state) throw new NotFittedError('NeuronClusters');
    return this.state;
  }

  /** N cluster ids, numbered along the similarity axis (0..C-1). */
  get labels(): Int32Array {
    return this.s.labels;
  }
  /** N positions on the similarity axis, in [-0.5, C - 0.5). */
  get embedding(): Float32Array {
    return this.s.embedding;
  }
  /** N neuron indices sorted along the axis (row order of a sorted raster). */
  get isort(): Int32Array {
    return this.s.isort;
  }
  /** C cluster sizes. */
  get sizes(): Int32Array {
    return this.s.sizes;
  }
  /** C x k unit centroids in feature (normalised PC) space; row c is cluster c. */
  get centroids(): Matrix {
    return this.s.centroids;
  }
  /** C x C cosine similarity of the centroids. */
  get similarity(): Matrix {
    return this.s.similarity;
  }
  /** N cosine of each neuron with its cluster's centroid. */
  get fitCosine(): Float32Array {
    return this.s.fit;
  }
  /** C mean cosine of the members with their centroid: how coherent each cluster's activity is (NaN when empty). */
  get coherence(): Float32Array {
    const { labels, fit, sizes } = this.s;
    return clusterCoherence(labels, fit, sizes.length);
  }
  /** Sorted coherence of the clusters of the structureless null population ({@link nullCoherence}); empty when `nullNeurons` is 0. */
  get coherenceNull(): Float32Array {
    return this.s.nullCoherence;
  }
  /** The `nullQuantile` quantile of {@link coherenceNull} (-Infinity without a null). */
  get coherenceThreshold(): number {
    return quantileOf(this.s.nullCoherence, this.config.nullQuantile);
  }
  /** Sorted nearest-neighbour merge costs of the null's clusters (module doc, step 6); empty without a null. */
  get mergeCostNull(): Float32Array {
    return this.s.nullMergeCost;
  }
  /** The `mergeQuantile` quantile of {@link mergeCostNull}: coherent clusters are merged while their cost is below it (-Infinity: no merging). */
  get mergeThreshold(): number {
    return this.config.mergeQuantile > 0 ? quantileOf(this.s.nullMergeCost, this.config.mergeQuantile) : -Infinity;
  }
  /** C group id of each cluster (module doc, step 6): 0..G-1, numbered by each group's first cluster on the axis. */
  get clusterGroup(): Int32Array {
    return this.s.clusterGroup;
  }
  /** N group ids: the group of each neuron's cluster. */
  get groups(): Int32Array {
    const g = this.s.clusterGroup;
    return Int32Array.from(this.s.labels, (l) => g[l]);
  }
  /** Number of groups G (= C when nothing merged). */
  get nGroups(): number {
    const g = this.s.clusterGroup;
    return g.length ? Math.max(...g) + 1 : 0;
  }
  /**
   * C flags, 1 for a coherent cluster: its coherence exceeds {@link coherenceThreshold}, i.e. its
   * members share more activity than the clusters k-means cuts out of a population without
   * clusters. Incoherent clusters are arbitrary pieces of unstructured activity: their spatial
   * spread is that of whatever neurons fell together, not of a functional group.
   */
  get coherent(): Uint8Array {
    const th = this.coherenceThreshold;
    return Uint8Array.from(this.coherence, (v) => (v > th ? 1 : 0));
  }
  /** k-means iterations run, and whether assignments stopped changing. */
  get nIter(): number {
    return this.s.nIter;
  }
  get converged(): boolean {
    return this.s.converged;
  }
  /** The PCA the features came from (null when fitted from scores). */
  get pca(): NeuralPCA | null {
    return this.s.pca;
  }
  get nClusters(): number {
    return this.config.nClusters;
  }

  /**
   * Fits on a neurons x time source: the top `nPC` PCs of its normalised activity (streaming; or
   * `opts.pca`, e.g. the encoder's targets, to skip that), then clustering and ordering.
   */
  async fit(src: ActivitySource, opts: { pca?: NeuralPCA; onIteration?: (iter: number, changed: number) => void } = {}): Promise<this> {
    const c = this.config;
    if (c.nClusters > src.nNeurons) throw new ParamError('nClusters', c.nClusters, `an integer in [1, ${src.nNeurons}] (neurons in ${src.file})`);
    const pca = opts.pca ?? (await neuralPCA(src, { nPC: c.nPC, seed: c.seed, blockNeurons: c.blockNeurons }));
    if (pca.U.rows !== src.nNeurons) throw new ShapeError(`the PCA has ${pca.U.rows} neurons, ${src.file} ${src.nNeurons}`);
    if (pca.Y.rows !== src.nTime) throw new ShapeError(`the PCA has ${pca.Y.rows} time points, ${src.file} ${src.nTime}`);
    this.fitScores(pcScores(pca.U, pca.S), opts);
    const k = pca.U.cols;
    const basis = new Float32Array(src.nTime * k);
    for (let t = 0; t < src.nTime; t++) for (let j = 0; j < k; j++) basis[t * k + j] = pca.S[j] > 0 ? pca.Y.data[t * k + j] / pca.S[j] : 0;
    this.s.basis = matrix(src.nTime, k, basis);
    this.s.pca = pca;
    return this;
  }

  /**
   * Fits on neurons' features directly: N x k PC scores (e.g. {@link pcScores} of a PCA held
   * elsewhere), normalised here. `predict` then needs `predictScores`. `onIteration` hears each
   * k-means iteration and how many neurons changed cluster.
   */
  fitScores(scores: Matrix, opts: { onIteration?: (iter: number, changed: number) => void } = {}): this {
    const c = this.config;
    if (c.nClusters > scores.rows) throw new ParamError('nClusters', c.nClusters, `an integer in [1, ${scores.rows}] (the number of neurons)`);
    const X = normalizeRows(scores);
    const km = scaledKMeans(X, c.nClusters, { maxIter: c.maxIter, tol: c.tol, localTrials: c.localTrials, seed: c.seed, onIteration: opts.onIteration });
    let nullStats: { coherence: Float32Array; mergeCost: Float32Array } = { coherence: new Float32Array(0), mergeCost: new Float32Array(0) };
    if (c.nullNeurons > 0) {
      const nNull = Math.max(c.nClusters, Math.min(scores.rows, c.nullNeurons));
      nullStats = signFlipNull(X, c.nClusters, { nNeurons: nNull, seed: c.seed, maxIter: c.maxIter, tol: c.tol, localTrials: c.localTrials });
    }
    const C = c.nClusters;
    const k = X.cols;
    const raw = matmul(km.centroids, km.centroids, { transposeB: true });
    const order = orderBySimilarity(raw);
    const rank = new Int32Array(C);
    order.forEach((old, pos) => (rank[old] = pos));
    const centroids = matrix(C, k);
    order.forEach((old, pos) => centroids.data.set(km.centroids.data.subarray(old * k, (old + 1) * k), pos * k));
    const labels = Int32Array.from(km.labels, (l) => rank[l]);
    const sizes = new Int32Array(C);
    for (const l of labels) sizes[l]++;
    const embedding = axisPositions(X, centroids, labels);
    this.state = {
      centroids,
      similarity: matmul(centroids, centroids, { transposeB: true }),
      labels,
      embedding,
      isort: argsort(embedding),
      sizes,
      fit: km.fit,
      nIter: km.nIter,
      converged: km.converged,
      nullCoherence: nullStats.coherence,
      nullMergeCost: nullStats.mergeCost,
      clusterGroup: Int32Array.from({ length: C }, (_, i) => i),
      basis: null,
      pca: null,
    };
    // Groups (module doc, step 6) from the fitted state's thresholds and coherent flags.
    const mergeTh = this.mergeThreshold;
    if (Number.isFinite(mergeTh)) this.state.clusterGroup = mergeClusters(X, labels, C, { threshold: mergeTh, eligible: this.coherent });
    return this;
  }

  /** Assigns neurons given their features (N' x k PC scores, as in fitScores). */
  predictScores(scores: Matrix): ClusterAssignment {
    const { centroids } = this.s;
    if (scores.cols !== centroids.cols) throw new ShapeError(`scores have ${scores.cols} features, the clusters ${centroids.cols}`);
    const X = normalizeRows(scores);
    const am = rowArgmax(matmul(X, centroids, { transposeB: true }));
    const g = this.s.clusterGroup;
    return { labels: am.idx, embedding: axisPositions(X, centroids, am.idx), fit: am.val, groups: Int32Array.from(am.idx, (l) => g[l]) };
  }

  /**
   * Assigns the neurons of `src` (recorded at the same time points as the fitted activity, e.g.
   * held-out neurons or another plane), streaming: each neuron's normalised activity is projected
   * on the fitted PC time courses.
   */
  predict(src: ActivitySource): ClusterAssignment {
    const { basis } = this.s;
    if (!basis) throw new NotFittedError('NeuronClusters (fitted from scores: use predictScores)');
    if (src.nTime !== basis.rows) throw new ShapeError(`${src.file} has ${src.nTime} time points, the clusters were fitted on ${basis.rows}`);
    const b = this.config.blockNeurons ?? defaultBlockNeurons(src.nTime);
    const stats = normStats(src, b);
    const k = basis.cols;
    const scores = matrix(src.nNeurons, k);
    for (let i0 = 0; i0 < src.nNeurons; i0 += b) {
      const i1 = Math.min(src.nNeurons, i0 + b);
      const p = matmul(matrix(i1 - i0, src.nTime, readNormalizedRows(src, stats, i0, i1)), basis);
      scores.data.set(p.data, i0 * k);
    }
    return this.predictScores(scores);
  }
}

/**
 * Adjusted Rand index of two labellings of the same items (Hubert & Arabie 1985; scikit-learn's
 * adjusted_rand_score): 1 for identical partitions (up to renaming), ~0 for random ones.
 * Items where `ignore(a, b)` is true are left out (e.g. background neurons, planted id -1).
 */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>, ignore?: (a: number, b: number) => boolean): number {
  if (a.length !== b.length) throw new ShapeError(`labellings have ${a.length} and ${b.length} items`);
  const table = new Map<string, number>();
  const ra = new Map<number, number>();
  const rb = new Map<number, number>();
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (ignore?.(a[i], b[i])) continue;
    n++;
    const key = `${a[i]},${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    ra.set(a[i], (ra.get(a[i]) ?? 0) + 1);
    rb.set(b[i], (rb.get(b[i]) ?? 0) + 1);
  }
  const c2 = (x: number) => (x * (x - 1)) / 2;
  let sumIJ = 0;
  for (const v of table.values()) sumIJ += c2(v);
  let sumA = 0;
  for (const v of ra.values()) sumA += c2(v);
  let sumB = 0;
  for (const v of rb.values()) sumB += c2(v);
  const expected = n > 1 ? (sumA * sumB) / c2(n) : 0;
  const max = (sumA + sumB) / 2;
  if (max === expected) return 1;
  return (sumIJ - expected) / (max - expected);
}
