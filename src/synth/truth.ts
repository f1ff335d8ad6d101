/** The planted ground truth of a simulated session, summarised per cluster. */
import * as path from 'node:path';
import { withH5 } from '../io/hdf5';
import { spatialSpreadKL } from './neural';
import { readSessionManifest } from './session';

/** One planted cluster (or the unclustered background, id -1). */
export interface TruthClusterRow {
  cluster: number;
  nNeurons: number;
  /** Planted behaviour drive (target mean oracle VE); NaN for the background. */
  drive: number;
  /** Mean over its neurons of the oracle variance explained on test samples. */
  oracleVe: number;
  /** Spatial spread: KL divergence of its positions against all neurons' (200 µm bins; lower = more spread). */
  spreadKL: number;
}

/** Per-cluster truth of the session in `dir`, sorted by planted drive (strongest first), background last. */
export async function sessionTruthTable(dir: string, binUm = 200): Promise<TruthClusterRow[]> {
  const m = readSessionManifest(dir);
  return withH5(path.join(dir, m.files.neural), (h5) => {
    const cluster = h5.read('/truth/cluster').data as Int32Array;
    const oracle = h5.read('/truth/oracle_ve').data as Float32Array;
    const drive = h5.read('/truth/cluster_drive').data as Float32Array;
    const positions = h5.read('/neural/positions').data as Float32Array;
    const ids = [...new Set(cluster)].sort((a, b) => a - b);
    const rows = ids.map((id) => {
      const members: number[] = [];
      let ve = 0;
      cluster.forEach((c, i) => {
        if (c === id) {
          members.push(i);
          ve += oracle[i];
        }
      });
      return {
        cluster: id,
        nNeurons: members.length,
        drive: id >= 0 ? drive[id] : Number.NaN,
        oracleVe: ve / members.length,
        spreadKL: spatialSpreadKL(positions, members, binUm),
      };
    });
    return rows.sort((a, b) => (b.cluster < 0 ? -1 : a.cluster < 0 ? 1 : b.drive - a.drive));
  });
}

/** The oracles of a simulated recording (neural.ts module doc), means over neurons. */
export interface SessionOracles {
  /** Mean oracle VE: the ideal predictor from all the behaviour that drives the neurons. */
  full: number;
  /** Mean keypoint-visible oracle VE; null when not known (the drive is partly invisible in the keypoints) or absent (older files). */
  visible: number | null;
}

/**
 * The oracles stored in a simulated neural file (`/truth/oracle_ve`, `/truth/oracle_ve_visible`),
 * or null when `neuralFile` is not an HDF5 file holding them (a real recording).
 */
export async function readSessionOracles(neuralFile: string): Promise<SessionOracles | null> {
  if (!/\.(h5|hdf5)$/i.test(neuralFile)) return null;
  try {
    return await withH5(neuralFile, (h5) => {
      if (!h5.has('/truth/oracle_ve')) return null;
      const mean = (a: ArrayLike<number>) => {
        let s = 0;
        let n = 0;
        for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) [s, n] = [s + a[i], n + 1];
        return n ? s / n : null;
      };
      const full = mean(h5.read('/truth/oracle_ve').data as Float32Array);
      if (full === null) return null;
      const visible = h5.has('/truth/oracle_ve_visible') ? mean(h5.read('/truth/oracle_ve_visible').data as Float32Array) : null;
      return { full, visible };
    });
  } catch {
    return null;
  }
}
