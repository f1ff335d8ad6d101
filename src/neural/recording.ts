/**
 * Reading neural recordings and behaviour for encoding models. A recording's activity stays on
 * disk (an {@link ActivitySource}); timestamps and positions are small and read whole.
 *
 * Formats (detected from the path):
 * - `.npy`: neurons x time (float32/float64 read lazily). Timestamps from `opts.fps` only.
 * - HDF5 (`.h5`/`.hdf5`) in the simulator's layout: `opts.dataset` (default `/neural/activity`,
 *   neurons x time), `/neural/timestamps` (s) and `/neural/positions` (N x 2, um) when present.
 * - NWB (`.nwb`, or HDF5 with `/processing`): an ophys RoiResponseSeries
 *   `/processing/ophys/<interface>/<series>/data` (time x ROIs) with `timestamps`, or
 *   `starting_time` (attribute `rate`); positions from a PlaneSegmentation's `ROICentroids`/
 *   `centroids` dataset or the weighted centroids of `pixel_mask`/`voxel_mask` (pixels times
 *   `opts.umPerPixel`).
 * - suite2p folders (`plane0`, or a `suite2p` folder holding `plane0`): `spks.npy` (ROIs x time),
 *   `iscell.npy` (cells: `iscell[:, 0] > 0.5`); `stat.npy` is a pickled object array that this
 *   reader does not parse, so positions come from an optional `positions.npy` (ROIs x 2, um) and are
 *   otherwise absent; timestamps from an optional `timestamps.npy` or `opts.fps` (`ops.npy` is a
 *   pickle too).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FormatError, ParamError, ShapeError } from '../errors';
import { H5Reader, openH5 } from '../io/hdf5';
import { readNpy, toFloat64 } from '../io/npy';
import { readPoseH5 } from '../pose/labels/facemap-h5';
import { readLatentsH5 } from '../synth/pose-h5';
import { ActivitySource, defaultBlockNeurons, h5Source, memorySource, npySource, subsetRows } from './source';

/** A neural recording: activity on disk (or in memory) plus its clock and neuron positions. */
export interface Recording {
  /** neurons x time, read in row blocks. Close it (or the recording) when done. */
  activity: ActivitySource;
  nNeurons: number;
  nTime: number;
  /** nTime sample times, s (ascending); absent when the file has none and no fps was given. */
  timestamps?: Float64Array;
  /** nNeurons x 2 (x, y), um, row-major; absent when the format has none. */
  positions?: Float32Array;
  /** The path read. */
  file: string;
  /** Format detected. */
  format: 'npy' | 'h5' | 'nwb' | 'suite2p';
  /** Notes on what was not read (e.g. suite2p positions without positions.npy). */
  notes: string[];
}

export interface ReadRecordingOptions {
  /** HDF5: path of the neurons x time dataset (default `/neural/activity`). */
  dataset?: string;
  /** NWB: path of the RoiResponseSeries group (default the first one under /processing/ophys). */
  series?: string;
  /** Sampling rate, Hz, used for timestamps (i / fps) when the file has none. */
  fps?: number;
  /** NWB/suite2p pixel positions are multiplied by this (default 1: positions stay in pixels). */
  umPerPixel?: number;
  /** suite2p: plane folder to read when given the suite2p folder (default 0). */
  plane?: number;
  /** Scan the activity for NaN/Inf block by block (default true). */
  checkFinite?: boolean;
}

/** Validates that `t` is finite and strictly increasing; FormatError naming `file` and the first bad index. */
export function checkTimestamps(t: ArrayLike<number>, file: string, what = 'timestamps'): void {
  for (let i = 0; i < t.length; i++) {
    if (!Number.isFinite(t[i])) throw new FormatError(file, `${what}[${i}] = ${t[i]} is not finite`);
    if (i > 0 && !(t[i] > t[i - 1])) {
      throw new FormatError(file, `${what} are not strictly increasing: [${i - 1}] = ${t[i - 1]}, [${i}] = ${t[i]}`);
    }
  }
}

/** Where non-finite values are in an array. */
export interface NonFiniteReport {
  count: number;
  /** Flat index of the first one, or -1. */
  first: number;
}

/** Counts NaN/Inf in `a` and finds the first. */
export function findNonFinite(a: ArrayLike<number>): NonFiniteReport {
  let count = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) {
      if (first < 0) first = i;
      count++;
    }
  }
  return { count, first };
}

/**
 * Scans `src` block by block and throws FormatError naming its file, the number of NaN/Inf values,
 * and the (neuron, time) of the first. Memory: one block.
 */
export function assertFiniteActivity(src: ActivitySource, blockNeurons = defaultBlockNeurons(src.nTime)): void {
  let count = 0;
  let where = '';
  for (let i0 = 0; i0 < src.nNeurons; i0 += blockNeurons) {
    const i1 = Math.min(src.nNeurons, i0 + blockNeurons);
    const r = findNonFinite(src.readRows(i0, i1));
    if (r.count && !where) where = `neuron ${i0 + Math.floor(r.first / src.nTime)}, time ${r.first % src.nTime}`;
    count += r.count;
  }
  if (count) throw new FormatError(src.file, `activity holds ${count} NaN/Inf values (first at ${where})`);
}

function fpsTimestamps(n: number, fps: number | undefined): Float64Array | undefined {
  if (fps === undefined) return undefined;
  if (!(fps > 0)) throw new ParamError('fps', fps, 'a number > 0 (Hz)');
  return Float64Array.from({ length: n }, (_, i) => i / fps);
}

function finish(rec: Recording, opts: ReadRecordingOptions): Recording {
  try {
    if (rec.timestamps) {
      if (rec.timestamps.length !== rec.nTime) {
        throw new ShapeError(`${rec.file}: ${rec.timestamps.length} timestamps for ${rec.nTime} time points of activity`);
      }
      checkTimestamps(rec.timestamps, rec.file);
    }
    if (rec.positions) {
      if (rec.positions.length !== 2 * rec.nNeurons) {
        throw new ShapeError(`${rec.file}: positions hold ${rec.positions.length / 2} neurons, activity ${rec.nNeurons}`);
      }
      const nf = findNonFinite(rec.positions);
      if (nf.count) throw new FormatError(rec.file, `positions hold ${nf.count} NaN/Inf values (first at neuron ${Math.floor(nf.first / 2)})`);
    }
    if (opts.checkFinite ?? true) assertFiniteActivity(rec.activity);
  } catch (e) {
    rec.activity.close();
    throw e;
  }
  return rec;
}

/** Reads a recording from `.npy`, HDF5 (simulator layout), NWB or a suite2p folder (module doc). */
export async function readRecording(pathOrFolder: string, opts: ReadRecordingOptions = {}): Promise<Recording> {
  if (!fs.existsSync(pathOrFolder)) throw new FormatError(pathOrFolder, 'no such file or folder (expected a neural recording)');
  if (fs.statSync(pathOrFolder).isDirectory()) return finish(readSuite2p(pathOrFolder, opts), opts);
  const ext = path.extname(pathOrFolder).toLowerCase();
  if (ext === '.npy') {
    const activity = npySource(pathOrFolder);
    return finish(
      { activity, nNeurons: activity.nNeurons, nTime: activity.nTime, timestamps: fpsTimestamps(activity.nTime, opts.fps), file: pathOrFolder, format: 'npy', notes: [] },
      opts,
    );
  }
  const r = await openH5(pathOrFolder);
  let rec: Recording;
  try {
    const isNwb = ext === '.nwb' || (!opts.dataset && !r.has('/neural/activity') && r.has('/processing'));
    rec = isNwb ? readNwb(r, opts) : readSimH5(r, opts);
  } catch (e) {
    r.close();
    throw e;
  }
  return finish(rec, opts);
}

function readSimH5(r: H5Reader, opts: ReadRecordingOptions): Recording {
  const ds = opts.dataset ?? '/neural/activity';
  if (!r.has(ds)) throw new FormatError(r.file, `no dataset '${ds}' (expected neurons x time activity; set the dataset option)`);
  const activity = h5Source(r, ds, 'neurons-time');
  const group = ds.slice(0, ds.lastIndexOf('/')) || '';
  const tPath = `${group}/timestamps`;
  const pPath = `${group}/positions`;
  const timestamps = r.has(tPath) ? toFloat64(r.read(tPath).data) : fpsTimestamps(activity.nTime, opts.fps);
  const positions = r.has(pPath) ? Float32Array.from(r.read(pPath).data as ArrayLike<number>) : undefined;
  return { activity, nNeurons: activity.nNeurons, nTime: activity.nTime, timestamps, positions, file: r.file, format: 'h5', notes: [] };
}

function findSeries(r: H5Reader): string | null {
  const stack = ['/processing'];
  while (stack.length) {
    const g = stack.shift() as string;
    if (!r.has(g)) continue;
    const attrs = r.attrs(g);
    if (attrs.neurodata_type === 'RoiResponseSeries' && r.has(`${g}/data`)) return g;
    for (const e of r.list(g)) if (e.kind === 'group') stack.push(e.path);
  }
  return null;
}

function findPlaneSegmentation(r: H5Reader): string | null {
  const stack = ['/processing'];
  while (stack.length) {
    const g = stack.shift() as string;
    if (r.attrs(g).neurodata_type === 'PlaneSegmentation') return g;
    for (const e of r.list(g)) if (e.kind === 'group') stack.push(e.path);
  }
  return null;
}

/** Weighted (x, y) centroids of a ragged pixel/voxel mask (compound rows x, y, [z,] weight). */
function maskCentroids(r: H5Reader, ps: string, name: string, n: number): Float32Array {
  const { fields, rows } = r.readCompound(`${ps}/${name}`);
  const xi = fields.indexOf('x');
  const yi = fields.indexOf('y');
  const wi = fields.indexOf('weight');
  if (xi < 0 || yi < 0) throw new FormatError(r.file, `${ps}/${name} has fields ${fields.join(', ')}; expected x, y[, weight]`);
  const index = toFloat64(r.read(`${ps}/${name}_index`).data);
  if (index.length !== n) throw new ShapeError(`${r.file}: ${ps}/${name}_index has ${index.length} ROIs, the series ${n}`);
  const out = new Float32Array(2 * n);
  let start = 0;
  for (let i = 0; i < n; i++) {
    let sx = 0;
    let sy = 0;
    let sw = 0;
    for (let k = start; k < index[i]; k++) {
      const w = wi >= 0 ? Number(rows[k][wi]) : 1;
      sx += w * Number(rows[k][xi]);
      sy += w * Number(rows[k][yi]);
      sw += w;
    }
    out[2 * i] = sw > 0 ? sx / sw : NaN;
    out[2 * i + 1] = sw > 0 ? sy / sw : NaN;
    start = index[i];
  }
  return out;
}

function readNwb(r: H5Reader, opts: ReadRecordingOptions): Recording {
  const series = opts.series ?? findSeries(r);
  if (!series || !r.has(`${series}/data`)) {
    throw new FormatError(r.file, `no RoiResponseSeries with a 'data' dataset${opts.series ? ` at '${opts.series}'` : ' under /processing'} (expected NWB ophys)`);
  }
  const activity = h5Source(r, `${series}/data`, 'time-neurons');
  const T = activity.nTime;
  let timestamps: Float64Array | undefined;
  if (r.has(`${series}/timestamps`)) timestamps = toFloat64(r.read(`${series}/timestamps`).data);
  else if (r.has(`${series}/starting_time`)) {
    const t0 = toFloat64(r.read(`${series}/starting_time`).data)[0];
    const rate = Number(r.attrs(`${series}/starting_time`).rate);
    if (!(rate > 0)) throw new FormatError(r.file, `${series}/starting_time has rate ${String(r.attrs(`${series}/starting_time`).rate)}; expected > 0 Hz`);
    timestamps = Float64Array.from({ length: T }, (_, i) => t0 + i / rate);
  } else timestamps = fpsTimestamps(T, opts.fps);
  const notes: string[] = [];
  const scale = opts.umPerPixel ?? 1;
  let positions: Float32Array | undefined;
  const ps = findPlaneSegmentation(r);
  const N = activity.nNeurons;
  if (ps) {
    const direct = ['ROICentroids', 'centroids'].find((n) => r.has(`${ps}/${n}`));
    if (direct) {
      const a = r.read(`${ps}/${direct}`);
      if (a.shape.length !== 2 || a.shape[0] !== N || a.shape[1] < 2) {
        throw new ShapeError(`${r.file}: ${ps}/${direct} has shape [${a.shape.join(', ')}]; expected [${N}, 2 or 3]`);
      }
      positions = new Float32Array(2 * N);
      for (let i = 0; i < N; i++) for (let c = 0; c < 2; c++) positions[2 * i + c] = Number(a.data[i * a.shape[1] + c]) * scale;
    } else {
      const mask = ['pixel_mask', 'voxel_mask'].find((n) => r.has(`${ps}/${n}`) && r.has(`${ps}/${n}_index`));
      if (mask) {
        positions = maskCentroids(r, ps, mask, N);
        for (let i = 0; i < positions.length; i++) positions[i] *= scale;
      } else notes.push(`${ps} has no ROICentroids, pixel_mask or voxel_mask: no positions`);
    }
    if (positions && scale === 1) notes.push('positions are in pixels (set umPerPixel to convert to um)');
  } else notes.push('no PlaneSegmentation: no positions');
  return { activity, nNeurons: N, nTime: T, timestamps, positions, file: r.file, format: 'nwb', notes };
}

function readSuite2p(folder: string, opts: ReadRecordingOptions): Recording {
  let dir = folder;
  if (!fs.existsSync(path.join(dir, 'spks.npy'))) {
    const plane = `plane${opts.plane ?? 0}`;
    const cands = [path.join(dir, plane), path.join(dir, 'suite2p', plane)];
    const found = cands.find((d) => fs.existsSync(path.join(d, 'spks.npy')));
    if (!found) throw new FormatError(folder, `no spks.npy here or in ${plane}/ or suite2p/${plane}/ (expected a suite2p output folder)`);
    dir = found;
  }
  const spksFile = path.join(dir, 'spks.npy');
  let activity: ActivitySource = npySource(spksFile);
  const nRois = activity.nNeurons;
  const notes: string[] = [];
  let keep: Int32Array | null = null;
  const iscellFile = path.join(dir, 'iscell.npy');
  if (fs.existsSync(iscellFile)) {
    const a = readNpy(iscellFile);
    if (a.shape[0] !== nRois) {
      activity.close();
      throw new ShapeError(`${iscellFile}: ${a.shape[0]} ROIs, spks.npy has ${nRois}`);
    }
    const cols = a.shape.length > 1 ? a.shape[1] : 1;
    const v = toFloat64(a.data);
    const idx: number[] = [];
    for (let i = 0; i < nRois; i++) if (v[i * cols] > 0.5) idx.push(i);
    keep = Int32Array.from(idx);
    activity = subsetRows(activity, keep);
  } else notes.push('no iscell.npy: all ROIs kept');
  let positions: Float32Array | undefined;
  const posFile = path.join(dir, 'positions.npy');
  if (fs.existsSync(posFile)) {
    const p = readNpy(posFile);
    if (p.shape.length !== 2 || p.shape[0] !== nRois || p.shape[1] < 2) {
      activity.close();
      throw new ShapeError(`${posFile}: shape [${p.shape.join(', ')}]; expected [${nRois}, 2]`);
    }
    const d = toFloat64(p.data);
    const rows = keep ?? Int32Array.from({ length: nRois }, (_, i) => i);
    const s = opts.umPerPixel ?? 1;
    positions = new Float32Array(2 * rows.length);
    rows.forEach((i, k) => {
      positions![2 * k] = d[i * p.shape[1]] * s;
      positions![2 * k + 1] = d[i * p.shape[1] + 1] * s;
    });
  } else notes.push('stat.npy is a pickle this reader does not parse; add positions.npy (ROIs x 2) for positions');
  let timestamps: Float64Array | undefined;
  const tFile = path.join(dir, 'timestamps.npy');
  if (fs.existsSync(tFile)) timestamps = toFloat64(readNpy(tFile).data);
  else timestamps = fpsTimestamps(activity.nTime, opts.fps);
  return { activity, nNeurons: activity.nNeurons, nTime: activity.nTime, timestamps, positions, file: dir, format: 'suite2p', notes };
}

/** Recording from arrays held in memory (activity nNeurons x nTime, row-major). */
export function recordingFromArrays(activity: Float32Array, nNeurons: number, nTime: number, extra: { timestamps?: Float64Array; positions?: Float32Array } = {}): Recording {
  return finish({ activity: memorySource(activity, nNeurons, nTime), nNeurons, nTime, ...extra, file: 'memory', format: 'npy', notes: [] }, { checkFinite: true });
}

/** Behaviour as a frames x features matrix at the camera rate. */
export interface BehaviorMatrix {
  /** nFrames x nFeatures, row-major. */
  data: Float32Array;
  nFrames: number;
  nFeatures: number;
  /** nFeatures names (keypoints: `<name>_x`, `<name>_y`). */
  names: string[];
  /** Camera rate, Hz, when the file states it. */
  fps?: number;
  file: string;
}

function checkBehavior(b: BehaviorMatrix): BehaviorMatrix {
  const nf = findNonFinite(b.data);
  if (nf.count) {
    throw new FormatError(b.file, `behaviour holds ${nf.count} NaN/Inf values (first at frame ${Math.floor(nf.first / b.nFeatures)}, ${b.names[nf.first % b.nFeatures]})`);
  }
  return b;
}

/**
 * Keypoints of a Facemap pose `.h5` as a frames x (2 nKeypoints) matrix, columns x0, y0, x1, y1, ...
 * (pixels). `exclude` drops keypoints by name (the paper excludes `paw`).
 * @throws FormatError naming the file for NaN/Inf (count and first frame/column).
 */
export async function readKeypointMatrix(file: string, opts: { exclude?: string[] } = {}): Promise<BehaviorMatrix> {
  const kp = await readPoseH5(file);
  const K = kp.names.length;
  const keep = kp.names.map((n, i) => [n, i] as const).filter(([n]) => !(opts.exclude ?? []).includes(n));
  const F = 2 * keep.length;
  const data = new Float32Array(kp.nFrames * F);
  for (let t = 0; t < kp.nFrames; t++) {
    keep.forEach(([, k], j) => {
      data[t * F + 2 * j] = kp.x[t * K + k];
      data[t * F + 2 * j + 1] = kp.y[t * K + k];
    });
  }
  const names = keep.flatMap(([n]) => [`${n}_x`, `${n}_y`]);
  return checkBehavior({ data, nFrames: kp.nFrames, nFeatures: F, names, file });
}

/** The simulator's behaviour latents (`truth/latents.h5`) as a frames x latents matrix. */
export async function readLatentMatrix(file: string): Promise<BehaviorMatrix> {
  const l = await readLatentsH5(file);
  return checkBehavior({ data: l.data, nFrames: l.nFrames, nFeatures: l.names.length, names: l.names, fps: l.fps, file });
}
