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
