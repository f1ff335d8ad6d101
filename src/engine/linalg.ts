/**
 * Linear algebra on big float32 matrices: matmul on ONNX Runtime (MLAS) with a pure-JS fallback,
 * randomized truncated SVD (in memory, or of an operator known only through its products, for
 * matrices streamed from disk), and symmetric positive definite solves (Cholesky, float64).
 *
 * Every matrix is a `Matrix`: float32, row-major, `data[i * cols + j]` is row i, column j.
 */
import { FacemapError, ParamError, ShapeError } from '../errors';
import { Rng } from '../util/random';
import { ColMatrix64, dot64, jacobiSvd, qrInPlace, symmetricEigen } from './dense';
import { cachedSession, float32Tensor, float64Tensor, ortAvailable } from './onnx';
import { matmul64Model, matmulModel } from './onnx-build';

/** Dense float32 matrix, row-major: element (i, j) is `data[i * cols + j]`. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/** A Matrix over `data` (no copy), or zeros when `data` is omitted. */
export function matrix(rows: number, cols: number, data?: Float32Array): Matrix {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new ShapeError(`matrix shape ${rows} x ${cols} is invalid: expected non-negative integers`);
  }
  const d = data ?? new Float32Array(rows * cols);
  if (d.length !== rows * cols) {
    throw new ShapeError(`matrix data has ${d.length} elements, expected rows x cols = ${rows} x ${cols} = ${rows * cols}`);
  }
  return { data: d, rows, cols };
}

/** Transposed copy: cols x rows. */
export function transpose(A: Matrix): Matrix {
  const { rows: m, cols: n, data: a } = A;
  const t = new Float32Array(m * n);
  const B = 32;
  for (let i0 = 0; i0 < m; i0 += B) {
    const i1 = Math.min(m, i0 + B);
    for (let j0 = 0; j0 < n; j0 += B) {
      const j1 = Math.min(n, j0 + B);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) t[j * m + i] = a[i * n + j];
    }
  }
  return { data: t, rows: n, cols: m };
}

function checkMatrix(name: string, A: Matrix): void {
  if (!(A.data instanceof Float32Array) || A.data.length !== A.rows * A.cols) {
    throw new ShapeError(`${name} is ${A.rows} x ${A.cols} but its data has ${A.data?.length} elements (expected a Float32Array of ${A.rows * A.cols})`);
  }
}

/** 'auto': ONNX Runtime when it loads (and the product is not tiny), else JS. */
export type MatmulEngine = 'auto' | 'onnx' | 'js';

export interface MatmulOptions {
  /** Use A^T instead of A. */
  transposeA?: boolean;
  /** Use B^T instead of B. */
  transposeB?: boolean;
  engine?: MatmulEngine;
}

/** Below this many multiply-adds a call into ORT costs more than the loops. */
const ORT_MIN_MACS = 32 * 32 * 32;

/**
 * C = op(A) @ op(B), op(X) = X or X^T. Synchronous on both engines (ORT through its native
 * binding; see onnx.ts).
 * Shapes: op(A) is m x k, op(B) is k x n, C is m x n (new array).
 * @throws ShapeError when the inner dimensions differ; EngineError when engine 'onnx' is forced
 * and ONNX Runtime is unavailable.
 */
export function matmul(A: Matrix, B: Matrix, opts: MatmulOptions = {}): Matrix {
  checkMatrix('A', A);
  checkMatrix('B', B);
  const tA = opts.transposeA ?? false;
  const tB = opts.transposeB ?? false;
  const [m, k] = tA ? [A.cols, A.rows] : [A.rows, A.cols];
  const [k2, n] = tB ? [B.cols, B.rows] : [B.rows, B.cols];
  if (k !== k2) {
    throw new ShapeError(
      `matmul: op(A) is ${m} x ${k} (A ${A.rows} x ${A.cols}${tA ? ', transposed' : ''}) and op(B) is ${k2} x ${n} ` +
        `(B ${B.rows} x ${B.cols}${tB ? ', transposed' : ''}): expected op(B) to have ${k} rows`,
    );
  }
  const engine = opts.engine ?? 'auto';
  if (engine !== 'auto' && engine !== 'onnx' && engine !== 'js') {
    throw new ParamError('engine', engine, "'auto' | 'onnx' | 'js'");
  }
  if (m === 0 || n === 0 || k === 0) return matrix(m, n);
  const useOnnx = engine === 'onnx' || (engine === 'auto' && m * k * n >= ORT_MIN_MACS && ortAvailable());
  return useOnnx ? matmulOnnx(A, B, tA, tB, m, n) : matmulJs(A, B, tA, tB, m, k, n);
}

function matmulOnnx(A: Matrix, B: Matrix, tA: boolean, tB: boolean, m: number, n: number): Matrix {
  const s = cachedSession(`matmul${tA ? '_tA' : ''}${tB ? '_tB' : ''}`, () => matmulModel(tA, tB), { spinning: false });
  const out = s.runSync({ A: float32Tensor(A.data, [A.rows, A.cols]), B: float32Tensor(B.data, [B.rows, B.cols]) }).C;
  return matrix(m, n, out.data as Float32Array);
}

/**
 * Dot-product form on row-major op(A) (m x k) and op(B)^T (n x k), so that both operands are
 * read with unit stride: a 4 x 4 tile of C is held in 16 local (float64) accumulators, each pair
 * of 4 loads feeding 16 multiply-adds; k is blocked so the 8 rows of a tile stay in cache.
 * About 4x faster in V8 than i-p-j loops over rows of C (1.6 vs 0.4 GFLOP/s at 512^3).
 */
function matmulJs(A: Matrix, B: Matrix, tA: boolean, tB: boolean, m: number, k: number, n: number): Matrix {
  const a = tA ? transpose(A).data : A.data;
  const bt = tB ? B.data : transpose(B).data;
  const c = new Float32Array(m * n);
  const KB = 256;
  for (let p0 = 0; p0 < k; p0 += KB) {
    const p1 = Math.min(k, p0 + KB);
    for (let i = 0; i < m; i += 4) {
      const ni = Math.min(4, m - i);
      for (let j = 0; j < n; j += 4) {
        const nj = Math.min(4, n - j);
        if (ni === 4 && nj === 4) tile4x4(a, bt, c, i, j, k, n, p0, p1);
        else edgeTile(a, bt, c, i, j, ni, nj, k, n, p0, p1);
      }
    }
  }
  return { data: c, rows: m, cols: n };
}

function tile4x4(a: Float32Array, bt: Float32Array, c: Float32Array, i: number, j: number, k: number, n: number, p0: number, p1: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
  const b0 = j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
  for (let p = p0; p < p1; p++) {
    const x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p];
    const y0 = bt[b0 + p], y1 = bt[b1 + p], y2 = bt[b2 + p], y3 = bt[b3 + p];
    c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
    c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
    c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
    c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
  }
  let o = i * n + j;
  c[o] += c00; c[o + 1] += c01; c[o + 2] += c02; c[o + 3] += c03;
  o += n;
  c[o] += c10; c[o + 1] += c11; c[o + 2] += c12; c[o + 3] += c13;
  o += n;
  c[o] += c20; c[o + 1] += c21; c[o + 2] += c22; c[o + 3] += c23;
  o += n;
  c[o] += c30; c[o + 1] += c31; c[o + 2] += c32; c[o + 3] += c33;
}

function edgeTile(
  a: Float32Array, bt: Float32Array, c: Float32Array, i: number, j: number, ni: number, nj: number,
  k: number, n: number, p0: number, p1: number,
): void {
  for (let ii = 0; ii < ni; ii++) {
    const ao = (i + ii) * k;
    for (let jj = 0; jj < nj; jj++) {
      const bo = (j + jj) * k;
      let s = 0;
      for (let p = p0; p < p1; p++) s += a[ao + p] * bt[bo + p];
      c[(i + ii) * n + j + jj] += s;
    }
  }
}

/**
 * Matmul throughput in GFLOP/s (2·m·k·n flops per product) of one engine on random m x k and
 * k x n matrices: one warm-up call, then the mean over `reps` calls, copies into and out of the
 * engine included. A benchmark helper, not a test.
 */
export function measureMatmulGflops(engine: 'onnx' | 'js', m: number, k: number, n: number, reps = 3): number {
  const rng = new Rng(1234);
  const A = matrix(m, k, rng.fillNormal(new Float32Array(m * k)));
  const B = matrix(k, n, rng.fillNormal(new Float32Array(k * n)));
  matmul(A, B, { engine });
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < reps; r++) matmul(A, B, { engine });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return (2 * m * k * n * reps) / seconds / 1e9;
}

// ---------------------------------------------------------------------------------------------
// Randomized SVD

/**
 * A rows x cols matrix A known only through its products, e.g. read from HDF5 in blocks.
 * `apply(X)` returns A @ X (X: cols x l, result rows x l); `applyT(Y)` returns A^T @ Y
 * (Y: rows x l, result cols x l). Either may be async.
 */
export interface LinearOperator {
  rows: number;
  cols: number;
  apply(X: Matrix): Matrix | Promise<Matrix>;
  applyT(Y: Matrix): Matrix | Promise<Matrix>;
}

export interface RandomizedSvdOptions {
  /** Extra random directions beyond k (default 10). */
  oversamples?: number;
  /** Power (subspace) iterations, each one A^T then A product (default 4). */
  powerIters?: number;
  /** Seed of the Gaussian test matrix (default 0). */
  seed?: number;
  /** Engine for the products of the in-memory version and for the final small products. */
  engine?: MatmulEngine;
}

/** Options of {@link gramSvd}. */
export interface GramSvdOptions extends RandomizedSvdOptions {
  /**
   * Skip re-orthonormalising the factor on the large side: it is returned as Aᵀ U / S (or A V / S
   * when A is tall), exact as a product but orthonormal only up to float32 rounding amplified by
   * S[0]/S[j]. For callers that use V·S (= Aᵀ U) only. Default false.
   */
  rawV?: boolean;
}

/**
 * Truncated SVD A ≈ U diag(S) V^T.
 * Shapes: U rows x k, S k (descending, >= 0), V cols x k (V, not V^T); U and V have orthonormal
 * columns. Sign convention (as scikit-learn's svd_flip with u_based_decision): in each column of
 * U the entry of largest absolute value (the first such, on ties) is positive; V's column is
 * flipped with it.
 */
export interface SvdResult {
  U: Matrix;
  S: Float32Array;
  V: Matrix;
}

type ProductRequest = { kind: 'A' | 'AT'; X: Matrix };

function validateSvdArgs(rows: number, cols: number, k: number, o: RandomizedSvdOptions) {
  if (!Number.isInteger(k) || k < 1 || k > Math.min(rows, cols)) {
    throw new ParamError('k', k, `an integer in [1, min(rows, cols)] = [1, ${Math.min(rows, cols)}] for a ${rows} x ${cols} matrix`);
  }
  const oversamples = o.oversamples ?? 10;
  if (!Number.isInteger(oversamples) || oversamples < 0) throw new ParamError('oversamples', oversamples, 'an integer >= 0');
  const powerIters = o.powerIters ?? 4;
  if (!Number.isInteger(powerIters) || powerIters < 0) throw new ParamError('powerIters', powerIters, 'an integer >= 0');
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ParamError('seed', seed, 'an integer');
  return { l: Math.min(k + oversamples, rows, cols), powerIters, seed, engine: o.engine ?? 'auto' };
}

function toCol64(A: Matrix): ColMatrix64 {
  const { rows: m, cols: n, data } = A;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = data[i * n + j];
  return { data: out, rows: m, cols: n };
}

/** First `cols` columns of a column-major float64 matrix as a row-major float32 Matrix. */
function fromCol64(A: ColMatrix64, cols = A.cols): Matrix {
  const { rows: m, data } = A;
  const out = new Float32Array(m * cols);
  for (let j = 0; j < cols; j++) for (let i = 0; i < m; i++) out[i * cols + j] = data[j * m + i];
  return { data: out, rows: m, cols };
}

function orthonormalizeDense(Y: Matrix, rng: Rng): Matrix {
  const q = toCol64(Y);
  qrInPlace(q, rng);
  return fromCol64(q);
}

/** Columns c0..c1-1 of A (rows x (c1 - c0)). */
function columns(A: Matrix, c0: number, c1: number): Matrix {
  const w = c1 - c0;
  const out = new Float32Array(A.rows * w);
  for (let i = 0; i < A.rows; i++) out.set(A.data.subarray(i * A.cols + c0, i * A.cols + c1), i * w);
  return { data: out, rows: A.rows, cols: w };
}

/** P - Q (Q^T P), the two products on the matmul engine. */
function projectOut(Q: Matrix, P: Matrix, engine: MatmulEngine): Matrix {
  const QQtP = matmul(Q, matmul(Q, P, { transposeA: true, engine }), { engine });
  const out = new Float32Array(P.data.length);
  for (let i = 0; i < out.length; i++) out[i] = P.data[i] - QQtP.data[i];
  return { data: out, rows: P.rows, cols: P.cols };
}

export interface OrthonormalizeOptions {
  /** Seed for the random columns that replace numerically dependent ones (default 0). */
  seed?: number;
  /** Columns per panel of the blocked algorithm (default 32). */
  panel?: number;
  /** Below this many rows (default 2048) the whole matrix goes through float64 Gram-Schmidt. */
  blockedMinRows?: number;
  engine?: MatmulEngine;
}

/**
 * Orthonormal basis Q (rows x cols, rows >= cols) of the columns of Y (rows x cols), as the Q of
 * a thin QR; numerically dependent columns are replaced by random directions, so Q always has
 * orthonormal columns. Tall matrices use BCGS2 (Barlow & Smoktunowicz 2013): each panel of
 * columns is projected off the previous panels with two matmuls (ORT), orthonormalised by
 * float64 Gram-Schmidt, and the pair repeated once, which moves most of the O(rows · cols²) work
 * from JS loops to the matmul engine. Orthogonality: ~1e-7 (float32) on the blocked path.
 */
export function orthonormalizeColumns(Y: Matrix, opts: OrthonormalizeOptions = {}): Matrix {
  checkMatrix('Y', Y);
  if (Y.rows < Y.cols) throw new ShapeError(`orthonormalizeColumns: Y is ${Y.rows} x ${Y.cols}, expected rows >= cols`);
  const panel = opts.panel ?? 32;
  if (!Number.isInteger(panel) || panel < 1) throw new ParamError('panel', panel, 'an integer >= 1');
  return orthonormalize(Y, new Rng(opts.seed ?? 0), opts.engine ?? 'auto', panel, opts.blockedMinRows ?? 2048);
}

function orthonormalize(Y: Matrix, rng: Rng, engine: MatmulEngine, panel = 32, blockedMinRows = 2048): Matrix {
  const l = Y.cols;
  if (Y.rows < blockedMinRows || l <= panel) return orthonormalizeDense(Y, rng);
  const Q = new Float32Array(Y.rows * l);
  let done: Matrix | null = null;
  for (let c0 = 0; c0 < l; c0 += panel) {
    const c1 = Math.min(l, c0 + panel);
    let P = columns(Y, c0, c1);
    for (let pass = 0; pass < 2; pass++) {
      if (done) P = projectOut(done, P, engine);
      P = orthonormalizeDense(P, rng);
    }
    for (let i = 0; i < Y.rows; i++) Q.set(P.data.subarray(i * P.cols, (i + 1) * P.cols), i * l + c0);
    done = c1 < l ? columns({ data: Q, rows: Y.rows, cols: l }, 0, c1) : null;
  }
  return { data: Q, rows: Y.rows, cols: l };
}

/**
 * Halko, Martinsson & Tropp (2011), algorithms 4.4 (power iterations with re-orthonormalisation)
 * and 5.1, written as a generator that yields each product it needs, so that one body serves
 * synchronous and asynchronous operators. The core avoids forming B B^T: with B = Q^T A and
 * B^T = Qb Rb (thin QR), B = Rb^T Qb^T, so the SVD of the small l x l matrix Rb^T = Ur S Wr^T
 * (one-sided Jacobi, float64) gives U = Q Ur and V = Qb Wr.
 */
function* randomizedSvdSteps(
  rows: number,
  cols: number,
  k: number,
  o: RandomizedSvdOptions,
): Generator<ProductRequest, SvdResult, Matrix> {
  const { l, powerIters, seed, engine } = validateSvdArgs(rows, cols, k, o);
  const rng = new Rng(seed);
  const omega = matrix(cols, l, rng.fillNormal(new Float32Array(cols * l)));
  let Q = orthonormalize(checkProduct('apply', yield { kind: 'A', X: omega }, rows, l), rng, engine);
  for (let it = 0; it < powerIters; it++) {
    const Z = orthonormalize(checkProduct('applyT', yield { kind: 'AT', X: Q }, cols, l), rng, engine);
    Q = orthonormalize(checkProduct('apply', yield { kind: 'A', X: Z }, rows, l), rng, engine);
  }
  const Bt = toCol64(checkProduct('applyT', yield { kind: 'AT', X: Q }, cols, l));
  const R = qrInPlace(Bt, rng);
  // Rb^T, column-major: element (i, j) of Rb^T is R[j][i], stored at R.data[i * l + j] (col-major R)
  const Rt = new Float64Array(l * l);
  for (let i = 0; i < l; i++) for (let j = 0; j < l; j++) Rt[j * l + i] = R.data[i * l + j];
  const { U: Ur, S, W: Wr } = jacobiSvd({ data: Rt, rows: l, cols: l }, rng);
  const U = matmul(Q, fromCol64(Ur, k), { engine });
  const V = matmul(fromCol64(Bt), fromCol64(Wr, k), { engine });
  const s = Float32Array.from(S.subarray(0, k));
  flipSigns(U, V);
  return { U, S: s, V };
}

function checkProduct(which: 'apply' | 'applyT', P: Matrix, rows: number, cols: number): Matrix {
  if (!P || P.rows !== rows || P.cols !== cols || !(P.data instanceof Float32Array) || P.data.length !== rows * cols) {
    throw new ShapeError(
      `operator.${which} returned ${P ? `${P.rows} x ${P.cols} (${P.data?.length} elements)` : String(P)}, expected ${rows} x ${cols}`,
    );
  }
  return P;
}

/**
 * svd_flip, U-based, in place: the largest-|value| entry of each U column positive (first on ties);
 * V's column (when given) follows.
 */
export function flipSigns(U: Matrix, V?: Matrix): void {
  const k = U.cols;
  for (let j = 0; j < k; j++) {
    let best = 0;
    let bestAbs = -1;
    for (let i = 0; i < U.rows; i++) {
      const a = Math.abs(U.data[i * k + j]);
      if (a > bestAbs) {
        bestAbs = a;
        best = i;
      }
    }
    if (U.data[best * k + j] < 0) {
      for (let i = 0; i < U.rows; i++) U.data[i * k + j] = -U.data[i * k + j];
      if (V) for (let i = 0; i < V.rows; i++) V.data[i * k + j] = -V.data[i * k + j];
    }
  }
}

/**
 * Randomized truncated SVD of an operator whose products may be async (blocks read from disk).
 * Costs 2·powerIters + 2 passes over A: (powerIters + 1) `apply` and (powerIters + 1) `applyT`
 * calls, each with l = min(k + oversamples, rows, cols) columns. Memory beyond the operator:
 * O((rows + cols) · l). Deterministic for a given seed (and engine thread count).
 * @returns U (rows x k), S (k), V (cols x k); sign convention in `SvdResult`.
 */
export async function randomizedSvdOperator(op: LinearOperator, k: number, opts: RandomizedSvdOptions = {}): Promise<SvdResult> {
  const steps = randomizedSvdSteps(op.rows, op.cols, k, opts);
  let r = steps.next();
  while (!r.done) {
    const req = r.value;
    r = steps.next(await (req.kind === 'A' ? op.apply(req.X) : op.applyT(req.X)));
  }
  return r.value;
}

/** As `randomizedSvdOperator`, for an operator whose products are synchronous. */
export function randomizedSvdOperatorSync(op: LinearOperator, k: number, opts: RandomizedSvdOptions = {}): SvdResult {
  const steps = randomizedSvdSteps(op.rows, op.cols, k, opts);
  let r = steps.next();
  while (!r.done) {
    const req = r.value;
    const P = req.kind === 'A' ? op.apply(req.X) : op.applyT(req.X);
    if (P instanceof Promise) {
      throw new ParamError('operator', 'a Promise-returning operator', 'synchronous products (use randomizedSvdOperator)');
    }
    r = steps.next(P);
  }
  return r.value;
}

/**
 * Randomized truncated SVD of an in-memory matrix A (rows x cols), products on `opts.engine`.
 * @returns U (rows x k), S (k, descending), V (cols x k); A ≈ U diag(S) V^T.
 */
export function randomizedSvd(A: Matrix, k: number, opts: RandomizedSvdOptions = {}): SvdResult {
  checkMatrix('A', A);
  const engine = opts.engine ?? 'auto';
  return randomizedSvdOperatorSync(
    {
      rows: A.rows,
      cols: A.cols,
      apply: (X) => matmul(A, X, { engine }),
      applyT: (Y) => matmul(A, Y, { transposeA: true, engine }),
    },
    k,
    opts,
  );
}

/**
 * Truncated SVD of an in-memory matrix A (rows x cols) with one small side, e.g. a chunk of
 * frames x pixels, through its Gram matrix G = A A^T (rows x rows, one product on `opts.engine`;
 * a tall A, rows > cols, goes through its transpose, G = A^T A):
 * subspace iteration on G (Halko et al. 2011, alg. 4.4 with G in place of A; each iteration
 * multiplies by A A^T, so `powerIters` = q gives the range of (A A^T)^(q+1) Ω, against
 * (A A^T)^q A Ω for `randomizedSvd`), Rayleigh-Ritz on Q^T G Q (l x l, float64 symmetric
 * eigendecomposition by Householder + QL, much cheaper than Jacobi), U = Q W, S = sqrt(λ),
 * V = A^T U diag(1/S). The orthonormalisations are of rows x l matrices only, not cols x l.
 * Accuracy: G is formed in float32, so singular values below ~1e-3·S[0] (eigenvalues below
 * ~1e-6·λ[0]) and their vectors carry larger relative error than with `randomizedSvd`. V is
 * re-orthonormalised (columns for S = 0 become random orthonormal directions), so U and V have
 * orthonormal columns. Same sign convention as `randomizedSvd` (see `SvdResult`).
 * @returns U (rows x k), S (k, descending), V (cols x k).
 */
export function gramSvd(A: Matrix, k: number, opts: GramSvdOptions = {}): SvdResult {
  checkMatrix('A', A);
  if (A.rows > A.cols) {
    const r = gramSvd(transpose(A), k, opts);
    flipSigns(r.V, r.U);
    return { U: r.V, S: r.S, V: r.U };
  }
  const { rows: n, cols } = A;
  const { l, powerIters, seed, engine } = validateSvdArgs(n, cols, k, opts);
  const rng = new Rng(seed);
  const G = gramRows(A, engine);
  let Q: Matrix;
  if (l === n) {
    Q = matrix(n, n);
    for (let i = 0; i < n; i++) Q.data[i * n + i] = 1;
  } else {
    const omega = matrix(n, l, rng.fillNormal(new Float32Array(n * l)));
    // Shifted Cholesky QR (products on the matmul engine); the blocked Gram-Schmidt (BCGS2, JS
    // panels) only where it fails, i.e. for (numerically) rank-deficient G Q.
    // Between power iterations a well-conditioned basis is enough (two passes); the last is orthonormal.
    const orth = (Y: Matrix, last: boolean): Matrix => choleskyQr3(Y, engine, last ? 3 : 2) ?? orthonormalize(Y, rng, engine, 32, 512);
    Q = orth(matmul(G, omega, { engine }), powerIters === 0);
    for (let it = 0; it < powerIters; it++) Q = orth(matmul(G, Q, { engine }), it === powerIters - 1);
  }
  const GQ = matmul(G, Q, { engine });
  // T = Q^T G Q (matmul engine), symmetrised in float64, column-major
  const Tf = matmul(Q, GQ, { transposeA: true, engine }).data;
  const T = new Float64Array(l * l);
  for (let i = 0; i < l; i++) {
    for (let j = i; j < l; j++) {
      const s = 0.5 * (Tf[i * l + j] + Tf[j * l + i]);
      T[j * l + i] = s;
      T[i * l + j] = s;
    }
  }
  const { vectors: Wt, values: lam } = symmetricEigen({ data: T, rows: l, cols: l });
  const U = matmul(Q, fromCol64(Wt, k), { engine });
  const s = new Float32Array(k);
  for (let j = 0; j < k; j++) s[j] = Math.sqrt(Math.max(0, lam[j]));
  let V = matmul(A, U, { transposeA: true, engine });
  const tiny = 1e-7 * (s[0] || 0);
  for (let j = 0; j < k; j++) {
    const inv = s[j] > tiny && s[j] > 0 ? 1 / s[j] : 0;
    for (let i = 0; i < cols; i++) V.data[i * k + j] *= inv;
  }
  // A^T U / S loses orthogonality for small S (error ~ (S[0]/S[j])² float32 rounding) and is zero
  // for S = 0: re-orthonormalise. Where VᵀV is within 1e-3 of I, one Löwdin step (products only;
  // every column moves by less than ~1e-3); else in column order (leading columns keep their
  // direction and sign, dependent ones become random orthogonal directions) by one Cholesky QR
  // (Gram matrix on the matmul engine), with the general QR as the fallback.
  if (!opts.rawV) V = lowdinPass(V, engine, 1e-3) ?? choleskyQrNearOrthonormal(V, engine) ?? orthonormalize(V, rng, engine);
  flipSigns(U, V);
  return { U, S: s, V };
}

/**
 * Orthonormal basis Q (rows x k) of the dominant k-dimensional left singular subspace of a wide
 * A (rows <= cols), without the singular vectors themselves: subspace iteration on G = A Aᵀ
 * (as in {@link gramSvd}, `powerIters` q gives the range of G^(q+1) Ω, Ω rows x k Gaussian, no
 * oversampling) with shifted Cholesky QR. For callers that need only the projection of A onto
 * that subspace, Aᵀ Q (cols x k), whose Gram matrix Aᵀ Q Qᵀ A does not depend on the basis: it
 * skips the Rayleigh-Ritz eigendecomposition. Q = I (all of A's row space) when k = rows.
 * @throws ShapeError for a tall A; ParamError for bad k or options.
 */
export function gramRangeFinder(A: Matrix, k: number, opts: RandomizedSvdOptions = {}): Matrix {
  checkMatrix('A', A);
  if (A.rows > A.cols) throw new ShapeError(`gramRangeFinder: A is ${A.rows} x ${A.cols}, expected rows <= cols (use its transpose)`);
  const n = A.rows;
  const { powerIters, seed, engine } = validateSvdArgs(n, A.cols, k, { ...opts, oversamples: 0 });
  if (k === n) {
    const I = matrix(n, n);
    for (let i = 0; i < n; i++) I.data[i * n + i] = 1;
    return I;
  }
  const rng = new Rng(seed);
  const G = gramRows(A, engine);
  const orth = (Y: Matrix, last: boolean): Matrix => choleskyQr3(Y, engine, last ? 3 : 2) ?? orthonormalize(Y, rng, engine, 32, 512);
  let Q = orth(matmul(G, matrix(n, k, rng.fillNormal(new Float32Array(n * k))), { engine }), powerIters === 0);
  for (let it = 0; it < powerIters; it++) Q = orth(matmul(G, Q, { engine }), it === powerIters - 1);
  return Q;
}

/**
 * One Cholesky QR pass: W = YᵀY (matmul engine) + shift·I, W = RᵀR (float64), returns Y R⁻¹ (matmul
 * engine), or null when a pivot is at most `minPivot` times the largest diagonal of W.
 */
function choleskyQrPass(Y: Matrix, engine: MatmulEngine, shiftRel: number, minPivot: number): Matrix | null {
  const k = Y.cols;
  const W = matmul(Y, Y, { transposeA: true, engine }).data;
  let maxDiag = 0;
  for (let j = 0; j < k; j++) maxDiag = Math.max(maxDiag, W[j * k + j]);
  if (!(maxDiag > 0) || !Number.isFinite(maxDiag)) return null;
  const Rinv = choleskyRinv(W, k, shiftRel * maxDiag, minPivot * maxDiag, engine);
  return Rinv && matmul(Y, { data: Rinv, rows: k, cols: k }, { engine });
}

/** Below this size the unblocked JS Cholesky of {@link choleskyRinv} is as fast as the blocked one. */
const BLOCKED_CHOLESKY_MIN = 160;
/** Block size of {@link choleskyRinvBlocked}. */
const CHOL_NB = 64;

/** C = A B in float64 on ONNX Runtime (A m x k, B k x n, row-major). */
function matmul64(A: Float64Array, B: Float64Array, m: number, k: number, n: number): Float64Array {
  const s = cachedSession('matmul64', matmul64Model, { spinning: false });
  return s.runSync({ A: float64Tensor(A, [m, k]), B: float64Tensor(B, [k, n]) }).C.data as Float64Array;
}

/** Rows r0..r1-1, columns c0..c1-1 of a row-major float64 matrix with `stride` columns, as a new array. */
function block64(A: Float64Array, stride: number, r0: number, r1: number, c0: number, c1: number): Float64Array {
  const w = c1 - c0;
  const out = new Float64Array((r1 - r0) * w);
  for (let i = r0; i < r1; i++) out.set(A.subarray(i * stride + c0, i * stride + c1), (i - r0) * w);
  return out;
}

/**
 * {@link choleskyRinv} by blocks of CHOL_NB, in float64 throughout: each diagonal block is factored
 * and inverted in JS (unblocked, dot-product form), and everything else, the panel L21 = A21 L11⁻ᵀ,
 * the trailing update A22 -= L21 L21ᵀ and the off-diagonal blocks of L⁻¹, is a float64 matrix
 * product on ONNX Runtime (MLAS DGEMM). Same pivots as the unblocked factorisation (the Schur
 * complements), so the same failures; ~8x faster at k = 510 (JS does O(k · CHOL_NB²) of the k³/3).
 */
function choleskyRinvBlocked(W: Float32Array, k: number, shift: number, minPivot: number): Float32Array | null {
  const A = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      const v = 0.5 * (W[i * k + j] + W[j * k + i]);
      A[i * k + j] = v;
      A[j * k + i] = v;
    }
    A[i * k + i] += shift;
  }
  const invs: Float64Array[] = [];
  for (let j0 = 0; j0 < k; j0 += CHOL_NB) {
    const j1 = Math.min(k, j0 + CHOL_NB);
    const nb = j1 - j0;
    // factor the (updated) diagonal block: L11 (nb x nb, row-major), then its inverse
    const L11 = choleskyLower(nb, minPivot, (i, j) => A[(j0 + i) * k + j0 + j]);
    if (!L11) return null;
    const invT = lowerInverseT(L11, nb); // (L11⁻¹)ᵀ
    const inv = transpose64(invT, nb, nb);
    invs.push(inv);
    for (let i = 0; i < nb; i++) A.set(L11.subarray(i * nb, i * nb + i + 1), (j0 + i) * k + j0);
    if (j1 === k) break;
    // panel L21 = A21 L11⁻ᵀ ((k - j1) x nb), then A22 -= L21 L21ᵀ
    const m = k - j1;
    const L21 = matmul64(block64(A, k, j1, k, j0, j1), invT, m, nb, nb);
    for (let i = 0; i < m; i++) A.set(L21.subarray(i * nb, (i + 1) * nb), (j1 + i) * k + j0);
    const S = matmul64(L21, transpose64(L21, m, nb), m, nb, m);
    for (let i = 0; i < m; i++) {
      const ao = (j1 + i) * k + j1;
      const so = i * m;
      for (let j = 0; j <= i; j++) A[ao + j] -= S[so + j];
    }
  }
  // T = L⁻¹ by block rows: T_ii = L_ii⁻¹, T[i, 0:i] = -T_ii (L[i, 0:i] T[0:i, 0:i])
  const T = new Float64Array(k * k);
  invs.forEach((inv, b) => {
    const i0 = b * CHOL_NB;
    const nb = Math.min(k, i0 + CHOL_NB) - i0;
    for (let i = 0; i < nb; i++) T.set(inv.subarray(i * nb, i * nb + i + 1), (i0 + i) * k + i0);
    if (i0 === 0) return;
    const X = matmul64(block64(A, k, i0, i0 + nb, 0, i0), block64(T, k, 0, i0, 0, i0), nb, i0, i0);
    const Y = matmul64(inv, X, nb, nb, i0);
    for (let i = 0; i < nb; i++) for (let j = 0; j < i0; j++) T[(i0 + i) * k + j] = -Y[i * i0 + j];
  });
  // R⁻¹ = (L⁻¹)ᵀ
  const Rinv = new Float32Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) Rinv[j * k + i] = T[i * k + j];
  return Rinv;
}

/**
 * Lower Cholesky factor L (n x n, row-major float64) of the symmetric matrix whose lower triangle
 * is `a(i, j)` (i >= j), or null when a pivot (L[j][j]²) is at most `minPivot`. Dot-product form.
 */
function choleskyLower(n: number, minPivot: number, a: (i: number, j: number) => number): Float64Array | null {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const jo = j * n;
    const d = a(j, j) - dot64(L, jo, L, jo, j);
    if (!(d > minPivot)) return null;
    const ljj = Math.sqrt(d);
    L[jo + j] = ljj;
    for (let i = j + 1; i < n; i++) L[i * n + j] = (a(i, j) - dot64(L, i * n, L, jo, j)) / ljj;
  }
  return L;
}

/**
 * (L⁻¹)ᵀ (upper triangular, row-major) of a lower triangular L (n x n, row-major float64), by
 * forward substitution in dot-product form (both operands unit stride):
 * T[c][i] = L⁻¹[i][c] = -(sum_{p=c}^{i-1} L[i][p] T[c][p]) / L[i][i].
 */
function lowerInverseT(L: Float64Array, n: number): Float64Array {
  const T = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const io = i * n;
    const inv = 1 / L[io + i];
    T[io + i] = inv;
    for (let c = 0; c < i; c++) T[c * n + i] = -dot64(L, io + c, T, c * n + c, i - c) * inv;
  }
  return T;
}

/** Transpose of a row-major rows x cols float64 matrix. */
function transpose64(A: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = A[i * cols + j];
  return out;
}

/**
 * R⁻¹ (k x k, row-major float32, upper triangular) of the Cholesky factor R of sym(W) + shift·I
 * (W row-major, k x k; sym(W) = (W + Wᵀ)/2, float64 arithmetic), or null when a pivot (squared
 * diagonal of R) is at most `minPivot`. From k = BLOCKED_CHOLESKY_MIN on, blocked with float64
 * products on ONNX Runtime (unless `engine` is 'js' or ORT is unavailable).
 */
function choleskyRinv(W: Float32Array, k: number, shift: number, minPivot: number, engine: MatmulEngine = 'auto'): Float32Array | null {
  if (k >= BLOCKED_CHOLESKY_MIN && engine !== 'js' && ortAvailable()) return choleskyRinvBlocked(W, k, shift, minPivot);
  const L = choleskyLower(k, minPivot, (i, j) => 0.5 * (W[i * k + j] + W[j * k + i]) + (i === j ? shift : 0));
  // R⁻¹ = (Lᵀ)⁻¹ = (L⁻¹)ᵀ
  return L && Float32Array.from(lowerInverseT(L, k));
}

/**
 * Orthonormal basis of the columns of Y (rows >= cols) by shifted Cholesky QR 3 (Fukaya et al.
 * 2020): a first pass with a small shift (1e-6 of the largest squared column norm) always
 * factors and leaves a matrix of condition number at most ~1e3, which two plain passes make
 * orthonormal to float32 rounding; every product is on the matmul engine, only the cols x cols
 * Cholesky is in JS. Spans the same space as Y when Y has full numerical rank (condition number
 * below ~1e5); returns null otherwise (a pivot of a later pass collapses), for the caller's general QR.
 */
function choleskyQr3(Y: Matrix, engine: MatmulEngine, passes: 2 | 3 = 3): Matrix | null {
  if (Y.rows < Y.cols) return null;
  const Y1 = choleskyQrPass(Y, engine, 1e-6, 1e-7);
  const Y2 = Y1 && choleskyQrPass(Y1, engine, 0, 1e-4);
  return passes === 2 || !Y2 ? Y2 : lowdinPass(Y2, engine);
}

/**
 * Last pass of {@link choleskyQr3}, for a Y whose Gram matrix W = YᵀY is I + E with small E:
 * Y (I + E)^(-1/2) ≈ Y (I - E/2 + 3E²/8) (Löwdin's symmetric orthonormalisation to second
 * order: orthonormal up to O(|E|³)), all on the matmul engine. Null when |E| is not small
 * (max |entry| >= `maxOff`, default 0.05), for the caller's general QR.
 */
function lowdinPass(Y: Matrix, engine: MatmulEngine, maxOff = 0.05): Matrix | null {
  const k = Y.cols;
  const W = matmul(Y, Y, { transposeA: true, engine }).data;
  const E = new Float32Array(k * k);
  let maxE = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const e = 0.5 * (W[i * k + j] + W[j * k + i]) - (i === j ? 1 : 0);
      E[i * k + j] = e;
      maxE = Math.max(maxE, Math.abs(e));
    }
  }
  if (!(maxE < maxOff)) return null;
  const E2 = matmul({ data: E, rows: k, cols: k }, { data: E, rows: k, cols: k }, { engine }).data;
  const M = new Float32Array(k * k);
  for (let i = 0; i < k * k; i++) M[i] = -0.5 * E[i] + 0.375 * E2[i];
  for (let i = 0; i < k; i++) M[i * k + i] += 1;
  return matmul(Y, { data: M, rows: k, cols: k }, { engine });
}

/**
 * G = A Aᵀ (rows x rows), exactly symmetric: with A split into row blocks A1, A2, the products
 * A1 A1ᵀ, A2 A1ᵀ and A2 A2ᵀ on the matmul engine (3/4 of the multiply-adds of one A Aᵀ); the
 * diagonal blocks are symmetrised (float32 products are symmetric only to rounding).
 */
function gramRows(A: Matrix, engine: MatmulEngine): Matrix {
  const { rows: n, cols: c } = A;
  const h = n >= 256 ? Math.ceil(n / 2) : n;
  const G = new Float32Array(n * n);
  const blocks: [number, number][] = h < n ? [[0, h], [h, n]] : [[0, n]];
  const rowsOf = (r0: number, r1: number): Matrix => ({ data: A.data.subarray(r0 * c, r1 * c), rows: r1 - r0, cols: c });
  blocks.forEach(([i0, i1], bi) => {
    for (let bj = 0; bj <= bi; bj++) {
      const [j0, j1] = blocks[bj];
      const P = matmul(rowsOf(i0, i1), rowsOf(j0, j1), { transposeB: true, engine }).data;
      const w = j1 - j0;
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < (bi === bj ? i + 1 : j1); j++) {
          const v = bi === bj ? 0.5 * (P[(i - i0) * w + (j - j0)] + P[(j - i0) * w + (i - j0)]) : P[(i - i0) * w + (j - j0)];
          G[i * n + j] = v;
          G[j * n + i] = v;
        }
      }
    }
  });
  return { data: G, rows: n, cols: n };
}

/**
 * Q of a thin QR of a matrix whose columns are already nearly orthonormal (Gram matrix within
 * 0.5 of the identity on its diagonal, well conditioned), by one Cholesky QR: W = VᵀV on the
 * matmul engine, W = RᵀR in float64, Q = V R⁻¹. Same Q as Gram-Schmidt in column order (R has a
 * positive diagonal, so leading columns keep direction and sign). Returns null when V is not
 * near orthonormal enough (zero or dependent columns), for the caller's general QR.
 */
function choleskyQrNearOrthonormal(V: Matrix, engine: MatmulEngine): Matrix | null {
  const k = V.cols;
  const W = matmul(V, V, { transposeA: true, engine }).data;
  for (let j = 0; j < k; j++) if (!(Math.abs(W[j * k + j] - 1) < 0.5)) return null;
  // pivot > 0.25: condition number of V > ~4 means not near orthonormal
  const Rinv = choleskyRinv(W, k, 0, 0.25, engine);
  return Rinv && matmul(V, { data: Rinv, rows: k, cols: k }, { engine });
}

// ---------------------------------------------------------------------------------------------
// Symmetric positive definite solves

/** A is not (numerically) positive definite. */
export class NotPositiveDefiniteError extends FacemapError {
  constructor(
    readonly pivotIndex: number,
    readonly pivot: number,
    readonly n: number,
  ) {
    super(
      `matrix (${n} x ${n}) is not positive definite: Cholesky pivot ${pivotIndex} is ${pivot.toExponential(3)}; ` +
        'expected a symmetric positive definite matrix (add a ridge lambda·I, or pass { jitter: true })',
    );
  }
}

export interface CholeskyOptions {
  /**
   * When A is singular or indefinite to working precision, retry with A + δI, δ = 1e-10·mean(diag A)
   * growing tenfold up to 1e-4·mean(diag A) (scikit-learn/GPy style); the δ used is reported in
   * the factor. Default false: throw NotPositiveDefiniteError.
   */
  jitter?: boolean;
}

/** Lower-triangular L (n x n, row-major float64) with A + jitter·I = L L^T. */
export interface CholeskyFactor {
  L: Float64Array;
  n: number;
  jitter: number;
}

/**
 * Cholesky factor of a symmetric positive definite A (n x n), in float64. Only the lower
 * triangle is read, after checking that A is symmetric to 1e-4 of its largest |entry| (float32
 * products such as X^T X are symmetric only to rounding). A pivot at most n·eps·max(diag A)
 * counts as not positive definite (a semidefinite A would otherwise give a factor of noise).
 * @throws ShapeError (not square), ParamError (not symmetric), NotPositiveDefiniteError.
 */
export function cholesky(A: Matrix, opts: CholeskyOptions = {}): CholeskyFactor {
  checkMatrix('A', A);
  const n = A.rows;
  if (A.cols !== n) throw new ShapeError(`cholesky: A is ${A.rows} x ${A.cols}, expected a square matrix`);
  const a = A.data;
  let maxAbs = 0;
  let maxDiag = 0;
  let trace = 0;
  for (let i = 0; i < n * n; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i]));
  for (let i = 0; i < n; i++) {
    maxDiag = Math.max(maxDiag, a[i * n + i]);
    trace += a[i * n + i];
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (Math.abs(a[i * n + j] - a[j * n + i]) > 1e-4 * maxAbs) {
        throw new ParamError(`A[${i}][${j}] vs A[${j}][${i}]`, [a[i * n + j], a[j * n + i]], 'a symmetric matrix (to 1e-4 of max |A|)');
      }
    }
  }
  const tol = n * 2.220446049250313e-16 * maxDiag;
  const meanDiag = n > 0 ? trace / n : 0;
  let jitter = 0;
  for (;;) {
    const r = tryCholesky(a, n, jitter, tol);
    if (r instanceof Float64Array) return { L: r, n, jitter };
    if (!opts.jitter || !(meanDiag > 0)) throw new NotPositiveDefiniteError(r.index, r.pivot, n);
    jitter = jitter === 0 ? 1e-10 * meanDiag : jitter * 10;
    if (jitter > 1e-4 * meanDiag * 1.0001) throw new NotPositiveDefiniteError(r.index, r.pivot, n);
  }
}

function tryCholesky(a: Float32Array, n: number, jitter: number, tol: number): Float64Array | { index: number; pivot: number } {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const jo = j * n;
    let d = a[jo + j] + jitter;
    for (let p = 0; p < j; p++) d -= L[jo + p] * L[jo + p];
    if (!(d > tol)) return { index: j, pivot: d };
    const ljj = Math.sqrt(d);
    L[jo + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const io = i * n;
      let s = a[io + j];
      for (let p = 0; p < j; p++) s -= L[io + p] * L[jo + p];
      L[io + j] = s / ljj;
    }
  }
  return L;
}

/**
 * Solves (L L^T) X = B for a Cholesky factor of an n x n matrix; B is n x m, X is n x m.
 * @throws ShapeError when B does not have n rows.
 */
export function choleskySolve(f: CholeskyFactor, B: Matrix): Matrix {
  checkMatrix('B', B);
  const { L, n } = f;
  if (B.rows !== n) throw new ShapeError(`choleskySolve: A is ${n} x ${n} and B is ${B.rows} x ${B.cols}: expected B to have ${n} rows`);
  const m = B.cols;
  const y = Float64Array.from(B.data);
  for (let i = 0; i < n; i++) {
    const yo = i * m;
    for (let p = 0; p < i; p++) {
      const l = L[i * n + p];
      if (l === 0) continue;
      const po = p * m;
      for (let j = 0; j < m; j++) y[yo + j] -= l * y[po + j];
    }
    const inv = 1 / L[i * n + i];
    for (let j = 0; j < m; j++) y[yo + j] *= inv;
  }
  for (let i = n - 1; i >= 0; i--) {
    const yo = i * m;
    for (let p = i + 1; p < n; p++) {
      const l = L[p * n + i];
      if (l === 0) continue;
      const po = p * m;
      for (let j = 0; j < m; j++) y[yo + j] -= l * y[po + j];
    }
    const inv = 1 / L[i * n + i];
    for (let j = 0; j < m; j++) y[yo + j] *= inv;
  }
  return matrix(n, m, Float32Array.from(y));
}

/**
 * Solves A X = B for symmetric positive definite A (n x n), e.g. X^T X + λI of ridge regression;
 * B is n x m, X is n x m. Cholesky in float64; see `cholesky` for the checks and `jitter`.
 * @throws ShapeError (A not square, or B rows ≠ n), ParamError, NotPositiveDefiniteError.
 */
export function solveSymmetric(A: Matrix, B: Matrix, opts: CholeskyOptions = {}): Matrix {
  checkMatrix('A', A);
  checkMatrix('B', B);
  if (A.rows !== A.cols) throw new ShapeError(`solveSymmetric: A is ${A.rows} x ${A.cols}, expected a square matrix`);
  if (B.rows !== A.rows) {
    throw new ShapeError(`solveSymmetric: A is ${A.rows} x ${A.cols} and B is ${B.rows} x ${B.cols}: expected B to have ${A.rows} rows`);
  }
  return choleskySolve(cholesky(A, opts), B);
}
