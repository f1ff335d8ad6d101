/**
 * Linear baselines of Facemap: ridge regression and reduced-rank regression (RRR), both with an
 * intercept (X and Y centred on the fitting rows). X is time x features, Y is time x targets
 * (PC time courses or neurons), float32 row-major {@link Matrix}.
 *
 * RRR with ridge penalty lambda and rank r: W = (Xc^T Xc + lambda I)^-1 Xc^T Yc is the ridge fit;
 * with V the eigenvectors of W^T Xc^T Yc (targets x targets; = the left singular vectors of
 * Facemap's C_YX C_XX^-1/2), the rank-r coefficients are W V_r V_r^T. This equals Facemap's
 * reduced_rank_regression prediction X B A^T. Rank 'auto' picks, by MSE on a held-out part of the
 * fitting rows (Facemap's split applied inside them: {@link facemapSplit}), the best rank up to
 * `maxRank`, then refits on all rows.
 */
import { Rng } from '../util/random';
import { jacobiSvd } from '../engine/dense';
import { matmul, Matrix, matrix, solveSymmetric } from '../engine/linalg';
import { NotFittedError, ParamError, ShapeError } from '../errors';
import { facemapSplit, Split, SplitOptions } from '../synth/splits';

/** Rows `idx` of A. */
export function takeRows(A: Matrix, idx: ArrayLike<number>): Matrix {
  const out = new Float32Array(idx.length * A.cols);
  for (let k = 0; k < idx.length; k++) out.set(A.data.subarray(idx[k] * A.cols, (idx[k] + 1) * A.cols), k * A.cols);
  return matrix(idx.length, A.cols, out);
}

function colMeans(A: Matrix): Float32Array {
  const m = new Float64Array(A.cols);
  for (let i = 0; i < A.rows; i++) for (let j = 0; j < A.cols; j++) m[j] += A.data[i * A.cols + j];
  return Float32Array.from(m, (v) => v / Math.max(1, A.rows));
}

function center(A: Matrix, mean: Float32Array): Matrix {
  const out = new Float32Array(A.data.length);
  for (let i = 0; i < A.rows; i++) for (let j = 0; j < A.cols; j++) out[i * A.cols + j] = A.data[i * A.cols + j] - mean[j];
  return matrix(A.rows, A.cols, out);
}

function checkXY(X: Matrix, Y: Matrix): void {
  if (X.rows !== Y.rows) throw new ShapeError(`X has ${X.rows} rows (time points), Y has ${Y.rows}: expected the same`);
  if (X.rows < 2) throw new ShapeError(`X has ${X.rows} rows: expected at least 2 time points to fit`);
}

/** Centred cross-products of the fitting data. */
interface Moments {
  xMean: Float32Array;
  yMean: Float32Array;
  XtX: Matrix;
  XtY: Matrix;
}

function moments(X: Matrix, Y: Matrix): Moments {
  const xMean = colMeans(X);
  const yMean = colMeans(Y);
  const Xc = center(X, xMean);
  return { xMean, yMean, XtX: matmul(Xc, Xc, { transposeA: true }), XtY: matmul(Xc, center(Y, yMean), { transposeA: true }) };
}

function ridgeSolve(m: Moments, lambda: number): Matrix {
  const p = m.XtX.rows;
  const A = matrix(p, p, m.XtX.data.slice());
  for (let i = 0; i < p; i++) A.data[i * p + i] += lambda;
  return solveSymmetric(A, m.XtY, { jitter: true });
}

/** Inner split of `n` fitting rows for choosing rank/lambda: Facemap's split with 5 segments. */
function innerSplit(n: number, opts: SplitOptions): Split {
  return facemapSplit(n, { segments: 5, trainFraction: 0.75, gap: 3, ...opts });
}

function mse(Y: Matrix, P: Matrix): number {
  let s = 0;
  for (let i = 0; i < Y.data.length; i++) s += (Y.data[i] - P.data[i]) ** 2;
  return s / Math.max(1, Y.data.length);
}

/** Shared predict state: Yhat = (X - xMean) coef + yMean. */
abstract class LinearModel {
  protected state: { coef: Matrix; xMean: Float32Array; yMean: Float32Array } | null = null;
  protected abstract readonly label: string;

  /** p x q coefficients (after fit). */
  get coef(): Matrix {
    if (!this.state) throw new NotFittedError(this.label);
    return this.state.coef;
  }

  /** Predictions, X.rows x q. */
  predict(X: Matrix): Matrix {
    if (!this.state) throw new NotFittedError(this.label);
    const { coef, xMean, yMean } = this.state;
    if (X.cols !== coef.rows) throw new ShapeError(`${this.label}.predict: X has ${X.cols} features, the model was fitted on ${coef.rows}`);
    const P = matmul(center(X, xMean), coef);
    for (let i = 0; i < P.rows; i++) for (let j = 0; j < P.cols; j++) P.data[i * P.cols + j] += yMean[j];
    return P;
  }
}

/** Default ridge penalties tried by validation; extended by decades up to {@link RIDGE_LAMBDA_MAX} while the largest wins. */
export const RIDGE_LAMBDAS: readonly number[] = Object.freeze([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1e3, 1e4]);
/** Largest penalty the default grid extends to (far beyond any trace of Xc^T Xc here: the coefficients are ~0, the prediction the training mean). */
export const RIDGE_LAMBDA_MAX = 1e12;

export interface RidgeConfig {
  /**
   * Penalty added to Xc^T Xc; one value, or candidates chosen by validation. Default
   * {@link RIDGE_LAMBDAS} (1e-6 .. 1e4, every 10x), extended by 10x steps up to 1e12 while the
   * largest candidate has the lowest validation error and the error still falls: many weak inputs
   * (e.g. 500 motion-SVD components on ~1,000 samples) need far more shrinkage than 1e4, and a grid
   * that stops there extrapolates on the test segments (negative VE). Given candidates are used as given.
   */
  lambda: number | number[];
  /** Inner split used to choose lambda (default 5 segments, 75% train, gap 3). */
  validation: SplitOptions;
}

function checkLambda(field: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0)) throw new ParamError(field, v, 'a number >= 0');
}

/** Ridge regression Y ≈ X W + b; `fit` returns this. */
export class RidgeRegression extends LinearModel {
  protected readonly label = 'RidgeRegression';
  readonly config: RidgeConfig;
  /** The lambda used (after fit). */
  lambda = NaN;
  /** Validation MSE per candidate lambda (when more than one was given), in the order of {@link lambdaCandidates}. */
  validationMse: Float32Array = new Float32Array(0);
  /** The candidates validated (after fit; the default grid with its extension, if any). */
  lambdaCandidates: number[] = [];
  private readonly extendGrid: boolean;

  constructor(config: Partial<RidgeConfig> = {}) {
    super();
    const lambda = config.lambda ?? [...RIDGE_LAMBDAS];
    (Array.isArray(lambda) ? lambda : [lambda]).forEach((v, i) => checkLambda(Array.isArray(lambda) ? `lambda[${i}]` : 'lambda', v));
    if (Array.isArray(lambda) && lambda.length === 0) throw new ParamError('lambda', lambda, 'one or more numbers >= 0');
    this.config = { lambda, validation: config.validation ?? {} };
    this.extendGrid = config.lambda === undefined;
  }

  fit(X: Matrix, Y: Matrix): this {
    checkXY(X, Y);
    const cands = Array.isArray(this.config.lambda) ? this.config.lambda : [this.config.lambda];
    let best = cands[0];
    if (cands.length > 1) {
      const sp = innerSplit(X.rows, this.config.validation);
      const m = moments(takeRows(X, sp.train), takeRows(Y, sp.train));
      const Xv = center(takeRows(X, sp.test), m.xMean);
      const Yv = center(takeRows(Y, sp.test), m.yMean);
      const tried = [...cands];
      const err = cands.map((l) => mse(Yv, matmul(Xv, ridgeSolve(m, l))));
      if (this.extendGrid) {
        let top = Math.max(...tried);
        while (err.indexOf(Math.min(...err)) === tried.indexOf(top) && top * 10 <= RIDGE_LAMBDA_MAX) {
          top *= 10;
          tried.push(top);
          err.push(mse(Yv, matmul(Xv, ridgeSolve(m, top))));
        }
      }
      this.lambdaCandidates = tried;
      this.validationMse = Float32Array.from(err);
      best = tried[err.indexOf(Math.min(...err))];
    } else this.lambdaCandidates = [best];
    const m = moments(X, Y);
    this.state = { coef: ridgeSolve(m, best), xMean: m.xMean, yMean: m.yMean };
    this.lambda = best;
    return this;
  }
}

export interface RRRConfig {
  /** Rank of the coefficient matrix, or 'auto' (default): best rank <= maxRank on validation. */
  rank: number | 'auto';
  /** Largest rank tried by 'auto' (default 128; capped at min(features, targets)). */
  maxRank: number;
  /** Ridge penalty (default 1e-6, Facemap's baseline; 0.1 for peer prediction). */
  lambda: number;
  /** Inner split used by rank 'auto' (default 5 segments, 75% train, gap 3). */
  validation: SplitOptions;
}

/** Ridge fit W and the eigenvectors V (q x q, columns by descending eigenvalue) of W^T Xc^T Yc. */
function rrrBasis(m: Moments, lambda: number): { W: Matrix; V: Matrix } {
  const W = ridgeSolve(m, lambda);
  const G = matmul(W, m.XtY, { transposeA: true });
  const q = G.rows;
  const col = new Float64Array(q * q);
  for (let i = 0; i < q; i++) for (let j = 0; j < q; j++) col[j * q + i] = 0.5 * (G.data[i * q + j] + G.data[j * q + i]);
  const { U } = jacobiSvd({ data: col, rows: q, cols: q }, new Rng(0));
  const V = new Float32Array(q * q);
  for (let i = 0; i < q; i++) for (let j = 0; j < q; j++) V[i * q + j] = U.data[j * q + i];
  return { W, V: matrix(q, q, V) };
}

/** W V_r V_r^T: p x q. */
function rankCoef(W: Matrix, V: Matrix, r: number): Matrix {
  const q = V.rows;
  const Vr = new Float32Array(q * r);
  for (let i = 0; i < q; i++) Vr.set(V.data.subarray(i * q, i * q + r), i * r);
  const vr = matrix(q, r, Vr);
  return matmul(matmul(W, vr), vr, { transposeB: true });
}

/** Reduced-rank regression Y ≈ X W_r + b with rank(W_r) <= rank; `fit` returns this. */
export class ReducedRankRegression extends LinearModel {
  protected readonly label = 'ReducedRankRegression';
  readonly config: RRRConfig;
  /** The rank used (after fit). */
  rank = 0;
  /** Validation MSE for ranks 1..(length) (rank 'auto' only). */
  validationMse: Float32Array = new Float32Array(0);

  constructor(config: Partial<RRRConfig> = {}) {
    super();
    const c: RRRConfig = { rank: 'auto', maxRank: 128, lambda: 1e-6, validation: {}, ...config };
    if (c.rank !== 'auto' && !(Number.isInteger(c.rank) && c.rank >= 1)) throw new ParamError('rank', c.rank, "an integer >= 1 or 'auto'");
    if (!(Number.isInteger(c.maxRank) && c.maxRank >= 1)) throw new ParamError('maxRank', c.maxRank, 'an integer >= 1');
    checkLambda('lambda', c.lambda);
    this.config = c;
  }

  fit(X: Matrix, Y: Matrix): this {
    checkXY(X, Y);
    const cap = Math.min(X.cols, Y.cols);
    let r: number;
    if (this.config.rank === 'auto') {
      const maxRank = Math.min(this.config.maxRank, cap);
      const sp = innerSplit(X.rows, this.config.validation);
      const m = moments(takeRows(X, sp.train), takeRows(Y, sp.train));
      const { W, V } = rrrBasis(m, this.config.lambda);
      const P = matmul(matmul(center(takeRows(X, sp.test), m.xMean), W), V);
      const R = center(takeRows(Y, sp.test), m.yMean).data;
      const q = Y.cols;
      const err = new Float32Array(maxRank);
      for (let k = 0; k < maxRank; k++) {
        let s = 0;
        for (let t = 0; t < P.rows; t++) {
          const pk = P.data[t * q + k];
          for (let j = 0; j < q; j++) {
            const v = (R[t * q + j] -= pk * V.data[j * q + k]);
            s += v * v;
          }
        }
        err[k] = s / R.length;
      }
      this.validationMse = err;
      r = err.indexOf(Math.min(...err)) + 1;
    } else r = Math.min(this.config.rank, cap);
    const m = moments(X, Y);
    const { W, V } = rrrBasis(m, this.config.lambda);
    this.state = { coef: rankCoef(W, V, r), xMean: m.xMean, yMean: m.yMean };
    this.rank = r;
    return this;
  }
}
