/**
 * Running speed from a camera looking at a textured ball or treadmill: the displacement (dx, dy)
 * of the ROI's content between consecutive frames by phase correlation.
 *
 * Method: each frame has its mean removed, is tapered by a separable Hann window and zero-padded to
 * powers of two; the normalised cross-power spectrum F_t conj(F_{t-1}) / |F_t conj(F_{t-1})| is
 * multiplied by a Gaussian (spatial std `sigma` pixels), so that its inverse transform is a
 * Gaussian bump centred on the shift; the sub-pixel peak is the vertex of a parabola through the
 * log values of the maximum and its two neighbours along each axis (exact for a Gaussian peak).
 * Facemap's version discards its FFT result and returns ~0; this one returns the shift.
 *
 * Sign: dx > 0 when the content moved right (towards larger x) from frame t-1 to frame t; dy > 0
 * when it moved down (larger row index). Units: pixels of the ROI (unbinned) per frame.
 */
import { ParamError, ShapeError } from '../errors';

/** In-place iterative radix-2 FFT of length n (a power of 2) on (re, im) at stride 1 from `off`. */
function fft1(re: Float64Array, im: Float64Array, off: number, n: number, inverse: boolean): void {
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const tr = re[off + i];
      re[off + i] = re[off + j];
      re[off + j] = tr;
      const ti = im[off + i];
      im[off + i] = im[off + j];
      im[off + j] = ti;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    const half = len >> 1;
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < half; k++) {
        const a = off + i + k;
        const b = a + half;
        const xr = re[b] * cr - im[b] * ci;
        const xi = re[b] * ci + im[b] * cr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] += xr;
        im[a] += xi;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

/**
 * 2-D FFT in place of an ny x nx complex array (row-major; both powers of 2). The inverse is
 * unnormalised (divide by ny * nx).
 */
export function fft2(re: Float64Array, im: Float64Array, ny: number, nx: number, inverse = false): void {
  if (!isPow2(ny) || !isPow2(nx)) throw new ParamError('fft2 size', `${ny} x ${nx}`, 'powers of 2');
  if (re.length !== ny * nx || im.length !== ny * nx) throw new ShapeError(`fft2: arrays of ${re.length} values for ${ny} x ${nx}`);
  for (let y = 0; y < ny; y++) fft1(re, im, y * nx, nx, inverse);
  const cr = new Float64Array(ny);
  const ci = new Float64Array(ny);
  for (let x = 0; x < nx; x++) {
    for (let y = 0; y < ny; y++) {
      cr[y] = re[y * nx + x];
      ci[y] = im[y * nx + x];
    }
    fft1(cr, ci, 0, ny, inverse);
    for (let y = 0; y < ny; y++) {
      re[y * nx + x] = cr[y];
      im[y * nx + x] = ci[y];
    }
  }
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

export interface RunningOptions {
  /** Spatial std (pixels) of the Gaussian that shapes the correlation peak; default 1.5. */
  readonly sigma?: number;
}

/**
 * Phase correlation of consecutive frames of one ROI, fed frame by frame (streaming): keeps the
 * spectrum of the previous frame only.
 */
export class PhaseCorrelator {
  private readonly ny: number;
  private readonly nx: number;
  private readonly win: Float64Array;
  private readonly gauss: Float64Array;
  private prevRe: Float64Array | null = null;
  private prevIm: Float64Array | null = null;

  /** @param Ly, Lx size of the ROI frames that will be fed (pixels). */
  constructor(
    readonly Ly: number,
    readonly Lx: number,
    opts: RunningOptions = {},
  ) {
    if (!Number.isInteger(Ly) || !Number.isInteger(Lx) || Ly < 4 || Lx < 4) {
      throw new ParamError('running ROI size', `${Ly} x ${Lx}`, 'at least 4 x 4 pixels');
    }
    const sigma = opts.sigma ?? 1.5;
    if (!(sigma > 0)) throw new ParamError('sigma', sigma, 'a number > 0 (pixels)');
    this.ny = nextPow2(Ly);
    this.nx = nextPow2(Lx);
    const hann = (n: number) => Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / n));
    const wy = hann(Ly);
    const wx = hann(Lx);
    this.win = new Float64Array(Ly * Lx);
    for (let y = 0; y < Ly; y++) for (let x = 0; x < Lx; x++) this.win[y * Lx + x] = wy[y] * wx[x];
    this.gauss = new Float64Array(this.ny * this.nx);
    for (let y = 0; y < this.ny; y++) {
      const fy = (y <= this.ny / 2 ? y : y - this.ny) / this.ny;
      for (let x = 0; x < this.nx; x++) {
        const fx = (x <= this.nx / 2 ? x : x - this.nx) / this.nx;
        this.gauss[y * this.nx + x] = Math.exp(-2 * Math.PI * Math.PI * sigma * sigma * (fx * fx + fy * fy));
      }
    }
  }

  /**
   * Feeds the next frame (Ly x Lx, row-major; any numeric array) and returns its shift from the
   * previous frame fed, or (0, 0) for the first frame.
   */
  next(frame: ArrayLike<number>): { dx: number; dy: number } {
    const { Ly, Lx, ny, nx } = this;
    if (frame.length !== Ly * Lx) throw new ShapeError(`running: frame of ${frame.length} values, expected ${Ly} x ${Lx}`);
    let mean = 0;
    for (let i = 0; i < frame.length; i++) mean += frame[i];
    mean /= frame.length;
    const re = new Float64Array(ny * nx);
    const im = new Float64Array(ny * nx);
    for (let y = 0; y < Ly; y++) for (let x = 0; x < Lx; x++) re[y * nx + x] = (frame[y * Lx + x] - mean) * this.win[y * Lx + x];
    fft2(re, im, ny, nx);
    const pr = this.prevRe;
    const pi = this.prevIm;
    this.prevRe = re;
    this.prevIm = im;
    if (!pr || !pi) return { dx: 0, dy: 0 };
    const cr = new Float64Array(ny * nx);
    const ci = new Float64Array(ny * nx);
    for (let i = 0; i < cr.length; i++) {
      const r = re[i] * pr[i] + im[i] * pi[i];
      const m = im[i] * pr[i] - re[i] * pi[i];
      const mag = Math.hypot(r, m) + 1e-12;
      cr[i] = (r / mag) * this.gauss[i];
      ci[i] = (m / mag) * this.gauss[i];
    }
    fft2(cr, ci, ny, nx, true);
    let best = 0;
    for (let i = 1; i < cr.length; i++) if (cr[i] > cr[best]) best = i;
    const by = Math.floor(best / nx);
    const bx = best % nx;
    const at = (y: number, x: number) => cr[((y + ny) % ny) * nx + ((x + nx) % nx)];
    const c = at(by, bx);
    const sub = (m: number, p: number) => {
      // Parabola through log values: the vertex of a sampled Gaussian exactly.
      const l0 = Math.log(Math.max(m, c * 1e-6));
      const l1 = Math.log(c);
      const l2 = Math.log(Math.max(p, c * 1e-6));
      const den = l0 - 2 * l1 + l2;
      return den < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (l0 - l2)) / den)) : 0;
    };
    const dy = (by > ny / 2 ? by - ny : by) + sub(at(by - 1, bx), at(by + 1, bx));
    const dx = (bx > nx / 2 ? bx - nx : bx) + sub(at(by, bx - 1), at(by, bx + 1));
    return { dx, dy };
  }
}

/**
 * Shifts of n frames held in memory (n x Ly x Lx, row-major).
 * @returns dx, dy: n values each (pixels per frame; frame 0 is 0), sign as in the module comment.
 */
export function runningShifts(frames: ArrayLike<number>, n: number, Ly: number, Lx: number, opts: RunningOptions = {}): { dx: Float32Array; dy: Float32Array } {
  if (frames.length !== n * Ly * Lx) throw new ShapeError(`running: ${frames.length} values, expected ${n} x ${Ly} x ${Lx}`);
  const pc = new PhaseCorrelator(Ly, Lx, opts);
  const dx = new Float32Array(n);
  const dy = new Float32Array(n);
  const arr = frames as unknown as Float32Array;
  for (let t = 0; t < n; t++) {
    const s = pc.next(typeof arr.subarray === 'function' ? arr.subarray(t * Ly * Lx, (t + 1) * Ly * Lx) : Array.from({ length: Ly * Lx }, (_, i) => frames[t * Ly * Lx + i]));
    dx[t] = s.dx;
    dy[t] = s.dy;
  }
  return { dx, dy };
}
