/**
 * Small dense float64 kernels for the thin and small matrices inside randomized SVD and solves:
 * QR by modified Gram-Schmidt with re-orthogonalisation, and one-sided Jacobi SVD.
 * Storage here is column-major Float64Array (columns contiguous), unlike the public row-major
 * float32 `Matrix`: Gram-Schmidt and Jacobi work column by column.
 */
import { Rng } from '../util/random';

/** Column-major float64 matrix. */
export interface ColMatrix64 {
  data: Float64Array;
  rows: number;
  cols: number;
}

function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
  return s;
}

function axpy(alpha: number, x: Float64Array, xo: number, y: Float64Array, yo: number, n: number): void {
  for (let i = 0; i < n; i++) y[yo + i] += alpha * x[xo + i];
}

/**
 * Thin QR, X = Q R, of X (rows x cols, rows >= cols), in place: X's storage becomes Q.
 * Each column is orthogonalised twice against the previous ones ("twice is enough", Giraud et
 * al. 2005), which keeps Q orthonormal to ~1e-15 even for ill-conditioned X. A column that is
 * (numerically exactly) dependent on the previous ones, i.e. whose remainder is at most 1e-12 of
 * the largest column norm, gets R[j][j] = 0 and a random unit vector orthogonal to the previous
 * columns in Q, so that Q stays orthonormal for rank-deficient X.
 * @returns R (cols x cols, upper triangular, column-major).
 */
export function qrInPlace(X: ColMatrix64, rng: Rng): ColMatrix64 {
  const { data: q, rows: m, cols: l } = X;
  const R = new Float64Array(l * l);
  let scale = 0;
  for (let j = 0; j < l; j++) scale = Math.max(scale, Math.sqrt(dot(q, j * m, q, j * m, m)));
  for (let j = 0; j < l; j++) {
    const oj = j * m;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        const r = dot(q, i * m, q, oj, m);
        R[j * l + i] += r;
        axpy(-r, q, i * m, q, oj, m);
      }
    }
    const nrm = Math.sqrt(dot(q, oj, q, oj, m));
    if (nrm > 1e-12 * scale && nrm > 0) {
      R[j * l + j] = nrm;
      const inv = 1 / nrm;
      for (let i = 0; i < m; i++) q[oj + i] *= inv;
    } else {
      R[j * l + j] = 0;
      randomOrthogonalColumn(q, m, j, rng);
    }
  }
  return { data: R, rows: l, cols: l };
}

/** Fills column j of q (m rows) with a random unit vector orthogonal to columns 0..j-1. */
function randomOrthogonalColumn(q: Float64Array, m: number, j: number, rng: Rng): void {
  const oj = j * m;
  for (;;) {
    for (let i = 0; i < m; i++) q[oj + i] = rng.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) axpy(-dot(q, i * m, q, oj, m), q, i * m, q, oj, m);
    }
    const nrm = Math.sqrt(dot(q, oj, q, oj, m));
    if (nrm > 1e-8) {
      for (let i = 0; i < m; i++) q[oj + i] /= nrm;
      return;
    }
  }
}

/**
 * SVD of a small square matrix M (n x n, column-major) by one-sided Jacobi (Hestenes):
 * M = U diag(S) W^T with S descending and >= 0, U and W orthogonal (n x n, column-major).
 * Accurate to float64 rounding relative to each singular value. Columns of U for zero singular
 * values are completed to an orthonormal basis.
 */
export function jacobiSvd(M: ColMatrix64, rng: Rng): { U: ColMatrix64; S: Float64Array; W: ColMatrix64 } {
  const n = M.cols;
  const m = M.rows;
  const G = Float64Array.from(M.data);
  const W = new Float64Array(n * n);
  for (let i = 0; i < n; i++) W[i * n + i] = 1;
  const eps = 2.220446049250313e-16;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const alpha = dot(G, p * m, G, p * m, m);
        const beta = dot(G, q * m, G, q * m, m);
        const gamma = dot(G, p * m, G, q * m, m);
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        rotate(G, p * m, q * m, m, c, s);
        rotate(W, p * n, q * n, n, c, s);
      }
    }
    if (!rotated) break;
  }
  const norms = Array.from({ length: n }, (_, j) => Math.sqrt(dot(G, j * m, G, j * m, m)));
  const order = norms.map((_, j) => j).sort((a, b) => norms[b] - norms[a] || a - b);
  const S = new Float64Array(n);
  const U = new Float64Array(m * n);
  const Ws = new Float64Array(n * n);
  const smax = norms[order[0]] ?? 0;
  let rankDeficient = false;
  order.forEach((src, dst) => {
    S[dst] = norms[src];
    Ws.set(W.subarray(src * n, src * n + n), dst * n);
    if (norms[src] > 1e-14 * smax && norms[src] > 0) {
      for (let i = 0; i < m; i++) U[dst * m + i] = G[src * m + i] / norms[src];
    } else {
      rankDeficient = true;
    }
  });
  if (rankDeficient) {
    for (let j = 0; j < n; j++) {
      if (!(S[j] > 1e-14 * smax && S[j] > 0)) randomOrthogonalColumn(U, m, j, rng);
    }
  }
  return { U: { data: U, rows: m, cols: n }, S, W: { data: Ws, rows: n, cols: n } };
}

function rotate(a: Float64Array, po: number, qo: number, n: number, c: number, s: number): void {
  for (let i = 0; i < n; i++) {
    const x = a[po + i];
    const y = a[qo + i];
    a[po + i] = c * x - s * y;
    a[qo + i] = s * x + c * y;
  }
}
