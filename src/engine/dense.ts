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

/**
 * As `dot`, with four partial sums: about 2x faster in V8 on long vectors (one chain waits on
 * every add), rounding differently.
 */
export function dot64(a: Float64Array, ao: number, b: Float64Array, bo: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let p = 0;
  for (; p + 3 < len; p += 4) {
    s0 += a[ao + p] * b[bo + p];
    s1 += a[ao + p + 1] * b[bo + p + 1];
    s2 += a[ao + p + 2] * b[bo + p + 2];
    s3 += a[ao + p + 3] * b[bo + p + 3];
  }
  for (; p < len; p++) s0 += a[ao + p] * b[bo + p];
  return s0 + s1 + (s2 + s3);
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
  // W = Vᵀ of EISPACK's V (row j of W is column j of V), so that every inner loop of tred2 and
  // tql2 runs along a row (unit stride): ~10x faster at n = 1000 than the column walks of JAMA's
  // layout, same arithmetic. A is symmetric, so W starts as A.
  const W = Float64Array.from(A.data);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n > 0) {
    tred2(W, d, e, n);
    tql2(W, d, e, n);
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => d[b] - d[a] || a - b);
  const values = new Float64Array(n);
  const vec = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src];
    vec.set(W.subarray(src * n, (src + 1) * n), dst * n);
  });
  return { values, vectors: { data: vec, rows: n, cols: n } };
}

/** EISPACK tred2 (as in JAMA) on W = Vᵀ: JAMA's V[a][b] is W[b * n + a] throughout. */
function tred2(W: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = W[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = W[j * n + i - 1];
        W[j * n + i] = 0;
        W[i * n + j] = 0;
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
      const wi = i * n;
      for (let j = 0; j < i; j++) {
        f = d[j];
        W[wi + j] = f;
        const wj = j * n;
        // g = e[j] + sum_k W[j][k] d[k] with four partial sums (one chain would wait on each add)
        let g1 = 0;
        let g2 = 0;
        let g3 = 0;
        g = e[j] + W[wj + j] * f;
        let k = j + 1;
        for (; k + 3 <= i - 1; k += 4) {
          const w0 = W[wj + k];
          const w1 = W[wj + k + 1];
          const w2 = W[wj + k + 2];
          const w3 = W[wj + k + 3];
          g += w0 * d[k];
          g1 += w1 * d[k + 1];
          g2 += w2 * d[k + 2];
          g3 += w3 * d[k + 3];
          e[k] += w0 * f;
          e[k + 1] += w1 * f;
          e[k + 2] += w2 * f;
          e[k + 3] += w3 * f;
        }
        for (; k <= i - 1; k++) {
          const w = W[wj + k];
          g += w * d[k];
          e[k] += w * f;
        }
        e[j] = g + g1 + (g2 + g3);
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
        const wj = j * n;
        for (let k = j; k <= i - 1; k++) W[wj + k] -= f * e[k] + g * d[k];
        d[j] = W[wj + i - 1];
        W[wj + i] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    const wi = i * n;
    const wi1 = (i + 1) * n;
    W[wi + n - 1] = W[wi + i];
    W[wi + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = W[wi1 + k] / h;
      for (let j = 0; j <= i; j++) {
        const wj = j * n;
        const g = dot64(W, wi1, W, wj, i + 1);
        for (let k = 0; k <= i; k++) W[wj + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) W[wi1 + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = W[j * n + n - 1];
    W[j * n + n - 1] = 0;
  }
  W[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

function hyp(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) return x * Math.sqrt(1 + (y / x) * (y / x));
  return y === 0 ? 0 : y * Math.sqrt(1 + (x / y) * (x / y));
}

/** EISPACK tql2 (as in JAMA) on W = Vᵀ (see tred2). */
function tql2(W: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2.220446049250313e-16;
  // The rotations do not feed back into d and e: they are logged and applied to W afterwards,
  // in column blocks and two at a time (see applyRotations).
  const rot = new RotationLog(4 * n);
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
          rot.push(i, c, s);
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1 && iter < 200);
    }
    d[l] += f;
    e[l] = 0;
  }
  applyRotations(W, n, rot);
}

/** Givens rotations in the order tql2 makes them: rotation r mixes rows idx[r] and idx[r] + 1. */
class RotationLog {
  idx: Int32Array;
  c: Float64Array;
  s: Float64Array;
  length = 0;
  constructor(capacity: number) {
    this.idx = new Int32Array(capacity);
    this.c = new Float64Array(capacity);
    this.s = new Float64Array(capacity);
  }
  push(i: number, c: number, s: number): void {
    if (this.length === this.idx.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.idx = grow(this.idx);
      this.c = grow(this.c);
      this.s = grow(this.s);
    }
    this.idx[this.length] = i;
    this.c[this.length] = c;
    this.s[this.length] = s;
    this.length++;
  }
}

/**
 * Applies the logged rotations to the rows of W (n x n): row i+1 <- s·row i + c·row i+1,
 * row i <- c·row i - s·row i+1, in order. Column blocks keep the rows being mixed in cache, and
 * a rotation of rows (i, i+1) followed by one of (i-1, i), as in every QL sweep, is applied in one
 * pass (3 rows loaded and stored instead of 4).
 */
function applyRotations(W: Float64Array, n: number, rot: RotationLog): void {
  const { idx, c, s, length: R } = rot;
  const KB = 128;
  for (let k0 = 0; k0 < n; k0 += KB) {
    const k1 = Math.min(n, k0 + KB);
    let r = 0;
    while (r < R) {
      const i = idx[r];
      const c1 = c[r];
      const s1 = s[r];
      const o1 = i * n;
      const o2 = o1 + n;
      if (r + 1 < R && idx[r + 1] === i - 1) {
        const c2 = c[r + 1];
        const s2 = s[r + 1];
        const o0 = o1 - n;
        for (let k = k0; k < k1; k++) {
          const a = W[o1 + k];
          const b = W[o2 + k];
          W[o2 + k] = s1 * a + c1 * b;
          const m = c1 * a - s1 * b;
          const a0 = W[o0 + k];
          W[o1 + k] = s2 * a0 + c2 * m;
          W[o0 + k] = c2 * a0 - s2 * m;
        }
        r += 2;
      } else {
        for (let k = k0; k < k1; k++) {
          const a = W[o1 + k];
          const b = W[o2 + k];
          W[o2 + k] = s1 * a + c1 * b;
          W[o1 + k] = c1 * a - s1 * b;
        }
        r += 1;
      }
    }
  }
}
