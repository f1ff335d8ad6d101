/**
 * Variance explained on test data (Facemap: 1 - MSE / variance), per target, pooled, and per
 * neuron from PC predictions (streaming over neuron blocks); explainable variance by peer
 * prediction (the ceiling); normalised VE as in the paper.
 */
import { Matrix } from '../engine/linalg';
import { ParamError, ShapeError } from '../errors';
import { Split } from '../synth/splits';
import { NormStats, neuralPCA, predictNeurons, readNormalizedRows } from './pca';
import { ReducedRankRegression, takeRows } from './regression';
import { ActivitySource, defaultBlockNeurons, subsetRows } from './source';

/** Variance explained per column and pooled over columns. */
export interface VarianceExplained {
  /** One value per column: 1 - mean((y - yhat)^2) / var(y) (population variance). NaN for a constant column. */
  perColumn: Float32Array;
  /** 1 - sum of column MSEs / sum of column variances. */
  pooled: number;
}

/**
 * VE of predictions `Yhat` of `Y` (both n x q, time x targets), over the rows given (default all;
 * pass the test rows of a split when Y is the whole recording and Yhat only the test rows, use
 * `yRows`).
 * @param yRows rows of Y that Yhat's rows correspond to (default 0..Yhat.rows-1).
 */
export function varianceExplained(Y: Matrix, Yhat: Matrix, yRows?: ArrayLike<number>): VarianceExplained {
  const n = Yhat.rows;
  const q = Yhat.cols;
  if (Y.cols !== q) throw new ShapeError(`Y has ${Y.cols} columns, Yhat ${q}`);
  if (yRows ? yRows.length !== n : Y.rows !== n) throw new ShapeError(`Yhat has ${n} rows; Y (or yRows) ${yRows ? yRows.length : Y.rows}`);
  if (n < 2) throw new ShapeError(`variance explained needs at least 2 time points, got ${n}`);
  const mean = new Float64Array(q);
  const row = (k: number) => (yRows ? yRows[k] : k) * q;
  for (let k = 0; k < n; k++) for (let j = 0; j < q; j++) mean[j] += Y.data[row(k) + j];
  for (let j = 0; j < q; j++) mean[j] /= n;
  const sse = new Float64Array(q);
  const sst = new Float64Array(q);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < q; j++) {
      const y = Y.data[row(k) + j];
      sse[j] += (y - Yhat.data[k * q + j]) ** 2;
      sst[j] += (y - mean[j]) ** 2;
    }
  }
  let a = 0;
  let b = 0;
  const perColumn = new Float32Array(q);
  for (let j = 0; j < q; j++) {
    perColumn[j] = sst[j] > 0 ? 1 - sse[j] / sst[j] : NaN;
    a += sse[j];
    b += sst[j];
  }
  return { perColumn, pooled: b > 0 ? 1 - a / b : NaN };
}

/**
 * VE per neuron of PC predictions, streaming over neuron blocks: for each block the normalised
 * activity at `timeIdx` is compared with U[block] @ Yhat^T.
 * Shapes: Yhat timeIdx.length x k (predicted PC time courses at those times), U nNeurons x k.
 * Memory: one block of neurons x T plus its prediction. Returns nNeurons values.
 */
export function neuronVarianceExplained(
  src: ActivitySource,
  stats: NormStats,
  U: Matrix,
  Yhat: Matrix,
  timeIdx: ArrayLike<number>,
  blockNeurons = defaultBlockNeurons(src.nTime),
): Float32Array {
  if (U.rows !== src.nNeurons) throw new ShapeError(`U has ${U.rows} neurons, the source ${src.nNeurons}`);
  if (Yhat.rows !== timeIdx.length) throw new ShapeError(`Yhat has ${Yhat.rows} rows, timeIdx ${timeIdx.length}`);
  const T = src.nTime;
  const n = timeIdx.length;
  const out = new Float32Array(src.nNeurons);
  for (let i0 = 0; i0 < src.nNeurons; i0 += blockNeurons) {
    const i1 = Math.min(src.nNeurons, i0 + blockNeurons);
    const act = readNormalizedRows(src, stats, i0, i1);
    const pred = predictNeurons(Yhat, U, i0, i1).data;
    for (let i = 0; i < i1 - i0; i++) {
      let m = 0;
      for (let k = 0; k < n; k++) m += act[i * T + timeIdx[k]];
      m /= n;
      let sse = 0;
      let sst = 0;
      for (let k = 0; k < n; k++) {
        const y = act[i * T + timeIdx[k]];
        sse += (y - pred[i * n + k]) ** 2;
        sst += (y - m) ** 2;
      }
      out[i0 + i] = sst > 0 ? 1 - sse / sst : NaN;
    }
  }
  return out;
}

/** Mean of the finite values. */
export function finiteMean(a: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) [s, n] = [s + a[i], n + 1];
  return n ? s / n : NaN;
}

/** Paper's normalised VE: 100 x mean(VE) / mean(explainable VE), over neurons finite in both. */
export function normalizedVarianceExplained(ve: ArrayLike<number>, explainable: ArrayLike<number>): number {
  if (ve.length !== explainable.length) throw new ShapeError(`${ve.length} VE values, ${explainable.length} explainable`);
  let a = 0;
  let b = 0;
  for (let i = 0; i < ve.length; i++) if (Number.isFinite(ve[i]) && Number.isFinite(explainable[i])) [a, b] = [a + ve[i], b + explainable[i]];
  return (100 * a) / b;
}

/** Checkerboard half (0 or 1) of each neuron: (floor(x / d) + floor(y / d)) mod 2. positions N x 2, um. */
export function checkerboardHalves(positions: ArrayLike<number>, squareUm = 400): Uint8Array {
  if (positions.length % 2) throw new ShapeError(`positions has ${positions.length} values: expected N x 2`);
  if (!(squareUm > 0)) throw new ParamError('squareUm', squareUm, 'a number > 0 (um)');
  const out = new Uint8Array(positions.length / 2);
  for (let i = 0; i < out.length; i++) {
    const s = Math.floor(positions[2 * i] / squareUm) + Math.floor(positions[2 * i + 1] / squareUm);
    out[i] = ((s % 2) + 2) % 2;
  }
  return out;
}

export interface PeerPredictionOptions {
  /** Checkerboard square side, um (default 400). */
  squareUm?: number;
  /** PCs per half (default 128, capped at the half's size and T). */
  nPC?: number;
  /** RRR rank (default 128) and lambda (default 0.1). */
  rank?: number;
  lambda?: number;
  blockNeurons?: number;
  seed?: number;
}

/** `src` with a close() that does nothing: the caller keeps ownership. */
function borrowed(src: ActivitySource): ActivitySource {
  return { nNeurons: src.nNeurons, nTime: src.nTime, file: src.file, readRows: (i0, i1) => src.readRows(i0, i1), close() {} };
}

/** Result of {@link explainableVariance}. */
export interface PeerPrediction {
  /** nNeurons explainable variance: VE on test data of each neuron predicted from the other half. */
  explainable: Float32Array;
  /** nNeurons checkerboard half (0/1). */
  half: Uint8Array;
  /** Pooled VE of each half's PCs predicted from the other half's, [half 0, half 1]. */
  pcVe: [number, number];
  split: Split;
}

/**
 * Explainable variance by peer prediction (Facemap): neurons are split on a checkerboard of
 * `squareUm` squares into two halves; each half's normalised activity is reduced to its top PCs
 * (streaming, {@link neuralPCA}); RRR (rank 128, lambda 0.1) fitted on the split's train samples
 * predicts one half's PCs from the other's; each neuron is scored on the test samples from its
 * half's predicted PCs. Memory: as neuralPCA, for each half.
 * @param positions nNeurons x 2 (x, y), um.
 */
export async function explainableVariance(src: ActivitySource, positions: Float32Array, split: Split, opts: PeerPredictionOptions = {}): Promise<PeerPrediction> {
  if (positions.length !== 2 * src.nNeurons) throw new ShapeError(`positions hold ${positions.length / 2} neurons, activity ${src.nNeurons}`);
  const half = checkerboardHalves(positions, opts.squareUm ?? 400);
  const idx = [0, 1].map((h) => Int32Array.from([...half.keys()].filter((i) => half[i] === h)));
  if (idx[0].length < 2 || idx[1].length < 2) {
    throw new ParamError('positions', `${idx[0].length} / ${idx[1].length} neurons per half`, `at least 2 neurons in each checkerboard half (squareUm ${opts.squareUm ?? 400})`);
  }
  const b = opts.blockNeurons ?? defaultBlockNeurons(src.nTime);
  const subs = idx.map((ix) => subsetRows(borrowed(src), ix));
  const pcs = [];
  for (const s of subs) pcs.push(await neuralPCA(s, { nPC: opts.nPC ?? 128, blockNeurons: b, seed: opts.seed ?? 0 }));
  const explainable = new Float32Array(src.nNeurons);
  const pcVe: [number, number] = [NaN, NaN];
  for (const h of [0, 1]) {
    const target = pcs[h];
    const peer = pcs[1 - h];
    const rrr = new ReducedRankRegression({ rank: opts.rank ?? 128, lambda: opts.lambda ?? 0.1 });
    rrr.fit(takeRows(peer.Y, split.train), takeRows(target.Y, split.train));
    const pred = rrr.predict(takeRows(peer.Y, split.test));
    pcVe[h] = varianceExplained(target.Y, pred, split.test).pooled;
    const ve = neuronVarianceExplained(subs[h], target.stats, target.U, pred, split.test, b);
    idx[h].forEach((n, k) => (explainable[n] = ve[k]));
  }
  return { explainable, half, pcVe, split };
}
