/**
 * Targets of the encoders: activity normalised per neuron (mean subtracted, divided by the RMS of
 * what is left) and its top principal components, computed streaming over blocks of neurons.
 *
 * Memory of {@link neuralPCA} (N neurons, T time points, k PCs, l = k + oversamples, b neurons a
 * block), in float32: one block b x T (plus its product, b x l), the operator's N x l and T x l
 * products with their QR copies (a few N x l + T x l), and the N x k, T x k results. The N x T
 * activity is never held whole: each product reads the source once, so 2 (powerIters + 1) + 1
 * passes over the file. For N = 50,000, T = 10,800, k = 128, b = 97: ~4 MB block + ~100 MB of
 * N x l / T x l matrices.
 */
import { matmul, Matrix, matrix, randomizedSvdOperator, LinearOperator } from '../engine/linalg';
import { ParamError, ShapeError } from '../errors';
import { ActivitySource, defaultBlockNeurons } from './source';

/** Per-neuron normalisation: x_norm = (x - mean) / scale. */
export interface NormStats {
  /** nNeurons means over time. */
  mean: Float32Array;
  /** nNeurons RMS of the mean-subtracted activity (population SD); 1 where it is 0. */
  scale: Float32Array;
  /** Number of constant neurons (their normalised activity is all zeros). */
  nConstant: number;
}

/** Means and RMS per neuron, computed one block of neurons at a time (float64 sums). */
export function normStats(src: ActivitySource, blockNeurons = defaultBlockNeurons(src.nTime)): NormStats {
  const { nNeurons: N, nTime: T } = src;
  const mean = new Float32Array(N);
  const scale = new Float32Array(N);
  let nConstant = 0;
  for (let i0 = 0; i0 < N; i0 += blockNeurons) {
    const i1 = Math.min(N, i0 + blockNeurons);
    const blk = src.readRows(i0, i1);
    for (let i = i0; i < i1; i++) {
      const o = (i - i0) * T;
      let s = 0;
      for (let t = 0; t < T; t++) s += blk[o + t];
      const m = s / T;
      let v = 0;
      for (let t = 0; t < T; t++) v += (blk[o + t] - m) ** 2;
      const rms = Math.sqrt(v / T);
      mean[i] = m;
      scale[i] = rms > 0 ? rms : 1;
      if (!(rms > 0)) nConstant++;
    }
  }
  return { mean, scale, nConstant };
}

/** Rows i0..i1-1 of `src`, normalised with `stats`: (i1 - i0) x nTime float32. */
export function readNormalizedRows(src: ActivitySource, stats: NormStats, i0: number, i1: number): Float32Array {
  const T = src.nTime;
  const blk = src.readRows(i0, i1);
  for (let i = i0; i < i1; i++) {
    const m = stats.mean[i];
    const s = stats.scale[i];
    const o = (i - i0) * T;
    for (let t = 0; t < T; t++) blk[o + t] = (blk[o + t] - m) / s;
  }
  return blk;
}

/** The normalised activity (N x T) as a linear operator that reads row blocks on each product. */
export function normalizedOperator(src: ActivitySource, stats: NormStats, blockNeurons = defaultBlockNeurons(src.nTime)): LinearOperator {
  const { nNeurons: N, nTime: T } = src;
  return {
    rows: N,
    cols: T,
    apply(X: Matrix): Matrix {
      const out = new Float32Array(N * X.cols);
      for (let i0 = 0; i0 < N; i0 += blockNeurons) {
        const i1 = Math.min(N, i0 + blockNeurons);
        const p = matmul(matrix(i1 - i0, T, readNormalizedRows(src, stats, i0, i1)), X);
        out.set(p.data, i0 * X.cols);
      }
      return matrix(N, X.cols, out);
    },
    applyT(Y: Matrix): Matrix {
      const out = new Float32Array(T * Y.cols);
      for (let i0 = 0; i0 < N; i0 += blockNeurons) {
        const i1 = Math.min(N, i0 + blockNeurons);
        const yb = matrix(i1 - i0, Y.cols, Y.data.subarray(i0 * Y.cols, i1 * Y.cols));
        const p = matmul(matrix(i1 - i0, T, readNormalizedRows(src, stats, i0, i1)), yb, { transposeA: true });
        for (let k = 0; k < out.length; k++) out[k] += p.data[k];
      }
      return matrix(T, Y.cols, out);
    },
  };
}

export interface NeuralPCAOptions {
  /** Number of PCs (default 128, capped at min(N, T)). */
  nPC?: number;
  /** Neurons per block read (default ~16 MB of float32 a block). */
  blockNeurons?: number;
  /** Randomized SVD settings (defaults 4 power iterations, 10 oversamples, seed 0). */
  powerIters?: number;
  oversamples?: number;
  seed?: number;
  /** Normalisation to use (default computed by {@link normStats}). */
  stats?: NormStats;
}

/** PCs of normalised activity A (N x T): A ≈ U diag(S) V^T. */
export interface NeuralPCA {
  /** T x k PC time courses, Y = A^T U = V diag(S) (the regression targets). */
  Y: Matrix;
  /** N x k loadings, orthonormal columns; neuron activity ≈ (Y U^T)^T. */
  U: Matrix;
  /** k singular values, descending. */
  S: Float32Array;
  /** k fractions of the total variance of A (sum over neurons of their normalised variance, = N for non-constant neurons). */
  varianceFraction: Float32Array;
  stats: NormStats;
}

/**
 * Top PCs of the normalised activity, streaming row blocks of `src` through
 * randomizedSvdOperator; memory in the module doc.
 */
export async function neuralPCA(src: ActivitySource, opts: NeuralPCAOptions = {}): Promise<NeuralPCA> {
  const { nNeurons: N, nTime: T } = src;
  const k = Math.min(opts.nPC ?? 128, N, T);
  if (!Number.isInteger(k) || k < 1) throw new ParamError('nPC', opts.nPC, `an integer >= 1 (capped at min(N, T) = ${Math.min(N, T)})`);
  const b = opts.blockNeurons ?? defaultBlockNeurons(T);
  if (!Number.isInteger(b) || b < 1) throw new ParamError('blockNeurons', b, 'an integer >= 1');
  const stats = opts.stats ?? normStats(src, b);
  if (stats.mean.length !== N || stats.scale.length !== N) throw new ShapeError(`stats are for ${stats.mean.length} neurons, the source has ${N}`);
  const svd = await randomizedSvdOperator(normalizedOperator(src, stats, b), k, {
    powerIters: opts.powerIters ?? 4,
    oversamples: opts.oversamples ?? 10,
    seed: opts.seed ?? 0,
  });
  const Y = new Float32Array(T * k);
  for (let t = 0; t < T; t++) for (let j = 0; j < k; j++) Y[t * k + j] = svd.V.data[t * k + j] * svd.S[j];
  const total = (N - stats.nConstant) * T;
  const varianceFraction = Float32Array.from(svd.S, (s) => (total > 0 ? (s * s) / total : 0));
  return { Y: matrix(T, k, Y), U: svd.U, S: svd.S, varianceFraction, stats };
}

/**
 * Neuron predictions from PC predictions, for neurons i0..i1-1: U[i0:i1] @ Yhat^T.
 * Shapes: Yhat nT x k (time x PCs), U N x k; result (i1 - i0) x nT (neurons x time, the activity's layout).
 */
export function predictNeurons(Yhat: Matrix, U: Matrix, i0 = 0, i1 = U.rows): Matrix {
  if (Yhat.cols !== U.cols) throw new ShapeError(`Yhat has ${Yhat.cols} PCs, U has ${U.cols}`);
  const Ub = matrix(i1 - i0, U.cols, U.data.subarray(i0 * U.cols, i1 * U.cols));
  return matmul(Ub, Yhat, { transposeB: true });
}
