/**
 * The cluster table (one row per cluster: size, VE of the cluster mean per model, spread,
 * centroid) as CSV, and everything of a cluster analysis in one HDF5 file readable by h5py.
 *
 * `clusters.h5` layout (C clusters, N neurons, n scored samples; `<m>` = {@link modelKey} of a
 * model name):
 * - `/clusters/<column>`     one 1-D dataset (C) per column of clusters.csv (cluster, size, coherent, group int32,
 *                            the rest float64); group attrs
 *                            `columns` (JSON list, the CSV's order) and `models` (JSON list of
 *                            model names, in the order of the `ve_<m>` columns)
 * - `/neurons/cluster`       int32 N (-1: in no cluster); `/neurons/group` int32 N (with a
 *                            `group` column: the group of the neuron's cluster, -1: none); `/neurons/embedding` float32 N (position
 *                            on the similarity axis) and `/neurons/isort` int32 N when known;
 *                            `/neurons/ve/<m>` float32 N, each neuron's VE on the scored samples
 * - `/correlation/<m>`       float64 [r, lo, hi] of spread vs cluster VE over all clusters; attrs
 *                            method, level, n, n_boot, seed
 * - `/correlation_coherent/<m>` the same over the coherent clusters (the `coherent` column)
 * - `/time_index`            int32 n, the scored samples (the split's test samples)
 * - `/cluster_mean/activity` float32 C x n; `/cluster_mean/predicted/<m>` float32 C x n
 * - `/raster/activity`       float32 rows x cols; `/raster/predicted/<m>`; `/raster/row_bounds`,
 *                            `/raster/col_bounds`, `/raster/row_cluster` int32 (see SortedRaster)
 * - root attrs `n_clusters`, `n_neurons`, `bin_um`, and any given by the caller
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ParamError } from '../errors';
import { writeH5 } from '../io/hdf5';
import { ClusterAnalysis, CorrelationCI } from './cluster-analysis';
import { writeCsv } from './tables';

/** A model name as a column suffix and HDF5 name: runs of other characters than [A-Za-z0-9] become '_'. */
export function modelKey(name: string): string {
  return name.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'model';
}

/**
 * One row per cluster: cluster, size, [coherence, [coherent,]] [group,] ve_<model>..., spread_kl,
 * spread_chance_kl (random sets of the same size), x_um, y_um (NaN where unknown). `coherence`
 * (C, e.g. NeuronClusters.coherence) adds that column, `coherent` (C flags, NeuronClusters.coherent)
 * a 0/1 column, `group` (C, NeuronClusters.clusterGroup) the group each cluster was merged into.
 */
export function clusterRows(a: ClusterAnalysis, coherence?: ArrayLike<number>, coherent?: ArrayLike<number>, group?: ArrayLike<number>): Record<string, number>[] {
  const keys = a.models.map(modelKey);
  if (new Set(keys).size !== keys.length) throw new ParamError('models', a.models, 'names that stay distinct as column names');
  return Array.from({ length: a.nClusters }, (_, c) => {
    const row: Record<string, number> = { cluster: c, size: a.sizes[c] };
    if (coherence) row.coherence = coherence[c];
    if (coherent) row.coherent = coherent[c] ? 1 : 0;
    if (group) row.group = group[c];
    a.models.forEach((m, j) => (row[`ve_${keys[j]}`] = a.clusterVe[m][c]));
    row.spread_kl = a.spread ? a.spread[c] : NaN;
    row.spread_chance_kl = a.spreadChance ? a.spreadChance[c] : NaN;
    row.x_um = a.centroidUm ? a.centroidUm[2 * c] : NaN;
    row.y_um = a.centroidUm ? a.centroidUm[2 * c + 1] : NaN;
    return row;
  });
}

export interface ClusterTableInput {
  analysis: ClusterAnalysis;
  /** N cluster ids. */
  labels: Int32Array;
  /** C mean cosine of members with their centroid (NeuronClusters.coherence): adds a `coherence` column. */
  coherence?: Float32Array;
  /** C flags (NeuronClusters.coherent): adds a 0/1 `coherent` column. */
  coherent?: Uint8Array;
  /** C group id of each cluster (NeuronClusters.clusterGroup): adds a `group` column and `/neurons/group`. */
  clusterGroup?: Int32Array;
  embedding?: Float32Array;
  isort?: Int32Array;
  /** Spread-vs-VE correlation per model name. */
  correlations?: Record<string, CorrelationCI>;
  /** The same over the coherent clusters. */
  correlationsCoherent?: Record<string, CorrelationCI>;
  /** Extra root attributes (numbers or strings), e.g. seed, source file. */
  attrs?: Record<string, string | number>;
}

/** Writes `clusters.csv` and `clusters.h5` (layout in the module doc) into `dir`, atomically each. */
export async function writeClusterTables(dir: string, t: ClusterTableInput): Promise<string[]> {
  if (typeof dir !== 'string' || !dir) throw new ParamError('dir', dir, 'a folder path');
  const a = t.analysis;
  fs.mkdirSync(dir, { recursive: true });
  const rows = clusterRows(a, t.coherence, t.coherent, t.clusterGroup);
  const columns = Object.keys(rows[0]);
  const csv = path.join(dir, 'clusters.csv');
  writeCsv(csv, rows);
  const h5 = path.join(dir, 'clusters.h5');
  const C = a.nClusters;
  const n = a.timeIdx.length;
  await writeH5(h5, (w) => {
    w.setAttr('/', 'n_clusters', C);
    w.setAttr('/', 'n_neurons', a.nNeurons);
    w.setAttr('/', 'bin_um', a.binUm);
    for (const [k, v] of Object.entries(t.attrs ?? {})) w.setAttr('/', k, v);
    for (const col of columns) {
      const data = col === 'cluster' || col === 'size' || col === 'coherent' || col === 'group' ? Int32Array.from(rows, (r) => r[col]) : Float64Array.from(rows, (r) => r[col]);
      w.writeDataset(`/clusters/${col}`, data, [C]);
    }
    w.setAttr('/clusters', 'columns', JSON.stringify(columns));
    w.setAttr('/clusters', 'models', JSON.stringify(a.models));
    w.writeDataset('/neurons/cluster', t.labels, [t.labels.length]);
    if (t.clusterGroup) {
      const g = t.clusterGroup;
      w.writeDataset('/neurons/group', Int32Array.from(t.labels, (l) => (l >= 0 ? g[l] : -1)), [t.labels.length]);
    }
    if (t.embedding) w.writeDataset('/neurons/embedding', t.embedding, [t.embedding.length]);
    if (t.isort) w.writeDataset('/neurons/isort', t.isort, [t.isort.length]);
    for (const m of a.models) w.writeDataset(`/neurons/ve/${modelKey(m)}`, a.neuronVe[m], [a.nNeurons]);
    for (const [group, corr] of [['correlation', t.correlations], ['correlation_coherent', t.correlationsCoherent]] as const) {
      for (const [m, c] of Object.entries(corr ?? {})) {
        const p = `/${group}/${modelKey(m)}`;
        w.writeDataset(p, Float64Array.of(c.r, c.lo, c.hi), [3]);
        w.setAttr(p, 'method', c.method);
        w.setAttr(p, 'level', c.level);
        w.setAttr(p, 'n', c.n);
        w.setAttr(p, 'n_boot', c.nBoot);
        w.setAttr(p, 'seed', c.seed);
      }
    }
    w.writeDataset('/time_index', a.timeIdx, [n]);
    w.writeDataset('/cluster_mean/activity', a.meanActivity.data, [C, n]);
    for (const m of a.models) w.writeDataset(`/cluster_mean/predicted/${modelKey(m)}`, a.predictedMean[m].data, [C, n]);
    const r = a.raster;
    if (r) {
      w.writeDataset('/raster/activity', r.activity, [r.rows, r.cols]);
      for (const m of a.models) w.writeDataset(`/raster/predicted/${modelKey(m)}`, r.predicted[m], [r.rows, r.cols]);
      w.writeDataset('/raster/row_bounds', r.rowBounds, [r.rows + 1]);
      w.writeDataset('/raster/col_bounds', r.colBounds, [r.cols + 1]);
      w.writeDataset('/raster/row_cluster', r.rowCluster, [r.rows]);
    }
  });
  return [csv, h5];
}
