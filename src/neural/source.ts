/**
 * Sources of neural activity, neurons x time, that hand out blocks of neurons (rows) on demand:
 * from memory, from an HDF5 dataset (either orientation), or from a `.npy` file read by byte
 * offset, so that a recording of 50,000 neurons never has to sit in memory whole.
 */
import * as fs from 'node:fs';
import { FormatError, ParamError, ShapeError } from '../errors';
import { H5Reader } from '../io/hdf5';
import { encodeNpyHeader, readNpy } from '../io/npy';

/**
 * Neural activity as a neurons x time matrix read in row blocks. `readRows(i0, i1)` returns rows
 * i0..i1-1 as a new float32 array of (i1 - i0) x nTime, row-major. Synchronous: every reader
 * behind it (h5wasm, fs.readSync) is.
 */
export interface ActivitySource {
  readonly nNeurons: number;
  readonly nTime: number;
  /** Where the data come from (a file path, or 'memory'), for messages. */
  readonly file: string;
  readRows(i0: number, i1: number): Float32Array;
  /** Releases a file handle if the source holds one (idempotent). */
  close(): void;
}

function checkRange(src: ActivitySource, i0: number, i1: number): void {
  if (!Number.isInteger(i0) || !Number.isInteger(i1) || i0 < 0 || i1 > src.nNeurons || i0 > i1) {
    throw new ParamError('rows', [i0, i1], `0 <= i0 <= i1 <= ${src.nNeurons} (neurons of ${src.file})`);
  }
}

/** An in-memory source over `data` (nNeurons x nTime, row-major; not copied). */
export function memorySource(data: Float32Array, nNeurons: number, nTime: number, file = 'memory'): ActivitySource {
  if (data.length !== nNeurons * nTime) {
    throw new ShapeError(`activity has ${data.length} values, expected nNeurons x nTime = ${nNeurons} x ${nTime}`);
  }
  const src: ActivitySource = {
    nNeurons,
    nTime,
    file,
    readRows(i0, i1) {
      checkRange(src, i0, i1);
      return data.slice(i0 * nTime, i1 * nTime);
    },
    close() {},
  };
  return src;
}

function toFloat32(a: ArrayLike<number> | BigInt64Array | BigUint64Array): Float32Array {
  if (a instanceof Float32Array) return a;
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]);
  return out;
}

/**
 * A source over a 2-D numeric HDF5 dataset. `layout` 'neurons-time' (Facemap, the simulator) reads
 * whole rows; 'time-neurons' (NWB's RoiResponseSeries) reads a column slab and transposes it.
 * Closing the source closes `reader` when `ownsReader`.
 */
export function h5Source(reader: H5Reader, dataset: string, layout: 'neurons-time' | 'time-neurons' = 'neurons-time', ownsReader = true): ActivitySource {
  const info = reader.info(dataset);
  if (info.shape.length !== 2) {
    throw new FormatError(reader.file, `dataset '${dataset}' has shape [${info.shape.join(', ')}]; expected 2-D (${layout})`);
  }
  const [a, b] = info.shape;
  const [nNeurons, nTime] = layout === 'neurons-time' ? [a, b] : [b, a];
  let open = true;
  const src: ActivitySource = {
    nNeurons,
    nTime,
    file: reader.file,
    readRows(i0, i1) {
      checkRange(src, i0, i1);
      if (layout === 'neurons-time') return toFloat32(reader.readSlice(dataset, [[i0, i1]]).data as ArrayLike<number>);
      const slab = toFloat32(reader.readSlice(dataset, [[0, nTime], [i0, i1]]).data as ArrayLike<number>);
      const w = i1 - i0;
      const out = new Float32Array(w * nTime);
      for (let t = 0; t < nTime; t++) for (let j = 0; j < w; j++) out[j * nTime + t] = slab[t * w + j];
      return out;
    },
    close() {
      if (open && ownsReader) reader.close();
      open = false;
    },
  };
  return src;
}

/** Header of a `.npy` file: enough to read rows by byte offset. */
interface NpyHeader {
  descr: string;
  fortran: boolean;
  shape: number[];
  dataStart: number;
}

function readNpyHeader(file: string): NpyHeader {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(12);
    fs.readSync(fd, head, 0, 12, 0);
    if (head.toString('latin1', 1, 6) !== 'NUMPY') throw new FormatError(file, 'not a NumPy .npy file (the magic string "\\x93NUMPY" is missing)');
    const major = head[6];
    const [len, start] = major === 1 ? [head.readUInt16LE(8), 10] : [head.readUInt32LE(8), 12];
    const text = Buffer.alloc(len);
    fs.readSync(fd, text, 0, len, start);
    const h = text.toString('latin1');
    const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(h)?.[1] ?? '';
    const fortran = /['"]fortran_order['"]\s*:\s*True/.test(h);
    const shape = (/['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(h)?.[1] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map(Number);
    return { descr, fortran, shape, dataStart: start + len };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A source over a 2-D `.npy` file (neurons x time). Little-endian float32/float64 in C order is
 * read lazily by byte offset (memory: one block); any other dtype or order is read whole once
 * with {@link readNpy} and converted to float32.
 */
export function npySource(file: string): ActivitySource {
  const h = readNpyHeader(file);
  if (h.shape.length !== 2) throw new FormatError(file, `array has shape (${h.shape.join(', ')}); expected 2-D neurons x time`);
  const [nNeurons, nTime] = h.shape;
  const bytes = h.descr === '<f4' ? 4 : h.descr === '<f8' ? 8 : 0;
  if (!bytes || h.fortran) {
    const a = readNpy(file);
    return memorySource(toFloat32(a.data as ArrayLike<number>), nNeurons, nTime, file);
  }
  const size = fs.statSync(file).size;
  if (size < h.dataStart + nNeurons * nTime * bytes) {
    throw new FormatError(file, `truncated data: shape (${nNeurons}, ${nTime}) of ${h.descr} needs ${nNeurons * nTime * bytes} bytes after the header`);
  }
  let fd: number | null = fs.openSync(file, 'r');
  const src: ActivitySource = {
    nNeurons,
    nTime,
    file,
    readRows(i0, i1) {
      checkRange(src, i0, i1);
      if (fd === null) throw new FormatError(file, 'source is closed');
      const n = (i1 - i0) * nTime;
      const buf = Buffer.alloc(n * bytes);
      fs.readSync(fd, buf, 0, buf.length, h.dataStart + i0 * nTime * bytes);
      const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
      return bytes === 4 ? new Float32Array(ab) : Float32Array.from(new Float64Array(ab));
    },
    close() {
      if (fd !== null) fs.closeSync(fd);
      fd = null;
    },
  };
  return src;
}

/**
 * The rows `index` (ascending neuron indices into `src`) as a source of their own. Each block reads
 * the span of `src` rows it covers in one call, so sparse selections read extra rows.
 */
export function subsetRows(src: ActivitySource, index: Int32Array): ActivitySource {
  for (let k = 0; k < index.length; k++) {
    if (index[k] < 0 || index[k] >= src.nNeurons || (k > 0 && index[k] <= index[k - 1])) {
      throw new ParamError('index', index[k], `ascending unique neuron indices in 0..${src.nNeurons - 1}`);
    }
  }
  const T = src.nTime;
  const out: ActivitySource = {
    nNeurons: index.length,
    nTime: T,
    file: src.file,
    readRows(i0, i1) {
      checkRange(out, i0, i1);
      const res = new Float32Array((i1 - i0) * T);
      if (i1 === i0) return res;
      const lo = index[i0];
      const span = src.readRows(lo, index[i1 - 1] + 1);
      for (let k = i0; k < i1; k++) res.set(span.subarray((index[k] - lo) * T, (index[k] - lo + 1) * T), (k - i0) * T);
      return res;
    },
    close() {
      src.close();
    },
  };
  return out;
}

/** Default neurons per block: about 16 MB of float32 per block, at least 1. */
export function defaultBlockNeurons(nTime: number): number {
  return Math.max(1, Math.floor((4 << 20) / Math.max(1, nTime)));
}

/** Options of {@link copyToNpy}. */
export interface CopyToNpyOptions {
  blockNeurons?: number;
  /** Called after each block with neurons copied so far. */
  onProgress?: (done: number, total: number) => void;
  /** Delete the file when the returned source is closed (default true). */
  temporary?: boolean;
}

/**
 * Copies `src` block by block into `file`, a NumPy array (neurons x time, float32, C order),
 * checking every value on the way (FormatError naming `src.file`, the count of NaN/Inf and the
 * first one's neuron and time), and returns a source that reads the copy ({@link npySource}).
 * Reads of a flat file by byte offset run several times faster than HDF5 slices through h5wasm
 * (and need no transpose for NWB's time x neurons layout), which pays off when an analysis reads
 * the activity dozens of times (PCA power iterations, peer prediction, scoring each model).
 * Memory: one block. The returned source deletes the file on close() unless `temporary` is false;
 * a failed copy leaves no file.
 */
export function copyToNpy(src: ActivitySource, file: string, opts: CopyToNpyOptions = {}): ActivitySource {
  const { nNeurons: N, nTime: T } = src;
  const b = opts.blockNeurons ?? defaultBlockNeurons(T);
  const fd = fs.openSync(file, 'w');
  let count = 0;
  let where = '';
  try {
    const head = encodeNpyHeader(new Float32Array(0), [N, T]);
    fs.writeSync(fd, head);
    for (let i0 = 0; i0 < N; i0 += b) {
      const i1 = Math.min(N, i0 + b);
      const blk = src.readRows(i0, i1);
      for (let k = 0; k < blk.length; k++) {
        if (Number.isFinite(blk[k])) continue;
        if (!where) where = `neuron ${i0 + Math.floor(k / T)}, time ${k % T}`;
        count++;
      }
      fs.writeSync(fd, new Uint8Array(blk.buffer, blk.byteOffset, blk.byteLength));
      opts.onProgress?.(i1, N);
    }
    fs.closeSync(fd);
    if (count) throw new FormatError(src.file, `activity holds ${count} NaN/Inf values (first at ${where})`);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(file, { force: true });
    throw e;
  }
  const copy = npySource(file);
  if (opts.temporary === false) return copy;
  return {
    nNeurons: copy.nNeurons,
    nTime: copy.nTime,
    file: src.file,
    readRows: (i0, i1) => copy.readRows(i0, i1),
    close() {
      copy.close();
      fs.rmSync(file, { force: true });
    },
  };
}
