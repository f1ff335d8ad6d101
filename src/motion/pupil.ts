/**
 * Pupil tracking and blinks in an eye ROI (unbinned grey levels 0..255).
 *
 * Pupil (after Facemap's pupil.fit_gaussian): the ROI is inverted (v = 255 - I) so the pupil is
 * bright; reflections of the light source (I >= `reflector`) are filled with the mean of the
 * nearest non-reflection pixels; pixels get weight w = clamp((v - saturation) / (hi - saturation),
 * 0, 1), hi = the 99th percentile of v (the pupil's level), so a pixel's weight is about the
 * fraction of it the pupil covers (default saturation: the background, the median of v, plus 3
 * noise std estimated by the MAD, at most midway to hi); starting from a disk at the darkest
 * blob (maximum of the weights box-blurred over half that disk's radius) with the area the weights add up to, a weighted 2-D Gaussian (mean and covariance) is fitted
 * 5 times on the pixels within 1.5x the previous fit's ellipse (Mahalanobis distance <= 3), which
 * drops dark pixels away from the pupil (eyelashes, corners).
 *
 * Scaling: a uniformly dark ellipse with semi-axes a, b has covariance eigenvalues a^2/4, b^2/4,
 * so sv_i = 4 lambda_i are the squared semi-axes, axlen = sqrt(sv) (pixels) and
 * area = pi * sqrt(sv0 * sv1) = pi a b is the pupil's area in pixels^2 of the original frame.
 */
import { ParamError, ShapeError } from '../errors';

export interface PupilOptions {
  /** Inverted grey level (255 - I) at and below which pixels get no weight; default automatic (see module comment). */
  readonly saturation?: number;
  /** Grey levels at or above this are reflections and are filled; default 200. */
  readonly reflector?: number;
  /** Refits of the Gaussian on the pixels near the previous fit; default 5. */
  readonly iterations?: number;
}

/** One frame's pupil fit, in pixels of the ROI (row y, column x from its top-left corner). */
export interface PupilFit {
  /** pi * sqrt(sv0 * sv1), pixels^2; NaN when no pixel has weight. */
  area: number;
  /** Centre of mass (row, column). */
  cy: number;
  cx: number;
  /** Semi-axes sqrt(sv0) >= sqrt(sv1), pixels. */
  axlen: [number, number];
  /** Unit vectors (dy, dx) of the major and minor axes. */
  axdir: [[number, number], [number, number]];
}

function percentile(sorted: Float64Array, q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}

/**
 * Fits the pupil in one frame of an eye ROI (Ly x Lx grey levels, row-major).
 * @returns PupilFit in ROI pixels.
 */
export function fitPupil(frame: ArrayLike<number>, Ly: number, Lx: number, opts: PupilOptions = {}): PupilFit {
  const n = Ly * Lx;
  if (frame.length !== n) throw new ShapeError(`pupil: frame of ${frame.length} values, expected ${Ly} x ${Lx}`);
  const reflector = opts.reflector ?? 200;
  const iterations = opts.iterations ?? 5;
  if (!Number.isInteger(iterations) || iterations < 0) throw new ParamError('iterations', iterations, 'an integer >= 0');
  const v = new Float64Array(n);
  const refl = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    v[i] = 255 - frame[i];
    if (frame[i] >= reflector) refl[i] = 1;
  }
  fillReflections(v, refl, Ly, Lx);
  const sorted = Float64Array.from(v).sort();
  const bg = percentile(sorted, 0.5);
  const hi = percentile(sorted, 0.99);
  const dev = Float64Array.from(v, (x) => Math.abs(x - bg)).sort();
  const noise = 1.4826 * percentile(dev, 0.5);
  const lo = opts.saturation ?? Math.min(bg + 3 * noise, 0.5 * (bg + hi));
  const w = new Float64Array(n);
  if (hi > lo) for (let i = 0; i < n; i++) w[i] = Math.min(1, Math.max(0, (v[i] - lo) / (hi - lo)));
  const all = new Uint8Array(n).fill(1);
  let fit = gaussianMoments(w, all, Ly, Lx);
  if (!fit) return { area: NaN, cy: NaN, cx: NaN, axlen: [NaN, NaN], axdir: [[NaN, NaN], [NaN, NaN]] };
  // Start from the darkest blob (maximum of the weights box-blurred over half the radius below), as a disk of the area
  // the weights add up to: other dark pixels (lashes, corners) then fall outside the first mask.
  let total = 0;
  for (let i = 0; i < n; i++) total += w[i];
  const r2 = total / Math.PI;
  const c0 = blurredArgmax(w, Ly, Lx, Math.max(2, Math.round(0.5 * Math.sqrt(r2))));
  fit = { my: c0.y, mx: c0.x, cyy: r2 / 4, cxx: r2 / 4, cxy: 0 };
  const mask = new Uint8Array(n);
  for (let it = 0; it < iterations; it++) {
    const { my, mx, cyy, cxx, cxy } = fit;
    const det = cyy * cxx - cxy * cxy;
    if (!(det > 0)) break;
    for (let y = 0; y < Ly; y++) {
      for (let x = 0; x < Lx; x++) {
        const dy = y - my;
        const dx = x - mx;
        const d2 = (cxx * dy * dy - 2 * cxy * dy * dx + cyy * dx * dx) / det;
        mask[y * Lx + x] = d2 <= 9 ? 1 : 0;
      }
    }
    fit = gaussianMoments(w, mask, Ly, Lx) ?? fit;
  }
  if (!fit) return { area: NaN, cy: NaN, cx: NaN, axlen: [NaN, NaN], axdir: [[NaN, NaN], [NaN, NaN]] };
  const { my, mx, cyy, cxx, cxy } = fit;
  const tr = cyy + cxx;
  const disc = Math.sqrt(Math.max(0, ((cyy - cxx) / 2) ** 2 + cxy * cxy));
  const l0 = tr / 2 + disc;
  const l1 = Math.max(0, tr / 2 - disc);
  // Eigenvector of [[cyy, cxy], [cxy, cxx]] for l0, as (dy, dx).
  let ey = cxy;
  let ex = l0 - cyy;
  if (Math.hypot(ey, ex) < 1e-12) [ey, ex] = cyy >= cxx ? [1, 0] : [0, 1];
  const nrm = Math.hypot(ey, ex);
  ey /= nrm;
  ex /= nrm;
  const sv0 = 4 * l0;
  const sv1 = 4 * l1;
  return {
    area: Math.PI * Math.sqrt(sv0 * sv1),
    cy: my,
    cx: mx,
    axlen: [Math.sqrt(sv0), Math.sqrt(sv1)],
    axdir: [
      [ey, ex],
      [-ex, ey],
    ],
  };
}

function blurredArgmax(w: Float64Array, Ly: number, Lx: number, r: number): { y: number; x: number } {
  let best = -1;
  let by = 0;
  let bx = 0;
  for (let y = 0; y < Ly; y++) {
    for (let x = 0; x < Lx; x++) {
      let s = 0;
      for (let yy = Math.max(0, y - r); yy <= Math.min(Ly - 1, y + r); yy++) for (let xx = Math.max(0, x - r); xx <= Math.min(Lx - 1, x + r); xx++) s += w[yy * Lx + xx];
      if (s > best) {
        best = s;
        by = y;
        bx = x;
      }
    }
  }
  return { y: by, x: bx };
}

function gaussianMoments(w: Float64Array, mask: Uint8Array, Ly: number, Lx: number) {
  let s = 0;
  let sy = 0;
  let sx = 0;
  for (let y = 0; y < Ly; y++) {
    for (let x = 0; x < Lx; x++) {
      const i = y * Lx + x;
      if (!mask[i] || w[i] === 0) continue;
      s += w[i];
      sy += w[i] * y;
      sx += w[i] * x;
    }
  }
  if (!(s > 0)) return null;
  const my = sy / s;
  const mx = sx / s;
  let cyy = 0;
  let cxx = 0;
  let cxy = 0;
  for (let y = 0; y < Ly; y++) {
    for (let x = 0; x < Lx; x++) {
      const i = y * Lx + x;
      if (!mask[i] || w[i] === 0) continue;
      cyy += w[i] * (y - my) ** 2;
      cxx += w[i] * (x - mx) ** 2;
      cxy += w[i] * (y - my) * (x - mx);
    }
  }
  return { my, mx, cyy: cyy / s, cxx: cxx / s, cxy: cxy / s };
}

/**
 * Replaces reflection pixels (and a 1-pixel rim around them, which is blurred) by the mean of the
 * non-reflection pixels in the smallest square window (radius 2..12) that holds at least 4.
 */
function fillReflections(v: Float64Array, refl: Uint8Array, Ly: number, Lx: number): void {
  let any = false;
  for (let i = 0; i < refl.length; i++) if (refl[i]) any = true;
  if (!any) return;
  const grown = new Uint8Array(refl.length);
  for (let y = 0; y < Ly; y++) {
    for (let x = 0; x < Lx; x++) {
      if (!refl[y * Lx + x]) continue;
      for (let yy = Math.max(0, y - 1); yy <= Math.min(Ly - 1, y + 1); yy++) {
        for (let xx = Math.max(0, x - 1); xx <= Math.min(Lx - 1, x + 1); xx++) grown[yy * Lx + xx] = 1;
      }
    }
  }
  const src = Float64Array.from(v);
  for (let y = 0; y < Ly; y++) {
    for (let x = 0; x < Lx; x++) {
      if (!grown[y * Lx + x]) continue;
      for (let r = 2; r <= 12; r++) {
        let s = 0;
        let c = 0;
        for (let yy = Math.max(0, y - r); yy <= Math.min(Ly - 1, y + r); yy++) {
          for (let xx = Math.max(0, x - r); xx <= Math.min(Lx - 1, x + r); xx++) {
            if (!grown[yy * Lx + xx]) {
              s += src[yy * Lx + xx];
              c++;
            }
          }
        }
        if (c >= 4 || r === 12) {
          if (c > 0) v[y * Lx + x] = s / c;
          break;
        }
      }
    }
  }
}

/**
 * Running median over a centred window of `window` samples (odd; shrunk at the ends), NaNs
 * ignored. Returns a new array of x's length.
 */
export function medianFilter(x: ArrayLike<number>, window = 31): Float32Array {
  if (!Number.isInteger(window) || window < 1 || window % 2 === 0) throw new ParamError('window', window, 'an odd integer >= 1');
  const h = (window - 1) / 2;
  const out = new Float32Array(x.length);
  for (let t = 0; t < x.length; t++) {
    const vals: number[] = [];
    for (let s = Math.max(0, t - h); s <= Math.min(x.length - 1, t + h); s++) if (!Number.isNaN(x[s])) vals.push(x[s]);
    vals.sort((a, b) => a - b);
    const m = vals.length;
    out[t] = m === 0 ? NaN : m % 2 ? vals[(m - 1) / 2] : 0.5 * (vals[m / 2 - 1] + vals[m / 2]);
  }
  return out;
}

/** Pupil traces of n frames. Coordinates are in pixels of the original frame (ROI offset added). */
export interface PupilTraces {
  /** n: area, pixels^2. */
  area: Float32Array;
  /** n: area after the 31-frame running median. */
  area_smooth: Float32Array;
  /** n x 2 (row y, column x): centre of mass. */
  com: Float32Array;
  /** n x 2: centre after the running median of each coordinate. */
  com_smooth: Float32Array;
  /** n x 2: semi-axes (major, minor), pixels. */
  axlen: Float32Array;
  /** n x 2 x 2: unit vectors (dy, dx) of the major and minor axes. */
  axdir: Float32Array;
}

/** Accumulates per-frame pupil fits of one ROI and smooths them at the end. */
export class PupilTracker {
  private readonly fits: PupilFit[] = [];
  constructor(
    readonly Ly: number,
    readonly Lx: number,
    readonly offset: { y: number; x: number } = { y: 0, x: 0 },
    readonly opts: PupilOptions = {},
  ) {}

  /** Fits one more frame (Ly x Lx). */
  push(frame: ArrayLike<number>): PupilFit {
    const f = fitPupil(frame, this.Ly, this.Lx, this.opts);
    this.fits.push(f);
    return f;
  }

  /** The traces of every frame pushed, with 31-frame median smoothing. */
  traces(window = 31): PupilTraces {
    const n = this.fits.length;
    const area = new Float32Array(n);
    const com = new Float32Array(2 * n);
    const axlen = new Float32Array(2 * n);
    const axdir = new Float32Array(4 * n);
    const cy = new Float32Array(n);
    const cx = new Float32Array(n);
    this.fits.forEach((f, t) => {
      area[t] = f.area;
      cy[t] = f.cy + this.offset.y;
      cx[t] = f.cx + this.offset.x;
      com[2 * t] = cy[t];
      com[2 * t + 1] = cx[t];
      axlen.set(f.axlen, 2 * t);
      axdir.set([...f.axdir[0], ...f.axdir[1]], 4 * t);
    });
    const sy = medianFilter(cy, window);
    const sx = medianFilter(cx, window);
    const com_smooth = new Float32Array(2 * n);
    for (let t = 0; t < n; t++) {
      com_smooth[2 * t] = sy[t];
      com_smooth[2 * t + 1] = sx[t];
    }
    return { area, area_smooth: medianFilter(area, window), com, com_smooth, axlen, axdir };
  }
}

/** Blink trace value of one frame: the mean grey level of the eye ROI (0..255; rises as the lid closes over a dark eye). */
export function blinkValue(frame: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < frame.length; i++) s += frame[i];
  return s / frame.length;
}
