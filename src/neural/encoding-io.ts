/**
 * Reading a model output folder (what `facemap-ts encode` writes) for the cluster analysis: the
 * split and each model's predictions.
 *
 * Folder contract (N neurons, T samples, k PCs, n = split.test.length):
 * ```
 * DIR/split.json        {"train": [...], "test": [...], "bounds": [...]}: sample indices (0-based)
 *                       (optional: Facemap's default split of T samples when absent)
 * DIR/predictions.h5
 *   /pca/U              float32 N x k  loadings of the PCs the models predict (needed by PC predictions)
 *   /pca/S              float32 k      singular values (optional: with U, clusters use these PCs, no new PCA)
 *   /pca/mean           float32 N      normalisation of the activity the PCs are of (optional, with /pca/scale;
 *   /pca/scale          float32 N        x_norm = (x - mean) / scale; else recomputed: mean and RMS over all samples)
 *   /predictions/<m>    float32, one dataset per model, one of:
 *                         n x k  predicted PCs at the test samples, in split.test order
 *                         T x k  predicted PCs at every sample (the test rows are used)
 *                         n x N  or T x N  predicted normalised activity of every neuron (time x neurons)
 *                       attribute `name` (optional): the model's display name (default <m>)
 * ```
 * Predictions must be of the normalised activity (the PCs' targets), so that the cluster means
 * they give compare with the recording's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Matrix, matrix } from '../engine/linalg';
import { FormatError } from '../errors';
import { H5Reader, openH5, writeH5 } from '../io/hdf5';
import { writeFileAtomicSync } from '../util/fsx';
import { facemapSplit, Split } from '../synth/splits';
import { ModelPrediction } from './cluster-analysis';
import { NormStats } from './pca';
import { splitJson } from './tables';

/** What {@link readEncodingFolder} found. */
export interface EncodingFolder {
  dir: string;
  split: Split;
  /** True when split.json was read (else Facemap's default split). */
  splitFromFile: boolean;
  /** N x k loadings, when /pca/U exists. */
  U: Matrix | null;
  /** k singular values, when /pca/S exists. */
  S: Float32Array | null;
  /** Normalisation, when /pca/mean and /pca/scale exist. */
  stats: NormStats | null;
  predictions: ModelPrediction[];
  /** Closes predictions.h5 (neuron-level predictions read from it until then). */
  close(): void;
}

function readSplit(file: string, nTime: number): Split {
  let j: { train?: unknown; test?: unknown; bounds?: unknown };
  try {
    j = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FormatError(file, `not valid JSON (${(e as Error).message}); expected {"train": [...], "test": [...]}`);
  }
  const arr = (v: unknown, what: string): Int32Array => {
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0 && x < nTime)) {
      throw new FormatError(file, `'${what}' must be a list of sample indices in 0..${nTime - 1} (the recording has ${nTime} samples)`);
    }
    return Int32Array.from(v as number[]);
  };
  const test = arr(j.test, 'test');
  for (let k = 1; k < test.length; k++) if (test[k] <= test[k - 1]) throw new FormatError(file, `'test' is not strictly ascending at position ${k}`);
  if (test.length < 2) throw new FormatError(file, `'test' holds ${test.length} samples; expected at least 2`);
  return { train: arr(j.train ?? [], 'train'), test, bounds: Array.isArray(j.bounds) ? Int32Array.from(j.bounds as number[]) : new Int32Array(0) };
}

function f32(r: H5Reader, p: string): Float32Array {
  return Float32Array.from(r.read(p).data as ArrayLike<number>);
}

/**
 * Reads the split and the predictions of an encoding folder (contract in the module doc) for a
 * recording of `nNeurons` x `nTime`. PC predictions are read whole (n x k); neuron predictions
 * stay in the file and are read per block of neurons until `close()`.
 * @throws FormatError naming the file for a missing predictions.h5, a bad shape or a bad split.
 */
export async function readEncodingFolder(dir: string, nNeurons: number, nTime: number): Promise<EncodingFolder> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new FormatError(dir, 'no such folder (expected the output folder of facemap-ts encode)');
  const splitFile = path.join(dir, 'split.json');
  const splitFromFile = fs.existsSync(splitFile);
  const split = splitFromFile ? readSplit(splitFile, nTime) : facemapSplit(nTime);
  const h5 = path.join(dir, 'predictions.h5');
  if (!fs.existsSync(h5)) throw new FormatError(h5, 'file not found (expected predictions.h5 with /predictions/<model> datasets)');
  const r = await openH5(h5);
  try {
    const n = split.test.length;
    let U: Matrix | null = null;
    if (r.has('/pca/U')) {
      const a = r.info('/pca/U').shape;
      if (a.length !== 2 || a[0] !== nNeurons) throw new FormatError(h5, `/pca/U has shape [${a.join(', ')}]; expected [${nNeurons}, k] (neurons x PCs)`);
      U = matrix(a[0], a[1], f32(r, '/pca/U'));
    }
    let S: Float32Array | null = null;
    if (r.has('/pca/S')) {
      S = f32(r, '/pca/S');
      if (!U || S.length !== U.cols) throw new FormatError(h5, `/pca/S has ${S.length} values; expected one per column of /pca/U (${U ? U.cols : 'absent'})`);
    }
    let stats: NormStats | null = null;
    if (r.has('/pca/mean') && r.has('/pca/scale')) {
      const mean = f32(r, '/pca/mean');
      const scale = f32(r, '/pca/scale');
      if (mean.length !== nNeurons || scale.length !== nNeurons) throw new FormatError(h5, `/pca/mean and /pca/scale hold ${mean.length} and ${scale.length} values; expected ${nNeurons}`);
      for (let i = 0; i < nNeurons; i++) {
        if (!(scale[i] > 0)) throw new FormatError(h5, `/pca/scale[${i}] = ${scale[i]}; expected > 0`);
      }
      stats = { mean, scale, nConstant: 0 };
    }
    if (!r.has('/predictions')) throw new FormatError(h5, 'no group /predictions (expected one dataset per model)');
    const predictions: ModelPrediction[] = [];
    for (const e of r.list('/predictions')) {
      if (e.kind !== 'dataset') continue;
      const shape = r.info(e.path).shape;
      const nameAttr = r.attrs(e.path).name;
      const name = typeof nameAttr === 'string' && nameAttr ? nameAttr : e.name;
      if (shape.length !== 2 || (shape[0] !== n && shape[0] !== nTime)) {
        throw new FormatError(h5, `${e.path} has shape [${shape.join(', ')}]; expected [${n} test samples or ${nTime} samples, PCs or neurons]`);
      }
      const allRows = shape[0] === nTime && shape[0] !== n;
      if (U && shape[1] === U.cols) {
        const a = f32(r, e.path);
        const k = shape[1];
        const pcs = matrix(n, k);
        for (let t = 0; t < n; t++) {
          const src = allRows ? split.test[t] : t;
          pcs.data.set(a.subarray(src * k, (src + 1) * k), t * k);
        }
        predictions.push({ name, pcs, loadings: U });
      } else if (shape[1] === nNeurons) {
        const rows = shape[0];
        const p = e.path;
        predictions.push({
          name,
          neurons(i0, i1) {
            const w = i1 - i0;
            const slab = r.readSlice(p, [[0, rows], [i0, i1]]).data as ArrayLike<number>;
            const out = new Float32Array(w * n);
            for (let t = 0; t < n; t++) {
              const src = allRows ? split.test[t] : t;
              for (let j = 0; j < w; j++) out[j * n + t] = slab[src * w + j];
            }
            return out;
          },
        });
      } else {
        throw new FormatError(h5, `${e.path} has ${shape[1]} columns; expected ${U ? `${U.cols} PCs (as /pca/U) or ` : ''}${nNeurons} neurons${U ? '' : ' (PC predictions need /pca/U)'}`);
      }
    }
    if (!predictions.length) throw new FormatError(h5, '/predictions holds no dataset (expected one per model)');
    return { dir, split, splitFromFile, U, S, stats, predictions, close: () => r.close() };
  } catch (e) {
    r.close();
    throw e;
  }
}

/** What {@link writeEncodingFolder} writes. */
export interface EncodingFolderInput {
  split: Split;
  /** The PCs the models predict: U (N x k) and optionally S (k) and the normalisation. */
  pca?: { U: Matrix; S?: Float32Array; stats?: NormStats };
  /** One entry per model: predicted PCs (n x k at split.test, or T x k) or neurons (n x N or T x N), time in rows. */
  predictions: { name: string; data: Matrix }[];
}

/**
 * Writes `split.json` and `predictions.h5` in the layout {@link readEncodingFolder} reads (module
 * doc), atomically each; dataset names are the model names with '/' replaced. Creates `dir`.
 */
export async function writeEncodingFolder(dir: string, e: EncodingFolderInput): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const splitFile = path.join(dir, 'split.json');
  writeFileAtomicSync(splitFile, splitJson(e.split));
  const h5 = path.join(dir, 'predictions.h5');
  await writeH5(h5, (w) => {
    if (e.pca) {
      w.writeDataset('/pca/U', e.pca.U.data, [e.pca.U.rows, e.pca.U.cols]);
      if (e.pca.S) w.writeDataset('/pca/S', e.pca.S, [e.pca.S.length]);
      if (e.pca.stats) {
        w.writeDataset('/pca/mean', e.pca.stats.mean, [e.pca.stats.mean.length]);
        w.writeDataset('/pca/scale', e.pca.stats.scale, [e.pca.stats.scale.length]);
      }
    }
    for (const p of e.predictions) {
      const ds = `/predictions/${p.name.replace(/\//g, '_')}`;
      w.writeDataset(ds, p.data.data, [p.data.rows, p.data.cols]);
      w.setAttr(ds, 'name', p.name);
    }
  });
  return [splitFile, h5];
}
