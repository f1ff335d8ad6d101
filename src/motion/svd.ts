/**
 * Motion and movie SVDs of behaviour videos (Facemap's `process.run`), as an estimator:
 * `const m = await new MotionSVD({ sbin: 4, rois }).fit(files); const r = await m.transform(files)`.
 *
 * Frames are binned (mean over sbin x sbin blocks) and, for several simultaneously recorded
 * videos, concatenated pixel-wise: a binned frame is a vector of P = sum_v Lyb_v * Lxb_v values,
 * video 0's pixels first, each video row-major. A "target" is the whole binned frame or the binned
 * box of one motion/movie ROI (binned rows floor(y0/sbin) .. ceil(y1/sbin)-1, clipped to the
 * binned frame; same for columns).
 *
 * fit:
 *  1. avgframe (P) = mean of up to `nMeanFrames` frames sampled in `nMeanChunks` evenly spaced
 *     chunks; avgmotion (P) = mean of |X_t - X_{t-1}| over consecutive frames within those chunks.
 *  2. Up to `nMaskChunks` evenly spaced chunks of `maskChunkLength` frames: per target, motion =
 *     |diff(X)| - avgmotion (rows: the frames of the chunk but its first), movie = X - avgframe;
 *     keep V*S of its `chunkComponents`-component SVD (pixels x components), or Dᵀ Q for an
 *     orthonormal basis Q of the same frame subspace (equal up to a rotation of the columns,
 *     which step 3 does not see). With a single chunk
 *     (videos shorter than two chunks) it keeps min(nComponents, frames - 1) components, as
 *     Facemap does, and its V are the masks.
 *  3. Masks U (pixels x nComponents) = left singular vectors of the concatenation of those blocks;
 *     deterministic signs (largest-|entry| of each column positive). Memory: the blocks,
 *     P_target x (nMaskChunks * chunkComponents) floats, independent of the video's length.
 *  Decoding once: the binned frames of the mask chunks (up to `cacheMB` of them) are read first and
 *  kept; the mean frame takes its sampled chunks from them where they lie inside (decoding only the
 *  others), and `transform` of the same videos right after `fit` takes those frames from memory
 *  too (then frees them), so a video no longer than the mask chunks is decoded once, not 2-3 times.
 * transform: every frame in chunks of `projectionChunk` (streamed: memory is one chunk plus the
 *  outputs): motSVD = (|X_t - X_{t-1}| - avgmotion) @ U, movSVD = (X_t - avgframe) @ U, motion
 *  energy = sum over the target's binned pixels of |X_t - X_{t-1}|. Differences across chunk
 *  boundaries use the previous chunk's last frame; frame 0 has no predecessor and its difference
 *  is 0 (so motion[0] = 0 and motSVD[0] = -avgmotion @ U). Facemap's off-by-one in the first chunk
 *  is not copied. Pupil, blink and running ROIs are computed in the same pass on unbinned crops.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NotFittedError, ParamError } from '../errors';
import { binFrames } from '../io/video';
import { flipSigns, gramRangeFinder, gramSvd, matmul, randomizedSvd, type Matrix, type SvdResult } from '../engine/linalg';
import { blinkValue, PupilTracker, type PupilTraces } from './pupil';
import { PhaseCorrelator } from './running';
import { validateRois, type RoiSpec } from './rois';
import { videoSource, type FrameSource } from './source';

export type MotionStage = 'mean' | 'masks' | 'project';

export interface MotionSVDConfig {
  /** Spatial binning factor, integer >= 1; default 4. */
  sbin: number;
  /** Spatial masks (components) kept per target, integer >= 1; default 500 (fewer when the data has fewer). */
  nComponents: number;
  /** Components kept from each mask chunk's SVD, integer >= 1; default 250. */
  chunkComponents: number;
  /** Motion SVD of the whole (concatenated) frame; default true. Motion ROIs are processed either way. */
  motion: boolean;
  /** Movie SVD (frames - mean frame) of the whole frame; default false. */
  movie: boolean;
  /** ROIs (see rois.ts); default none. */
  rois: RoiSpec[];
  /** Frames sampled for the mean frame and mean motion; default 1000. */
  nMeanFrames: number;
  /** Evenly spaced chunks those frames come in; default 10. */
  nMeanChunks: number;
  /** Frames per mask chunk; default 1000. */
  maskChunkLength: number;
  /** Mask chunks (at most; fewer when the video is shorter than this many chunks); default 15. */
  nMaskChunks: number;
  /** Frames per projection chunk; default 500. */
  projectionChunk: number;
  /** Seed of the randomized SVDs; default 0. */
  seed: number;
  /**
   * Power iterations of each SVD (subspace iteration on the Gram matrix A Aᵀ of the small side, so
   * q iterations raise the spectrum to the power 2q + 2, against 2q + 1 for q iterations of
   * scikit-learn's randomized SVD on A); default 2. Integer >= 0.
   */
  powerIters: number;
  /**
   * Memory (MiB) for the binned frames of the mask chunks, kept from `fit` for the mean frame and
   * for a `transform` of the same videos (see above); default 1024; 0 decodes every stage anew.
   * Not used for frames that pupil, blink or running ROIs need unbinned.
   */
  cacheMB: number;
  /** Progress: `done` of `total` frames of each stage. */
  onProgress?: (stage: MotionStage, done: number, total: number) => void;
}

export const DEFAULT_MOTION_SVD_CONFIG: Readonly<Omit<MotionSVDConfig, 'onProgress'>> = Object.freeze({
  sbin: 4,
  nComponents: 500,
  chunkComponents: 250,
  motion: true,
  movie: false,
  rois: [],
  nMeanFrames: 1000,
  nMeanChunks: 10,
  maskChunkLength: 1000,
  nMaskChunks: 15,
  projectionChunk: 500,
  seed: 0,
  powerIters: 2,
  cacheMB: 1024,
});

/** Fills defaults and checks every field; throws ParamError naming the field. */
export function resolveMotionSVDConfig(partial: Partial<MotionSVDConfig> = {}): MotionSVDConfig {
  const c: MotionSVDConfig = { ...DEFAULT_MOTION_SVD_CONFIG, ...partial, rois: validateRois(partial.rois ?? []) };
  for (const k of ['sbin', 'nComponents', 'chunkComponents', 'nMeanFrames', 'nMeanChunks', 'maskChunkLength', 'nMaskChunks', 'projectionChunk'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new ParamError(k, c[k], 'an integer >= 1');
  }
  if (c.maskChunkLength < 2) throw new ParamError('maskChunkLength', c.maskChunkLength, 'an integer >= 2 (motion needs 2 frames)');
  if (!Number.isInteger(c.seed)) throw new ParamError('seed', c.seed, 'an integer');
  if (!Number.isInteger(c.powerIters) || c.powerIters < 0) throw new ParamError('powerIters', c.powerIters, 'an integer >= 0');
  if (typeof c.cacheMB !== 'number' || !(c.cacheMB >= 0)) throw new ParamError('cacheMB', c.cacheMB, 'a number >= 0 (MiB)');
  for (const k of ['motion', 'movie'] as const) if (typeof c[k] !== 'boolean') throw new ParamError(k, c[k], 'true or false');
  if (c.onProgress !== undefined && typeof c.onProgress !== 'function') throw new ParamError('onProgress', c.onProgress, 'a function');
  return c;
}

/** Binned layout of one video inside the concatenated frame. */
export interface VideoLayout {
  /** Unbinned frame size. */
  Ly: number;
  Lx: number;
  /** Binned frame size (floor(L / sbin)). */
  Lyb: number;
  Lxb: number;
  /** Index of its first pixel in the concatenated binned frame. */
  offset: number;
}

/** A whole frame or ROI that gets its own masks. */
export interface SvdTarget {
  kind: 'motion' | 'movie';
  /** Index into config.rois, or null for the whole (concatenated) frame. */
  roi: number | null;
  /** Pixels (indices into the concatenated binned frame), or null for all of them. */
  pixels: Int32Array | null;
  /** Binned box size (Ly x Lx = pixels), or null for the whole frame of several videos. */
  Ly: number | null;
  Lx: number | null;
}

/** Learned state of one target. */
export interface FittedTarget extends SvdTarget {
  /** pixels x k spatial masks, orthonormal columns. */
  masks: Matrix;
  /** k singular values of the concatenated chunk blocks (descending). */
  sv: Float32Array;
}

/** Output of MotionSVD.transform. Lists are ordered like the model's targets of each kind. */
export interface MotionSVDResult {
  nFrames: number;
  /** Per motion target: nFrames x k projections. */
  motSVD: Matrix[];
  /** Per movie target: nFrames x k projections. */
  movSVD: Matrix[];
  /** Per motion target: nFrames motion energy (sum of |diff| over its binned pixels; frame 0 is 0). */
  motion: Float32Array[];
  /** Per pupil ROI. */
  pupil: PupilTraces[];
  /** Per blink ROI: nFrames mean grey level of the ROI. */
  blink: Float32Array[];
  /** Per running ROI: dx, dy (nFrames each, pixels per frame; see running.ts for the sign). */
  running: { dx: Float32Array; dy: Float32Array }[];
}

/** Evenly spaced chunk starts: n chunks of `len` frames within nFrames (numpy linspace, floored). */
function chunkStarts(nFrames: number, len: number, n: number): number[] {
  if (n === 1) return [0];
  return Array.from({ length: n }, (_, i) => Math.floor((i * (nFrames - len)) / (n - 1)));
}

/** Binned, concatenated frames start .. start + n - 1 (n x P). */
interface CachedChunk {
  start: number;
  n: number;
  X: Float32Array;
}

/**
 * What identifies the videos of a fit for the frame cache: the FrameSource object itself, or for
 * file paths each path with its size and modification time.
 */
async function sourceKey(videos: readonly string[] | FrameSource, src: FrameSource): Promise<unknown> {
  if (!Array.isArray(videos) && typeof videos !== 'string') return src;
  const files = typeof videos === 'string' ? [videos] : (videos as readonly string[]);
  const stats = await Promise.all(files.map((f) => fs.promises.stat(f).then((st) => `${path.resolve(f)}|${st.size}|${st.mtimeMs}`, () => null)));
  return stats.some((x) => x === null) ? null : stats.join('\n');
}

function gather(X: Float32Array, n: number, P: number, pixels: Int32Array | null): Float32Array {
  if (!pixels) return X;
  const m = pixels.length;
  const out = new Float32Array(n * m);
  for (let t = 0; t < n; t++) for (let j = 0; j < m; j++) out[t * m + j] = X[t * P + pixels[j]];
  return out;
}

export class MotionSVD {
  readonly config: MotionSVDConfig;
  /** Binned layout of each video (after fit). */
  layout: VideoLayout[] | null = null;
  /** Pixels of the concatenated binned frame. */
  nPixels = 0;
  /** P: mean binned frame and mean |diff| (after fit). */
  avgframe: Float32Array | null = null;
  avgmotion: Float32Array | null = null;
  /** Targets with their masks (after fit): motion targets first, then movie targets. */
  targets: FittedTarget[] = [];
  /** Names of the videos fitted. */
  names: string[] = [];
  /** Binned mask-chunk frames kept from fit for a transform of the same videos (freed by it). */
  private cache: { key: unknown; chunks: CachedChunk[] } | null = null;

  constructor(config: Partial<MotionSVDConfig> = {}) {
    this.config = resolveMotionSVDConfig(config);
  }

  get motionTargets(): FittedTarget[] {
    return this.targets.filter((t) => t.kind === 'motion');
  }
  get movieTargets(): FittedTarget[] {
    return this.targets.filter((t) => t.kind === 'movie');
  }

  /** Binned, concatenated frames of one source chunk: n x P. */
  private binned(views: (Uint8Array | Float32Array)[], n: number): Float32Array {
    const layout = this.layout!;
    const P = this.nPixels;
    if (layout.length === 1 && this.config.sbin === 1) return Float32Array.from(views[0]);
    const X = new Float32Array(n * P);
    layout.forEach((l, v) => {
      const b = binFrames(views[v], n, l.Ly, l.Lx, this.config.sbin).frames;
      const m = l.Lyb * l.Lxb;
      if (layout.length === 1) X.set(b);
      else for (let t = 0; t < n; t++) X.set(b.subarray(t * m, (t + 1) * m), t * P + l.offset);
    });
    return X;
  }

  private planTargets(): SvdTarget[] {
    const { rois, sbin } = this.config;
    const layout = this.layout!;
    const whole = (kind: 'motion' | 'movie'): SvdTarget => ({
      kind,
      roi: null,
      pixels: null,
      Ly: layout.length === 1 ? layout[0].Lyb : null,
      Lx: layout.length === 1 ? layout[0].Lxb : null,
    });
    const fromRoi = (i: number): SvdTarget => {
      const r = rois[i];
      const l = layout[r.video ?? 0];
      const yb0 = Math.floor(r.box.y0 / sbin);
      const xb0 = Math.floor(r.box.x0 / sbin);
      const yb1 = Math.min(l.Lyb, Math.ceil(r.box.y1 / sbin));
      const xb1 = Math.min(l.Lxb, Math.ceil(r.box.x1 / sbin));
      if (yb0 >= yb1 || xb0 >= xb1) {
        throw new ParamError(`rois[${i}].box`, JSON.stringify(r.box), `a box that covers at least one binned pixel (binned frame ${l.Lyb} x ${l.Lxb}, sbin ${sbin})`);
      }
      const pixels = new Int32Array((yb1 - yb0) * (xb1 - xb0));
      let k = 0;
      for (let y = yb0; y < yb1; y++) for (let x = xb0; x < xb1; x++) pixels[k++] = l.offset + y * l.Lxb + x;
      return { kind: r.type as 'motion' | 'movie', roi: i, pixels, Ly: yb1 - yb0, Lx: xb1 - xb0 };
    };
    const out: SvdTarget[] = [];
    if (this.config.motion) out.push(whole('motion'));
    rois.forEach((r, i) => r.type === 'motion' && out.push(fromRoi(i)));
    if (this.config.movie) out.push(whole('movie'));
    rois.forEach((r, i) => r.type === 'movie' && out.push(fromRoi(i)));
    return out;
  }

  /**
   * Learns the mean frame, mean motion and the masks of every target from `videos` (file paths,
   * read in lockstep, or a FrameSource). Returns this.
   */
  async fit(videos: readonly string[] | FrameSource): Promise<this> {
    const src = await asSource(videos);
    const c = this.config;
    validateRois(c.rois, src.sizes);
    const nFrames = src.nFrames;
    if (nFrames < 2) throw new ParamError('videos', `${nFrames} frame`, 'at least 2 frames');
    let offset = 0;
    this.layout = src.sizes.map((s, v) => {
      const Lyb = Math.floor(s.Ly / c.sbin);
      const Lxb = Math.floor(s.Lx / c.sbin);
      if (Lyb < 1 || Lxb < 1) throw new ParamError('sbin', c.sbin, `at most ${Math.min(s.Ly, s.Lx)} (video ${v} is ${s.Ly} x ${s.Lx})`);
      const l = { Ly: s.Ly, Lx: s.Lx, Lyb, Lxb, offset };
      offset += Lyb * Lxb;
      return l;
    });
    this.nPixels = offset;
    this.names = [...src.names];
    const P = offset;
    const plan = this.planTargets();
    const progress = c.onProgress ?? (() => undefined);

    // Mask chunks, and how many of them are kept in memory (binned) between the stages.
    const len = Math.min(c.maskChunkLength, nFrames);
    const nMask = Math.min(c.nMaskChunks, Math.max(1, Math.floor(nFrames / len)));
    const maskStarts = chunkStarts(nFrames, len, nMask);
    const nCached = Math.min(nMask, Math.floor((c.cacheMB * 2 ** 20) / (len * P * 4)));
    this.cache = null;
    const cache: CachedChunk[] = [];

    // 1. Mean frame and mean motion (reading the cached mask chunks first).
    const nMean = Math.min(c.nMeanFrames, nFrames);
    let nChunks = Math.min(c.nMeanChunks, Math.floor(nMean / 2));
    if (nChunks < 1) nChunks = 1;
    const meanLen = Math.floor(nMean / nChunks);
    const meanStarts = chunkStarts(nFrames, meanLen, nChunks);
    const inCache = (s: number, n: number) => cache.find((ch) => s >= ch.start && s + n <= ch.start + ch.n);
    const meanTotal = nCached * len + nChunks * meanLen;
    let read = 0;
    // Runs of chunks less than MAX_SKIP frames apart are read by one decoder, skipping the gaps
    // (cheaper than a seek, which decodes from the previous keyframe, and a new ffmpeg each).
    const cachedStarts = maskStarts.slice(0, nCached);
    for (let i = 0; i < cachedStarts.length; ) {
      let j = i;
      while (j + 1 < cachedStarts.length && cachedStarts[j + 1] - (cachedStarts[j] + len) < MAX_SKIP) j++;
      const run = cachedStarts.slice(i, j + 1).map((s) => ({ start: s, n: len, X: new Float32Array(len * P) }));
      const first = run[0].start;
      for await (const ch of src.read(first, run[run.length - 1].start + len - first, Math.min(len, 250))) {
        const X = this.binned(ch.views, ch.n);
        for (const r of run) {
          const a = Math.max(r.start, ch.start);
          const b = Math.min(r.start + r.n, ch.start + ch.n);
          if (a < b) r.X.set(X.subarray((a - ch.start) * P, (b - ch.start) * P), (a - r.start) * P);
        }
        read += ch.n;
        progress('mean', Math.min(read, meanTotal), meanTotal);
      }
      cache.push(...run);
      i = j + 1;
    }
    const avgframe = new Float64Array(P);
    const avgmotion = new Float64Array(P);
    let nf = 0;
    let nd = 0;
    const accumulate = (X: Float32Array, n: number, prev: Float32Array | null): Float32Array | null => {
      for (let t = 0; t < n; t++) {
        const row = X.subarray(t * P, (t + 1) * P);
        for (let j = 0; j < P; j++) avgframe[j] += row[j];
        if (prev) for (let j = 0; j < P; j++) avgmotion[j] += Math.abs(row[j] - prev[j]);
        if (prev) nd++;
        prev = row;
        nf++;
      }
      return prev;
    };
    for (const s of meanStarts) {
      const hit = inCache(s, meanLen);
      if (hit) {
        accumulate(hit.X.subarray((s - hit.start) * P, (s - hit.start + meanLen) * P), meanLen, null);
        read += meanLen;
        progress('mean', read, meanTotal);
        continue;
      }
      let prev: Float32Array | null = null;
      for await (const ch of src.read(s, meanLen, meanLen)) {
        prev = accumulate(this.binned(ch.views, ch.n), ch.n, prev);
        read += ch.n;
        progress('mean', read, meanTotal);
      }
    }
    this.avgframe = Float32Array.from(avgframe, (x) => x / nf);
    this.avgmotion = Float32Array.from(avgmotion, (x) => (nd > 0 ? x / nd : 0));

    // 2. Per-chunk SVD blocks (V·S), in chunk order; with one chunk, its orthonormal V and S.
    const single = nMask === 1;
    const kChunk = single ? Math.min(c.nComponents, len - 1) : c.chunkComponents;
    const blocks: Matrix[][] = plan.map(() => []);
    const singles: SvdResult[] = [];
    let done = 0;
    const chunkSvd = (X: Float32Array, n: number) => {
      plan.forEach((tg, ti) => {
        const m = tg.pixels ? tg.pixels.length : P;
        const D = this.centred(tg, X, n, null);
        const rows = D.length / m;
        const k = Math.min(kChunk, rows, m);
        if (!single && rows <= m && rows <= GRAM_MAX_SIDE) {
          // Only the block's Gram matrix matters to step 3 (B Bᵀ = sum of Dᵀ Q Qᵀ D), so any
          // orthonormal basis Q of the chunk's dominant k-dim frame subspace will do: Dᵀ Q equals
          // V·S of the k-component SVD up to a rotation of its columns, without the eigensolver.
          const Q = gramRangeFinder({ data: D, rows, cols: m }, k, { seed: c.seed, powerIters: c.powerIters });
          blocks[ti].push(matmul({ data: D, rows, cols: m }, Q, { transposeA: true }));
          return;
        }
        // Only V·S (= Dᵀ U) is kept, so V need not be re-orthonormalised (rawV), unless V is the result.
        const r = truncatedSvd({ data: D, rows, cols: m }, k, c.seed, c.powerIters, !single);
        if (single) {
          singles[ti] = r;
          return;
        }
        const { V, S } = r;
        for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) V.data[i * k + j] *= S[j];
        blocks[ti].push(V);
      });
      done += n;
      progress('masks', done, nMask * len);
    };
    for (const ch of cache) chunkSvd(ch.X, ch.n);
    for (const s of maskStarts.slice(nCached)) {
      for await (const ch of src.read(s, len, len)) chunkSvd(this.binned(ch.views, ch.n), ch.n);
    }

    // 3. SVD of the concatenated blocks.
    this.targets = plan.map((tg, ti) => {
      if (single) {
        // V (pixels x k) of the only chunk, as U of an SVD (sign convention on the masks).
        const { V, S } = singles[ti];
        flipSigns(V);
        return { ...tg, masks: V, sv: S };
      }
      const m = tg.pixels ? tg.pixels.length : P;
      const cols = blocks[ti].reduce((a, b) => a + b.cols, 0);
      const C = new Float32Array(m * cols);
      let c0 = 0;
      for (const b of blocks[ti]) {
        for (let i = 0; i < m; i++) C.set(b.data.subarray(i * b.cols, (i + 1) * b.cols), i * cols + c0);
        c0 += b.cols;
      }
      blocks[ti] = [];
      const k = Math.min(c.nComponents, m, cols);
      const { U, S } = truncatedSvd({ data: C, rows: m, cols }, k, c.seed, c.powerIters);
      return { ...tg, masks: U, sv: S };
    });
    // Frames kept for transform: only when it needs no unbinned frames, and every mask chunk fit.
    const needsRaw = c.rois.some((r) => r.type === 'pupil' || r.type === 'blink' || r.type === 'running');
    this.cache = cache.length > 0 && !needsRaw ? { key: await sourceKey(videos, src), chunks: cache } : null;
    return this;
  }

  /**
   * The target's data for a chunk X (n x P): motion |X_t - X_{t-1}| - avgmotion for t = 1..n-1
   * (n-1 rows) when `prev` is null, else for t = 0..n-1 with X_{-1} = prev; movie X - avgframe (n rows).
   */
  private centred(tg: SvdTarget, X: Float32Array, n: number, prev: Float32Array | null): Float32Array {
    const P = this.nPixels;
    const px = tg.pixels;
    const m = px ? px.length : P;
    if (tg.kind === 'movie') {
      const out = new Float32Array(n * m);
      for (let t = 0; t < n; t++) for (let j = 0; j < m; j++) {
        const p = px ? px[j] : j;
        out[t * m + j] = X[t * P + p] - this.avgframe![p];
      }
      return out;
    }
    const t0 = prev ? 0 : 1;
    const out = new Float32Array((n - t0) * m);
    if (!px) {
      // whole frame: unit-stride loops without the pixel index (~2x faster)
      const avg = this.avgmotion!;
      for (let t = t0; t < n; t++) {
        const before = t === 0 ? prev! : X.subarray((t - 1) * P, t * P);
        const row = X.subarray(t * P, (t + 1) * P);
        const o = (t - t0) * m;
        for (let j = 0; j < m; j++) out[o + j] = Math.abs(row[j] - before[j]) - avg[j];
      }
      return out;
    }
    for (let t = t0; t < n; t++) {
      for (let j = 0; j < m; j++) {
        const p = px[j];
        const before = t === 0 ? prev![p] : X[(t - 1) * P + p];
        out[(t - t0) * m + j] = Math.abs(X[t * P + p] - before) - this.avgmotion![p];
      }
    }
    return out;
  }

  /**
   * Projects every frame of `videos` (the same videos, or others of the same sizes) onto the
   * masks, and computes motion energy, pupil, blink and running traces. Streams in chunks of
   * `projectionChunk` frames.
   * @throws NotFittedError before fit.
   */
  async transform(videos: readonly string[] | FrameSource): Promise<MotionSVDResult> {
    if (!this.layout || !this.avgframe || !this.avgmotion) throw new NotFittedError('MotionSVD');
    const src = await asSource(videos);
    const layout = this.layout;
    src.sizes.forEach((s, v) => {
      if (!layout[v] || s.Ly !== layout[v].Ly || s.Lx !== layout[v].Lx) {
        throw new ParamError(`videos[${v}] size`, `${s.Ly} x ${s.Lx}`, `the size fitted (${layout.map((l) => `${l.Ly} x ${l.Lx}`).join(', ')})`);
      }
    });
    if (src.sizes.length !== layout.length) throw new ParamError('videos', `${src.sizes.length} videos`, `${layout.length}, as fitted`);
    const c = this.config;
    const P = this.nPixels;
    const N = src.nFrames;
    const progress = c.onProgress ?? (() => undefined);
    const outs = this.targets.map((tg) => ({ rows: N, cols: tg.masks.cols, data: new Float32Array(N * tg.masks.cols) }));
    const energy = this.targets.map((tg) => (tg.kind === 'motion' ? new Float32Array(N) : null));
    // Offsets subtracted from every projection: avgmotion @ U and avgframe @ U.
    const offsets = this.targets.map((tg) => {
      const avg = tg.kind === 'motion' ? this.avgmotion! : this.avgframe!;
      const a = gather(avg, 1, P, tg.pixels);
      return matmul({ data: a, rows: 1, cols: a.length }, tg.masks).data;
    });
    const rois = c.rois;
    const pupils = new Map<number, PupilTracker>();
    const blinks = new Map<number, Float32Array>();
    const runs = new Map<number, { pc: PhaseCorrelator; dx: Float32Array; dy: Float32Array }>();
    rois.forEach((r, i) => {
      const h = r.box.y1 - r.box.y0;
      const w = r.box.x1 - r.box.x0;
      if (r.type === 'pupil') pupils.set(i, new PupilTracker(h, w, { y: r.box.y0, x: r.box.x0 }, r.options));
      if (r.type === 'blink') blinks.set(i, new Float32Array(N));
      if (r.type === 'running') runs.set(i, { pc: new PhaseCorrelator(h, w, r.options), dx: new Float32Array(N), dy: new Float32Array(N) });
    });
    let prev: Float32Array | null = null;
    const step = (chStart: number, n: number, X: Float32Array, views: (Uint8Array | Float32Array)[] | null): void => {
      const before = prev ?? X.slice(0, P);
      this.targets.forEach((tg, ti) => {
        const m = tg.pixels ? tg.pixels.length : P;
        if (tg.kind === 'motion') {
          // |diff| without the mean, for the energy; the projection subtracts avgmotion @ U after.
          const D = new Float32Array(n * m);
          const e = energy[ti]!;
          const px = tg.pixels;
          for (let t = 0; t < n; t++) {
            let s = 0;
            const b = t === 0 ? before : X.subarray((t - 1) * P, t * P);
            const row = X.subarray(t * P, (t + 1) * P);
            const o = t * m;
            if (px) {
              for (let j = 0; j < m; j++) {
                const d = Math.abs(row[px[j]] - b[px[j]]);
                D[o + j] = d;
                s += d;
              }
            } else {
              for (let j = 0; j < m; j++) {
                const d = Math.abs(row[j] - b[j]);
                D[o + j] = d;
                s += d;
              }
            }
            e[chStart + t] = s;
          }
          this.project(D, n, m, tg.masks, offsets[ti], outs[ti], chStart);
        } else {
          this.project(gather(X, n, P, tg.pixels), n, m, tg.masks, offsets[ti], outs[ti], chStart);
        }
      });
      prev = X.slice((n - 1) * P, n * P);
      if (views) {
        for (const [i, r] of rois.entries()) {
          if (r.type === 'motion' || r.type === 'movie') continue;
          const v = r.video ?? 0;
          const { Ly, Lx } = layout[v];
          const h = r.box.y1 - r.box.y0;
          const w = r.box.x1 - r.box.x0;
          const crop = new Float32Array(h * w);
          for (let t = 0; t < n; t++) {
            const f = views[v];
            for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) crop[y * w + x] = f[(t * Ly + r.box.y0 + y) * Lx + r.box.x0 + x];
            if (r.type === 'pupil') pupils.get(i)!.push(crop);
            else if (r.type === 'blink') blinks.get(i)![chStart + t] = blinkValue(crop);
            else {
              const run = runs.get(i)!;
              const s = run.pc.next(crop);
              run.dx[chStart + t] = s.dx;
              run.dy[chStart + t] = s.dy;
            }
          }
        }
      }
      progress('project', chStart + n, N);
    };
    // Frames of the fit's cached mask chunks come from memory (same videos only), the rest is decoded.
    const cache = this.cache && this.cache.key !== null && this.cache.key === (await sourceKey(videos, src)) ? this.cache.chunks : [];
    this.cache = null;
    let t0 = 0;
    for (const ch of [...cache].sort((a, b) => a.start - b.start)) {
      if (ch.start > t0) {
        for await (const d of src.read(t0, ch.start - t0, c.projectionChunk)) step(d.start, d.n, this.binned(d.views, d.n), d.views);
      }
      for (let s = Math.max(t0, ch.start); s < ch.start + ch.n; s += c.projectionChunk) {
        const n = Math.min(c.projectionChunk, ch.start + ch.n - s);
        step(s, n, ch.X.subarray((s - ch.start) * P, (s - ch.start + n) * P), null);
      }
      t0 = Math.max(t0, ch.start + ch.n);
    }
    if (t0 < N) {
      for await (const d of src.read(t0, N - t0, c.projectionChunk)) step(d.start, d.n, this.binned(d.views, d.n), d.views);
    }
    return {
      nFrames: N,
      motSVD: outs.filter((_, i) => this.targets[i].kind === 'motion'),
      movSVD: outs.filter((_, i) => this.targets[i].kind === 'movie'),
      motion: energy.filter((e) => e !== null) as Float32Array[],
      pupil: [...pupils.values()].map((p) => p.traces()),
      blink: [...blinks.values()],
      running: [...runs.values()].map(({ dx, dy }) => ({ dx, dy })),
    };
  }

  private project(D: Float32Array, n: number, m: number, U: Matrix, off: Float32Array, out: Matrix, start: number): void {
    const V = matmul({ data: D, rows: n, cols: m }, U).data;
    const k = U.cols;
    for (let t = 0; t < n; t++) for (let j = 0; j < k; j++) out.data[(start + t) * k + j] = V[t * k + j] - off[j];
  }
}

async function asSource(videos: readonly string[] | FrameSource): Promise<FrameSource> {
  if (Array.isArray(videos)) return videoSource(videos as readonly string[]);
  if (typeof videos === 'string') return videoSource([videos]);
  return videos as FrameSource;
}

/** Mask chunks closer than this many frames are decoded in one pass (see fit). */
const MAX_SKIP = 250;

/** Largest small side for which the SVDs in `fit` go through the Gram matrix (`gramSvd`). */
const GRAM_MAX_SIDE = 4096;

/**
 * Truncated SVD for `fit`: through the small side's Gram matrix when one side (frames of a chunk,
 * or the concatenated block columns) is at most GRAM_MAX_SIDE, which keeps the orthonormalisations
 * off the pixels x l matrices (~5x faster on 1000-frame chunks); randomized SVD otherwise.
 */
function truncatedSvd(A: Matrix, k: number, seed: number, powerIters: number, rawV = false): SvdResult {
  return Math.min(A.rows, A.cols) <= GRAM_MAX_SIDE ? gramSvd(A, k, { seed, rawV, powerIters }) : randomizedSvd(A, k, { seed, powerIters: powerIters * 2 });
}
