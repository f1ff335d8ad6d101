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

/**
 * Eigendecomposition of a symmetric matrix A (n x n; symmetric, so row- or column-major alike):
 * Householder reduction to tridiagonal form and implicit QL iterations (tred2/tql2 of EISPACK,
 * as in JAMA), ~(4/3 + ~3) n³ flops, far fewer than Jacobi sweeps.
 * @returns values (descending; ties by original order) and vectors (n x n, column-major, column j
 * the unit eigenvector of values[j]).
 */
export function symmetricEigen(A: ColMatrix64): { values: Float64Array; vectors: ColMatrix64 } {
  const n = A.rows;
  const V = Float64Array.from(A.data); // row-major V[i * n + j]
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n > 0) {
    tred2(V, d, e, n);
    tql2(V, d, e, n);
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => d[b] - d[a] || a - b);
  const values = new Float64Array(n);
  const vec = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src];
    for (let k = 0; k < n; k++) vec[dst * n + k] = V[k * n + src];
  });
  return { values, vectors: { data: vec, rows: n, cols: n } };
}

function tred2(V: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[j * n + i] = f;
        g = e[j] + V[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j] * d[k];
          e[k] += V[k * n + j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[k * n + j] -= f * e[k] + g * d[k];
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i];
    V[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1] * V[k * n + j];
        for (let k = 0; k <= i; k++) V[k * n + j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[(n - 1) * n + j];
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

function hyp(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) return x * Math.sqrt(1 + (y / x) * (y / x));
  return y === 0 ? 0 : y * Math.sqrt(1 + (x / y) * (x / y));
}

function tql2(V: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2.220446049250313e-16;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        iter++;
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = hyp(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = hyp(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            const o = k * n + i;
            h = V[o + 1];
            V[o + 1] = s * V[o] + c * h;
            V[o] = c * V[o] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1 && iter < 200);
    }
    d[l] += f;
    e[l] = 0;
  }
}
