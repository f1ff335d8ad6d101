/**
 * Tolerances (float32 storage, float64 small kernels):
 * - matmul: |C - C_ref| <= 1e-5 * sqrt(k) * max|C_ref| against float64 loops, on N(0,1) inputs.
 * - randomized SVD of exactly low-rank input: singular values to 1e-4 relative, |u_j . u_true_j|
 *   and |v_j . v_true_j| >= 1 - 1e-4, U^T U and V^T V equal I to 1e-5.
 * - decaying full-rank spectrum: top-k singular values to 1e-4 relative of the exact ones.
 * - solveSymmetric: ||A X - B|| / ||B|| < 1e-5.
 */
import * as assert from 'node:assert/strict';
import { ParamError, ShapeError } from '../../src/errors';
import { Rng } from '../../src/util/random';
import { jacobiSvd, qrInPlace, symmetricEigen } from '../../src/engine/dense';
import { ortAvailable } from '../../src/engine/onnx';
import {
  cholesky,
  gramSvd,
  gramRangeFinder,
  Matrix,
  matmul,
  matrix,
  measureMatmulGflops,
  NotPositiveDefiniteError,
  orthonormalizeColumns,
  randomizedSvd,
  randomizedSvdOperator,
  randomizedSvdOperatorSync,
  solveSymmetric,
  transpose,
} from '../../src/engine/linalg';

function randn(rng: Rng, rows: number, cols: number): Matrix {
  return matrix(rows, cols, rng.fillNormal(new Float32Array(rows * cols)));
}

function naive(A: Matrix, B: Matrix, tA: boolean, tB: boolean): Float64Array {
  const m = tA ? A.cols : A.rows;
  const k = tA ? A.rows : A.cols;
  const n = tB ? B.rows : B.cols;
  const a = (i: number, p: number): number => (tA ? A.data[p * A.cols + i] : A.data[i * A.cols + p]);
  const b = (p: number, j: number): number => (tB ? B.data[j * B.cols + p] : B.data[p * B.cols + j]);
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a(i, p) * b(p, j);
    c[i * n + j] = s;
  }
  return c;
}

/** Orthonormal rows x cols (cols <= rows) from QR of a Gaussian matrix. */
function orthonormal(rng: Rng, rows: number, cols: number): Matrix {
  const q = { data: rng.fillNormal(new Float64Array(rows * cols)), rows, cols };
  qrInPlace(q, rng);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = q.data[j * rows + i];
  return matrix(rows, cols, out);
}

/** U diag(s) V^T in float64, rounded to float32. */
function compose(U: Matrix, s: number[], V: Matrix): Matrix {
  const r = s.length;
  const out = new Float32Array(U.rows * V.rows);
  for (let i = 0; i < U.rows; i++) for (let j = 0; j < V.rows; j++) {
    let acc = 0;
    for (let p = 0; p < r; p++) acc += U.data[i * r + p] * s[p] * V.data[j * r + p];
    out[i * V.rows + j] = acc;
  }
  return matrix(U.rows, V.rows, out);
}

function colDot(A: Matrix, i: number, B: Matrix, j: number): number {
  let s = 0;
  for (let r = 0; r < A.rows; r++) s += A.data[r * A.cols + i] * B.data[r * B.cols + j];
  return s;
}

function assertOrthonormalColumns(Q: Matrix, tol: number): void {
  for (let i = 0; i < Q.cols; i++) for (let j = 0; j <= i; j++) {
    const d = colDot(Q, i, Q, j);
    assert.ok(Math.abs(d - (i === j ? 1 : 0)) < tol, `Q^T Q [${i}][${j}] = ${d}`);
  }
}

/** Exact singular values of a small matrix, by Jacobi in float64. */
function exactSingularValues(A: Matrix): Float64Array {
  const n = A.cols;
  const col = new Float64Array(A.rows * n);
  for (let i = 0; i < A.rows; i++) for (let j = 0; j < n; j++) col[j * A.rows + i] = A.data[i * n + j];
  return jacobiSvd({ data: col, rows: A.rows, cols: n }, new Rng(0)).S;
}

describe('engine/linalg: matmul', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [7, 5, 3],
    [33, 17, 65],
    [64, 128, 9],
    [130, 70, 257],
  ];
  for (const engine of ['onnx', 'js'] as const) {
    it(`${engine}: matches float64 loops on non-square shapes with every transpose`, () => {
      const rng = new Rng(11);
      for (const [m, k, n] of shapes) {
        for (const tA of [false, true]) for (const tB of [false, true]) {
          const A = tA ? randn(rng, k, m) : randn(rng, m, k);
          const B = tB ? randn(rng, n, k) : randn(rng, k, n);
          const C = matmul(A, B, { transposeA: tA, transposeB: tB, engine });
          assert.equal(C.rows, m);
          assert.equal(C.cols, n);
          const ref = naive(A, B, tA, tB);
          const scale = ref.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
          let err = 0;
          for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(C.data[i] - ref[i]));
          assert.ok(err <= 1e-5 * Math.sqrt(k) * scale, `${m}x${k}x${n} tA=${tA} tB=${tB}: err ${err}`);
        }
      }
    });
  }

  it('accepts subarray views, returns zeros for empty inner dimension', () => {
    const buf = Float32Array.from([9, 1, 2, 3, 4, 9]);
    const A = matrix(2, 2, buf.subarray(1, 5));
    const C = matmul(A, A, { engine: 'onnx' });
    assert.deepEqual([...C.data], [7, 10, 15, 22]);
    assert.deepEqual([...matmul(matrix(2, 0), matrix(0, 3)).data], [0, 0, 0, 0, 0, 0]);
  });

  it('throws ShapeError naming both shapes when inner dimensions differ', () => {
    assert.throws(() => matmul(matrix(2, 3), matrix(4, 5)), (e: Error) => e instanceof ShapeError && /2 x 3/.test(e.message) && /4 x 5/.test(e.message));
    assert.throws(() => matmul(matrix(2, 3), matrix(2, 3), { transposeB: false }), ShapeError);
    assert.doesNotThrow(() => matmul(matrix(2, 3), matrix(2, 3), { transposeA: true }));
    assert.throws(() => matrix(2, 2, new Float32Array(3)), ShapeError);
  });

  it('transpose and the GFLOP/s helper work', () => {
    const T = transpose(matrix(2, 3, Float32Array.from([1, 2, 3, 4, 5, 6])));
    assert.deepEqual([T.rows, T.cols, ...T.data], [3, 2, 1, 4, 2, 5, 3, 6]);
    for (const e of ['onnx', 'js'] as const) {
      const g = measureMatmulGflops(e, 64, 64, 64, 1);
      assert.ok(Number.isFinite(g) && g > 0);
    }
  });
});

describe('engine/linalg: randomized SVD', () => {
  const rng = new Rng(5);
  const m = 300;
  const n = 120;
  const sTrue = [50, 30, 20, 10, 5, 2, 1, 0.5];
  const Ut = orthonormal(rng, m, sTrue.length);
  const Vt = orthonormal(rng, n, sTrue.length);
  const A = compose(Ut, sTrue, Vt);

  for (const engine of ['onnx', 'js'] as const) {
    it(`${engine}: recovers U, S, V of an exactly rank-8 matrix`, () => {
      const k = 5;
      const { U, S, V } = randomizedSvd(A, k, { seed: 1, engine });
      assert.deepEqual([U.rows, U.cols, S.length, V.rows, V.cols], [m, k, k, n, k]);
      for (let j = 0; j < k; j++) {
        assert.ok(Math.abs(S[j] - sTrue[j]) / sTrue[j] < 1e-4, `S[${j}] = ${S[j]}`);
        assert.ok(Math.abs(colDot(U, j, Ut, j)) > 1 - 1e-4);
        assert.ok(Math.abs(colDot(V, j, Vt, j)) > 1 - 1e-4);
        // U and V columns flip together: u_j^T A v_j = +s_j
        assert.ok(colDot(U, j, Ut, j) * colDot(V, j, Vt, j) > 0);
      }
      assertOrthonormalColumns(U, 1e-5);
      assertOrthonormalColumns(V, 1e-5);
    });
  }

  for (const engine of ['onnx', 'js'] as const) {
    it(`${engine}: gramSvd of the wide A^T recovers V, S, U, with the sign convention on its U`, () => {
      const k = 5;
      const At = transpose(A); // n x m, n <= m
      const { U, S, V } = gramSvd(At, k, { seed: 1, engine });
      assert.deepEqual([U.rows, U.cols, S.length, V.rows, V.cols], [n, k, k, m, k]);
      for (let j = 0; j < k; j++) {
        assert.ok(Math.abs(S[j] - sTrue[j]) / sTrue[j] < 1e-4, `S[${j}] = ${S[j]}`);
        assert.ok(Math.abs(colDot(U, j, Vt, j)) > 1 - 1e-4);
        assert.ok(Math.abs(colDot(V, j, Ut, j)) > 1 - 1e-4);
        assert.ok(colDot(U, j, Vt, j) * colDot(V, j, Ut, j) > 0);
        let best = 0;
        for (let i = 1; i < n; i++) if (Math.abs(U.data[i * k + j]) > Math.abs(U.data[best * k + j])) best = i;
        assert.ok(U.data[best * k + j] > 0);
      }
      assertOrthonormalColumns(U, 1e-5);
      assertOrthonormalColumns(V, 1e-5);
      // a tall A goes through its transpose; the sign convention is then applied to its own U
      const t = gramSvd(A, k, { seed: 1, engine });
      for (let j = 0; j < k; j++) {
        assert.ok(Math.abs(colDot(t.U, j, V, j)) > 1 - 1e-4);
        let best = 0;
        for (let i = 1; i < m; i++) if (Math.abs(t.U.data[i * k + j]) > Math.abs(t.U.data[best * k + j])) best = i;
        assert.ok(t.U.data[best * k + j] > 0);
      }
      assertOrthonormalColumns(t.V, 1e-5);
    });
  }

  it('gramSvd rawV: V·S equals Aᵀ U exactly (no re-orthonormalisation); zero singular values still give orthonormal V by default', () => {
    const k = 5;
    const At = transpose(A);
    const raw = gramSvd(At, k, { seed: 1, rawV: true });
    const AtU = matmul(At, raw.U, { transposeA: true });
    let err = 0;
    let scale = 0;
    for (let i = 0; i < raw.V.rows; i++) {
      for (let j = 0; j < k; j++) {
        err = Math.max(err, Math.abs(raw.V.data[i * k + j] * raw.S[j] - AtU.data[i * k + j]));
        scale = Math.max(scale, Math.abs(AtU.data[i * k + j]));
      }
    }
    assert.ok(err < 1e-5 * scale, `max |V S - Aᵀ U| ${err} vs ${scale}`);
    // rank 2 matrix, k = 4: two zero singular values; V falls back to the general QR and stays orthonormal
    const r3 = new Rng(4);
    const low = compose(orthonormal(r3, 30, 2), [3, 1], orthonormal(r3, 50, 2));
    const z = gramSvd(low, 4, { seed: 2 });
    assertOrthonormalColumns(z.V, 1e-5);
    assertOrthonormalColumns(z.U, 1e-5);
  });

  it('gramSvd at k >= 160 (blocked float64 Cholesky QR on ONNX Runtime) agrees with the JS engine; rank-deficient input stays orthonormal', function () {
    if (!ortAvailable()) this.skip();
    const r2 = new Rng(13);
    const rows = 300;
    const cols = 700;
    const s = Array.from({ length: rows }, (_, i) => Math.exp(-i / 80));
    const B = compose(orthonormal(r2, rows, rows), s, orthonormal(r2, cols, rows));
    const k = 200; // l = 210 columns: the blocked path
    const ort = gramSvd(B, k, { seed: 4, engine: 'onnx' });
    const js = gramSvd(B, k, { seed: 4, engine: 'js' });
    for (let j = 0; j < k; j++) assert.ok(Math.abs(ort.S[j] - js.S[j]) / js.S[j] < 1e-4, `S[${j}] ${ort.S[j]} vs ${js.S[j]}`);
    for (let j = 0; j < 50; j++) assert.ok(Math.abs(colDot(ort.U, j, js.U, j)) > 1 - 1e-3, `u${j}`);
    assertOrthonormalColumns(ort.U, 1e-4);
    assertOrthonormalColumns(ort.V, 1e-4);
    // rank 120 < 210: Cholesky QR breaks down on the blocked path too, and the fallback takes over
    const low = compose(orthonormal(r2, rows, 120), s.slice(0, 120), orthonormal(r2, cols, 120));
    const r = gramSvd(low, k, { seed: 4, engine: 'onnx' });
    assertOrthonormalColumns(r.U, 1e-4);
    assert.ok(r.S[150] < 1e-3 * r.S[0], `S[150] = ${r.S[150]}`);
  });

  it('gramSvd matches exact singular values of a full-rank decaying spectrum', () => {
    const r2 = new Rng(9);
    const cols = 200;
    const rows = 80;
    const s = Array.from({ length: rows }, (_, i) => Math.exp(-i / 4));
    const B = compose(orthonormal(r2, rows, rows), s, orthonormal(r2, cols, rows));
    const exact = exactSingularValues(transpose(B));
    const { S } = gramSvd(B, 6, { seed: 3 });
    for (let j = 0; j < 6; j++) assert.ok(Math.abs(S[j] - exact[j]) / exact[j] < 1e-4, `S[${j}] ${S[j]} vs ${exact[j]}`);
  });

  it('gramRangeFinder: orthonormal basis of the dominant subspace (Cholesky QR path, full rank)', () => {
    const r2 = new Rng(11);
    const rows = 300;
    const cols = 500;
    const s = Array.from({ length: rows }, (_, i) => (i < 10 ? 10 - i : 0.01 * Math.exp(-i / 50)));
    const Ut = orthonormal(r2, rows, rows);
    const B = compose(Ut, s, orthonormal(r2, cols, rows)); // rows x cols, wide
    const Q = gramRangeFinder(B, 10, { seed: 2, powerIters: 2 });
    assert.deepEqual([Q.rows, Q.cols], [rows, 10]);
    assertOrthonormalColumns(Q, 1e-5);
    // the planted top-10 left singular vectors lie in span(Q): |Qᵀ u_j| ~ 1
    for (let j = 0; j < 10; j++) {
      let n2 = 0;
      for (let c = 0; c < 10; c++) {
        let d = 0;
        for (let i = 0; i < rows; i++) d += Q.data[i * 10 + c] * Ut.data[i * rows + j];
        n2 += d * d;
      }
      assert.ok(n2 > 1 - 1e-5, `u_${j}: |Q^T u|^2 = ${n2}`);
    }
    assert.throws(() => gramRangeFinder(transpose(B), 3), ShapeError);
    const I = gramRangeFinder(B, rows);
    assert.equal(I.data[0], 1);
    assert.equal(I.data[1], 0);
  });

  it('matches exact singular values of a full-rank decaying spectrum (4 power iterations)', () => {
    const r2 = new Rng(9);
    const rows = 200;
    const cols = 80;
    const s = Array.from({ length: cols }, (_, i) => Math.exp(-i / 4));
    const B = compose(orthonormal(r2, rows, cols), s, orthonormal(r2, cols, cols));
    const exact = exactSingularValues(B);
    const { S } = randomizedSvd(B, 6, { seed: 3, powerIters: 4 });
    for (let j = 0; j < 6; j++) assert.ok(Math.abs(S[j] - exact[j]) / exact[j] < 1e-4, `S[${j}] ${S[j]} vs ${exact[j]}`);
  });

  it('is deterministic: same seed gives identical bytes; sign convention makes seeds agree', () => {
    const a = randomizedSvd(A, 4, { seed: 7 });
    const b = randomizedSvd(A, 4, { seed: 7 });
    assert.deepEqual(a.U.data, b.U.data);
    assert.deepEqual(a.S, b.S);
    assert.deepEqual(a.V.data, b.V.data);
    const c = randomizedSvd(A, 4, { seed: 8 });
    for (let i = 0; i < a.U.data.length; i++) assert.ok(Math.abs(a.U.data[i] - c.U.data[i]) < 1e-4);
    for (let j = 0; j < 4; j++) {
      let best = 0;
      for (let i = 1; i < m; i++) if (Math.abs(a.U.data[i * 4 + j]) > Math.abs(a.U.data[best * 4 + j])) best = i;
      assert.ok(a.U.data[best * 4 + j] > 0, 'largest-|value| entry of each U column is positive');
    }
  });

  it('flipping the sign of input columns leaves U and S, and flips the matching rows of V', () => {
    const flips = Array.from({ length: n }, (_, j) => (j % 3 === 0 ? -1 : 1));
    const Af = matrix(m, n, A.data.map((v, idx) => v * flips[idx % n]));
    const a = randomizedSvd(A, 4, { seed: 2 });
    const f = randomizedSvd(Af, 4, { seed: 2 });
    for (let i = 0; i < a.U.data.length; i++) assert.ok(Math.abs(a.U.data[i] - f.U.data[i]) < 1e-4);
    for (let j = 0; j < 4; j++) assert.ok(Math.abs(a.S[j] - f.S[j]) / a.S[j] < 1e-5);
    for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) {
      assert.ok(Math.abs(a.V.data[i * 4 + j] * flips[i] - f.V.data[i * 4 + j]) < 1e-4);
    }
  });

  it('rank-deficient and zero input: trailing singular values ~0, U and V still orthonormal', () => {
    const r3 = new Rng(4);
    const low = compose(orthonormal(r3, 60, 3), [3, 2, 1], orthonormal(r3, 40, 3));
    const { U, S, V } = randomizedSvd(low, 6, { seed: 0, oversamples: 2 });
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(S[j] - [3, 2, 1][j]) < 1e-4 * 3);
    for (let j = 3; j < 6; j++) assert.ok(S[j] < 1e-5 * 3, `S[${j}] = ${S[j]}`);
    assertOrthonormalColumns(U, 1e-5);
    assertOrthonormalColumns(V, 1e-5);
    const z = randomizedSvd(matrix(30, 20), 3);
    assert.deepEqual([...z.S], [0, 0, 0]);
    assertOrthonormalColumns(z.U, 1e-5);
    assertOrthonormalColumns(z.V, 1e-5);
  });

  it('blocked orthonormalisation (BCGS2): orthonormal Q spanning Y, dependent columns replaced', () => {
    const r = new Rng(12);
    const Y = randn(r, 600, 100);
    for (let i = 0; i < 600; i++) {
      Y.data[i * 100 + 50] = Y.data[i * 100 + 3];
      Y.data[i * 100 + 70] = 0;
    }
    const Q = orthonormalizeColumns(Y, { panel: 16, blockedMinRows: 0 });
    assertOrthonormalColumns(Q, 1e-5);
    const res = matmul(Q, matmul(Q, Y, { transposeA: true }));
    let num = 0;
    let den = 0;
    for (let i = 0; i < res.data.length; i++) {
      num += (res.data[i] - Y.data[i]) ** 2;
      den += Y.data[i] ** 2;
    }
    assert.ok(Math.sqrt(num / den) < 1e-5, `||Y - Q Q^T Y|| / ||Y|| = ${Math.sqrt(num / den)}`);
    assert.throws(() => orthonormalizeColumns(matrix(3, 4)), ShapeError);
  });

  it('tall input takes the blocked path and still recovers singular values to 1e-4', () => {
    const r = new Rng(13);
    const s = Array.from({ length: 40 }, (_, i) => 40 - i);
    const T = compose(orthonormal(r, 2500, 40), s, orthonormal(r, 150, 40));
    const { U, S } = randomizedSvd(T, 30, { seed: 1 });
    for (let j = 0; j < 30; j++) assert.ok(Math.abs(S[j] - s[j]) / s[j] < 1e-4, `S[${j}] = ${S[j]}`);
    assertOrthonormalColumns(U, 1e-5);
  });

  it('operator version (async and sync) equals the in-memory version', async () => {
    const calls = { A: 0, AT: 0 };
    const op = {
      rows: m,
      cols: n,
      apply: async (X: Matrix) => (calls.A++, matmul(A, X)),
      applyT: async (Y: Matrix) => (calls.AT++, matmul(A, Y, { transposeA: true })),
    };
    const viaOp = await randomizedSvdOperator(op, 3, { seed: 5, powerIters: 2 });
    const direct = randomizedSvd(A, 3, { seed: 5, powerIters: 2 });
    assert.deepEqual(viaOp.U.data, direct.U.data);
    assert.deepEqual(viaOp.V.data, direct.V.data);
    assert.deepEqual(calls, { A: 3, AT: 3 });
    const sync = randomizedSvdOperatorSync(
      { rows: m, cols: n, apply: (X) => matmul(A, X), applyT: (Y) => matmul(A, Y, { transposeA: true }) },
      3,
      { seed: 5, powerIters: 2 },
    );
    assert.deepEqual(sync.S, direct.S);
  });

  it('throws typed errors for bad k, options and operator products', async () => {
    assert.throws(() => randomizedSvd(A, 0), ParamError);
    assert.throws(() => randomizedSvd(A, n + 1), ParamError);
    assert.throws(() => randomizedSvd(A, 2, { powerIters: -1 }), ParamError);
    await assert.rejects(
      randomizedSvdOperator({ rows: m, cols: n, apply: () => matrix(m + 1, 12), applyT: () => matrix(n, 12) }, 2),
      (e: Error) => e instanceof ShapeError && /operator.apply returned 301 x 12/.test(e.message),
    );
  });
});

describe('engine/linalg: symmetric solves', () => {
  it('solves a known 2 x 2 system exactly', () => {
    const X = solveSymmetric(matrix(2, 2, Float32Array.from([4, 2, 2, 3])), matrix(2, 2, Float32Array.from([2, 6, 1, 3])));
    assert.deepEqual([...X.data], [0.5, 1.5, 0, 0]);
  });

  it('ridge-like system X^T X + lambda I: relative residual < 1e-5', () => {
    const rng = new Rng(21);
    const Xd = randn(rng, 200, 60);
    const G = matmul(Xd, Xd, { transposeA: true });
    for (let i = 0; i < 60; i++) G.data[i * 60 + i] += 0.1;
    const B = randn(rng, 60, 4);
    const W = solveSymmetric(G, B);
    const R = naive(G, W, false, false);
    let num = 0;
    let den = 0;
    for (let i = 0; i < R.length; i++) {
      num += (R[i] - B.data[i]) ** 2;
      den += B.data[i] ** 2;
    }
    assert.ok(Math.sqrt(num / den) < 1e-5, `relative residual ${Math.sqrt(num / den)}`);
  });

  it('singular or indefinite A: NotPositiveDefiniteError, unless jitter rescues a semidefinite A', () => {
    const psd = matrix(2, 2, Float32Array.from([1, 1, 1, 1]));
    assert.throws(() => cholesky(psd), NotPositiveDefiniteError);
    const f = cholesky(psd, { jitter: true });
    assert.ok(f.jitter > 0 && f.jitter <= 1e-4);
    const indefinite = matrix(2, 2, Float32Array.from([1, 2, 2, 1]));
    assert.throws(() => solveSymmetric(indefinite, matrix(2, 1), { jitter: true }), NotPositiveDefiniteError);
  });

  it('shape and symmetry errors name what was given', () => {
    assert.throws(() => solveSymmetric(matrix(2, 3), matrix(2, 1)), (e: Error) => e instanceof ShapeError && /2 x 3/.test(e.message));
    assert.throws(
      () => solveSymmetric(matrix(2, 2, Float32Array.from([1, 0, 0, 1])), matrix(3, 1)),
      (e: Error) => e instanceof ShapeError && /B is 3 x 1/.test(e.message),
    );
    assert.throws(() => cholesky(matrix(2, 2, Float32Array.from([1, 0.5, 0, 1]))), ParamError);
  });
});

describe('engine/dense: small float64 kernels', () => {
  it('jacobiSvd reconstructs a random square matrix with orthogonal factors', () => {
    const rng = new Rng(2);
    const n = 7;
    const M = { data: rng.fillNormal(new Float64Array(n * n)), rows: n, cols: n };
    const { U, S, W } = jacobiSvd(M, rng);
    for (let j = 1; j < n; j++) assert.ok(S[j - 1] >= S[j]);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < n; p++) acc += U.data[p * n + i] * S[p] * W.data[p * n + j];
      assert.ok(Math.abs(acc - M.data[j * n + i]) < 1e-12);
    }
  });

  it('symmetricEigen: A V = V diag(λ), Vᵀ V = I, λ descending, for random, repeated, diagonal and zero A', () => {
    // sizes on both sides of the 128-column blocks in which the QL rotations are applied
    const rng = new Rng(5);
    const check = (name: string, A: Float64Array, n: number): void => {
      const { values, vectors } = symmetricEigen({ data: A, rows: n, cols: n });
      const V = vectors.data; // column j = V[j * n ..]
      let scale = 1e-300;
      for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(A[i]));
      for (let j = 1; j < n; j++) assert.ok(values[j - 1] >= values[j], `${name}: values descend`);
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          let av = 0;
          for (let p = 0; p < n; p++) av += A[i * n + p] * V[j * n + p];
          assert.ok(Math.abs(av - values[j] * V[j * n + i]) < 1e-11 * scale * n, `${name}: residual of pair ${j}`);
        }
        for (let c = 0; c <= j; c++) {
          let dot = 0;
          for (let p = 0; p < n; p++) dot += V[j * n + p] * V[c * n + p];
          assert.ok(Math.abs(dot - (c === j ? 1 : 0)) < 1e-12 * n, `${name}: orthonormal ${j}, ${c}`);
        }
      }
    };
    for (const n of [1, 2, 5, 33, 130, 260]) {
      const B = rng.fillNormal(new Float64Array(n * n));
      const A = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = B[i * n + j] + B[j * n + i];
      check(`random ${n}`, A, n);
    }
    // Q diag(3, 3, 3, 1, 1, 0, ...) Qᵀ: repeated eigenvalues, rank 5
    const n = 140;
    const Q = orthonormalizeColumns({ data: rng.fillNormal(new Float32Array(n * 5)), rows: n, cols: 5 });
    const lam = [3, 3, 3, 1, 1];
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let p = 0; p < 5; p++) A[i * n + j] += lam[p] * Q.data[i * 5 + p] * Q.data[j * 5 + p];
    check('repeated', A, n);
    const got = symmetricEigen({ data: A, rows: n, cols: n }).values;
    [3, 3, 3, 1, 1, 0].forEach((v, j) => assert.ok(Math.abs(got[j] - v) < 1e-5, `repeated: λ${j} = ${got[j]}`));
    const D = new Float64Array(9);
    [2, -1, 7].forEach((v, i) => (D[i * 3 + i] = v));
    assert.deepEqual([...symmetricEigen({ data: D, rows: 3, cols: 3 }).values], [7, 2, -1]);
    check('zero', new Float64Array(16), 4);
  });
});
