/** Synthetic frames with known structure for the motion specs, and lossless encoding. */
import { spawnSync } from 'node:child_process';
import { locateFfmpeg } from '../../src/io/video';
import { Rng } from '../../src/util/random';

/** Encodes n grey frames (uint8, n x Ly x Lx) losslessly (FFV1 in Matroska) to `file`. */
export function encodeLossless(file: string, frames: Uint8Array, Ly: number, Lx: number): string {
  const r = spawnSync(
    locateFfmpeg().ffmpeg,
    ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${Lx}x${Ly}`, '-r', '30', '-i', 'pipe:0', '-c:v', 'ffv1', file],
    { input: Buffer.from(frames.buffer, frames.byteOffset, frames.length) },
  );
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
  return file;
}

/** Smooth random walk in [0, 1], n samples. */
export function walk(rng: Rng, n: number): Float64Array {
  const a = new Float64Array(n);
  let x = rng.uniform();
  for (let t = 0; t < n; t++) {
    x += 0.15 * rng.normal();
    x = Math.abs(x) % 2;
    if (x > 1) x = 2 - x;
    a[t] = x;
  }
  return a;
}

/**
 * Planted low-rank motion: a static textured background, and K blobs (disjoint rectangles, aligned
 * to 2x2 bins) whose grey level is round(60 + 120 a_k(t)). Then |diff| = sum_k |Δa_k| p_k exactly
 * (p_k the blob indicators), so the motion matrix has rank <= K and span{p_k} is its column space.
 */
export function plantedMotion(n: number, seed = 1) {
  const Ly = 32;
  const Lx = 48;
  const blobs = [
    { y0: 2, y1: 10, x0: 4, x1: 16 },
    { y0: 14, y1: 26, x0: 20, x1: 28 },
    { y0: 6, y1: 12, x0: 32, x1: 46 },
  ];
  const rng = new Rng(seed);
  const a = blobs.map(() => walk(rng, n));
  const frames = new Uint8Array(n * Ly * Lx);
  for (let t = 0; t < n; t++) {
    for (let y = 0; y < Ly; y++) {
      for (let x = 0; x < Lx; x++) {
        let v = 100 + 40 * Math.sin(x * 0.7) * Math.cos(y * 0.45);
        blobs.forEach((b, k) => {
          if (y >= b.y0 && y < b.y1 && x >= b.x0 && x < b.x1) v = 60 + 120 * a[k][t];
        });
        frames[(t * Ly + y) * Lx + x] = Math.round(v);
      }
    }
  }
  return { frames, Ly, Lx, blobs, a };
}

/** Smooth broadband texture: a sum of many random cosines (up to maxFreq cycles/pixel), evaluated anywhere (exact sub-pixel shifts). */
export function texture(seed: number, nWaves = 300, maxFreq = 0.25): (y: number, x: number) => number {
  const rng = new Rng(seed);
  const waves = Array.from({ length: nWaves }, () => {
    const f = maxFreq * (0.2 + 0.8 * rng.uniform());
    const th = 2 * Math.PI * rng.uniform();
    return { u: f * Math.cos(th), v: f * Math.sin(th), ph: 2 * Math.PI * rng.uniform(), amp: 0.5 + rng.uniform() };
  });
  return (y, x) => waves.reduce((s, w) => s + w.amp * Math.cos(2 * Math.PI * (w.u * x + w.v * y) + w.ph), 0);
}

/** Principal angles: squared cosines (descending) between span(A) and span(B) (both rows x k, orthonormalised here). */
export function squaredCosines(A: Float64Array[], B: Float64Array[]): number[] {
  const qa = gramSchmidt(A);
  const qb = gramSchmidt(B);
  const M = qa.map((a) => qb.map((b) => a.reduce((s, x, i) => s + x * b[i], 0)));
  // Eigenvalues of M M^T by Jacobi (small).
  const k = M.length;
  const S = M.map((r) => M.map((q) => r.reduce((s, x, i) => s + x * q[i], 0)));
  for (let sweep = 0; sweep < 50; sweep++) {
    for (let p = 0; p < k; p++) {
      for (let q = p + 1; q < k; q++) {
        if (Math.abs(S[p][q]) < 1e-15) continue;
        const th = 0.5 * Math.atan2(2 * S[p][q], S[q][q] - S[p][p]);
        const c = Math.cos(th);
        const s = Math.sin(th);
        for (let r = 0; r < k; r++) {
          const a = S[r][p];
          const b = S[r][q];
          S[r][p] = c * a - s * b;
          S[r][q] = s * a + c * b;
        }
        for (let r = 0; r < k; r++) {
          const a = S[p][r];
          const b = S[q][r];
          S[p][r] = c * a - s * b;
          S[q][r] = s * a + c * b;
        }
      }
    }
  }
  return S.map((r, i) => r[i]).sort((x, y) => y - x);
}

function gramSchmidt(cols: Float64Array[]): Float64Array[] {
  const out: Float64Array[] = [];
  for (const c of cols) {
    const v = Float64Array.from(c);
    for (const q of out) {
      const d = v.reduce((s, x, i) => s + x * q[i], 0);
      for (let i = 0; i < v.length; i++) v[i] -= d * q[i];
    }
    const n = Math.hypot(...v);
    out.push(v.map((x) => x / n));
  }
  return out;
}

/** Column j of a row-major rows x cols matrix, as float64. */
export function column(data: Float32Array, rows: number, cols: number, j: number): Float64Array {
  return Float64Array.from({ length: rows }, (_, i) => data[i * cols + j]);
}
