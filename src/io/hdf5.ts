/**
 * HDF5 files through h5wasm (the HDF5 C library compiled to WebAssembly).
 *
 * File-system access: the `h5wasm/node` build is compiled with Emscripten's NODERAWFS, so HDF5's
 * file driver calls Node's synchronous `fs` functions on real paths (relative paths resolve against
 * `process.cwd()`; we pass absolute ones). Nothing is copied into an in-memory FS: reads fetch
 * only the chunks a hyperslab touches, and each open file holds a real OS file descriptor until
 * `close()`, which also flushes HDF5's metadata; a file that is never closed is not a valid HDF5
 * file. Hence {@link withH5} and {@link writeH5}, which always close.
 *
 * h5wasm is ESM-only; this CommonJS module loads it with a real dynamic `import()` once, and
 * switches HDF5 errors from printing to stderr to throwing (so they become FormatErrors here).
 */
import * as path from 'node:path';
import { FormatError, ParamError, ShapeError } from '../errors';
import { assertReadableFile, writeAtomic } from '../util/fsx';
import { numel, NumericArray } from './layout';

// h5wasm's types, reached through the dynamic import (a static `import type` of an ES module from
// CommonJS needs a resolution-mode attribute, which the TypeScript versions in use spell differently).
const importH5wasm = () => import('h5wasm/node');
type H5Lib = Awaited<ReturnType<typeof importH5wasm>>;
type H5File = InstanceType<H5Lib['File']>;
type H5Group = InstanceType<H5Lib['Group']>;
type H5Dataset = InstanceType<H5Lib['Dataset']>;
type H5Entity = NonNullable<ReturnType<H5Group['get']>>;
type H5Metadata = H5Dataset['metadata'];
type OutputData = NonNullable<H5Dataset['value']>;
type GuessableDataTypes = Parameters<H5Group['create_attribute']>[1];

/** Numeric element types of datasets this module writes (and names for those it reads). */
export type H5Dtype = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64';

/** Attribute values as h5wasm returns them: numbers, bigints, strings, typed arrays or arrays of them. */
export type H5AttrValue = string | number | bigint | boolean | NumericArray | H5AttrValue[];

/** Values {@link H5Writer.setAttr} accepts: a string, a number, a list of either, or a typed array. */
export type H5AttrInput = string | number | string[] | number[] | NumericArray;

const DTYPE_CODES: Record<H5Dtype, { code: string; ctor: { new (n: number): NumericArray; name: string } }> = {
  float32: { code: '<f', ctor: Float32Array },
  float64: { code: '<d', ctor: Float64Array },
  int8: { code: '<b', ctor: Int8Array },
  int16: { code: '<h', ctor: Int16Array },
  int32: { code: '<i', ctor: Int32Array },
  int64: { code: '<q', ctor: BigInt64Array },
  uint8: { code: '<B', ctor: Uint8Array },
  uint16: { code: '<H', ctor: Uint16Array },
  uint32: { code: '<I', ctor: Uint32Array },
  uint64: { code: '<Q', ctor: BigUint64Array },
};

let lib: Promise<H5Lib> | null = null;

/** Loads h5wasm once (ESM, via dynamic import) and makes HDF5 errors throw instead of printing. */
function loadH5wasm(): Promise<H5Lib> {
  lib ??= importH5wasm().then(async (m) => {
    const module = await m.ready;
    module.activate_throwing_error_handler();
    return m;
  });
  return lib;
}

/** A dataset's description, read without reading its data. */
export interface H5DatasetInfo {
  path: string;
  /** Dimensions, outermost first (`[]` for a scalar). */
  shape: number[];
  /** Element type name: one of {@link H5Dtype}, or h5wasm's dtype text for others (strings, compounds). */
  dtype: H5Dtype | string;
  /** Chunk shape, or null for contiguous storage. */
  chunks: number[] | null;
}

/** One member of a group. */
export interface H5Entry {
  name: string;
  /** Absolute path, e.g. `/Facemap/eye(back)/x`. */
  path: string;
  kind: 'group' | 'dataset' | 'other';
}

/** A numeric array read from a dataset. */
export interface H5Array {
  /** `numel(shape)` elements, row-major (HDF5's own order); 64-bit integers as BigInt64Array/BigUint64Array. */
  data: NumericArray;
  shape: number[];
}

function dtypeName(meta: H5Metadata, module: H5Lib['Module']): H5Dtype | null {
  const bits = meta.size * 8;
  if (meta.type === module.H5T_class_t.H5T_FLOAT.value && (bits === 32 || bits === 64)) return `float${bits}` as H5Dtype;
  if (meta.type === module.H5T_class_t.H5T_INTEGER.value && [8, 16, 32, 64].includes(bits)) {
    return `${meta.signed ? 'int' : 'uint'}${bits}` as H5Dtype;
  }
  return null;
}

function message(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  // HDF5's error stack: the first "#000" line names the failing call, the minor lines say why.
  const minors = [...text.matchAll(/minor: (.*)/g)].map((m) => m[1].trim());
  return minors.length ? minors[minors.length - 1] : text.split('\n')[0];
}

/** An HDF5 file open for reading, from {@link openH5}. Close it (or use {@link withH5}). */
export interface H5Reader {
  /** The file's path, as given. */
  readonly file: string;
  /** Members of the group at `group` (default the root). */
  list(group?: string): H5Entry[];
  /** Absolute paths of every dataset under `group` (default the root), depth first. */
  datasets(group?: string): string[];
  /** True when an object exists at path `p`. */
  has(p: string): boolean;
  /** Shape, element type and chunking of the dataset at `p`, without reading data. */
  info(p: string): H5DatasetInfo;
  /** Attributes of the group or dataset at `p` (default the root). */
  attrs(p?: string): Record<string, H5AttrValue>;
  /** The whole numeric dataset at `p`. */
  read(p: string): H5Array;
  /**
   * Reads the hyperslab `ranges` of the numeric dataset at `p`: one `[start, end)` per leading
   * dimension (dimensions beyond `ranges.length` are read whole). Only the chunks the slab touches
   * are read from disk. E.g. `readSlice('/X', [[r0, r1]])` gives rows r0..r1-1 of a 2-D dataset,
   * shape `[r1 - r0, nCols]`.
   */
  readSlice(p: string, ranges: ReadonlyArray<readonly [number, number]>): H5Array;
  /** A dataset of fixed- or variable-length strings, flattened row-major. */
  readStrings(p: string): string[];
  /**
   * A one-dimensional compound (record) dataset: member names in file order, and one array of
   * member values per record (numbers for numeric and boolean members, strings for string ones).
   */
  readCompound(p: string): { fields: string[]; rows: unknown[][] };
  /** Closes the file (releases its file descriptor). */
  close(): void;
}

/** Opens `file` read-only; FormatError naming the file when it is missing, not HDF5 or corrupt. */
export async function openH5(file: string): Promise<H5Reader> {
  assertReadableFile(file, 'an HDF5 file');
  const h5lib = await loadH5wasm();
  let f: H5File;
  try {
    f = new h5lib.File(path.resolve(file), 'r');
  } catch (e) {
    throw new FormatError(file, `not an HDF5 file, or a corrupt one (${message(e)})`);
  }
  if (f.file_id < 0n) throw new FormatError(file, 'not an HDF5 file, or a corrupt one');
  return new Reader(file, f, h5lib);
}

class Reader implements H5Reader {
  constructor(
      readonly file: string,
    private readonly h5: H5File,
    private readonly lib: H5Lib,
  ) {}

  list(group = '/'): H5Entry[] {
    const g = this.entity(group);
    if (!(g instanceof this.lib.Group)) throw new FormatError(this.file, `'${group}' is not a group`);
    const base = group.endsWith('/') ? group : `${group}/`;
    return g.keys().map((name) => {
      const e = g.get(name);
      const kind = e instanceof this.lib.Dataset ? 'dataset' : e instanceof this.lib.Group ? 'group' : 'other';
      return { name, path: `${base}${name}`, kind };
    });
  }

  datasets(group = '/'): string[] {
    return this.list(group).flatMap((e) => (e.kind === 'dataset' ? [e.path] : e.kind === 'group' ? this.datasets(e.path) : []));
  }

  has(p: string): boolean {
    try {
      return this.h5.get(p) !== null;
    } catch {
      return false;
    }
  }

  info(p: string): H5DatasetInfo {
    const d = this.dataset(p);
    const meta = d.metadata;
    const dtype = dtypeName(meta, this.lib.Module) ?? JSON.stringify(d.dtype);
    return { path: p, shape: d.shape ?? [], dtype, chunks: meta.chunks ?? null };
  }

  attrs(p = '/'): Record<string, H5AttrValue> {
    const e = this.entity(p);
    if (!(e instanceof this.lib.Group || e instanceof this.lib.Dataset)) {
      throw new FormatError(this.file, `'${p}' has no attributes (not a group or dataset)`);
    }
    const out: Record<string, H5AttrValue> = {};
    for (const [k, a] of Object.entries(e.attrs)) {
      const v = a.value;
      if (v !== null) out[k] = v as H5AttrValue;
    }
    return out;
  }

  read(p: string): H5Array {
    const shape = this.info(p).shape;
    return this.readSlice(
      p,
      shape.map((d) => [0, d]),
    );
  }

  readSlice(p: string, ranges: ReadonlyArray<readonly [number, number]>): H5Array {
    const d = this.dataset(p);
    const full = d.shape ?? [];
    if (ranges.length > full.length) {
      throw new ShapeError(`${this.file}: ${ranges.length} ranges given for '${p}', which has ${full.length} dimensions`);
    }
    const shape = full.map((dim, k) => {
      const r = ranges[k] ?? [0, dim];
      if (!Number.isInteger(r[0]) || !Number.isInteger(r[1]) || r[0] < 0 || r[1] > dim || r[0] > r[1]) {
        throw new ParamError(`ranges[${k}]`, [...r], `0 <= start <= end <= ${dim} (dimension ${k} of '${p}' in ${this.file})`);
      }
      return r[1] - r[0];
    });
    const dtype = dtypeName(d.metadata, this.lib.Module);
    if (!dtype) throw new FormatError(this.file, `dataset '${p}' is not numeric (dtype ${JSON.stringify(d.dtype)})`);
    if (numel(shape) === 0) return { data: new DTYPE_CODES[dtype].ctor(0), shape };
    let data: OutputData | null;
    try {
      data = full.length === 0 ? d.value : d.slice(shape.map((_, k) => [ranges[k]?.[0] ?? 0, (ranges[k]?.[0] ?? 0) + shape[k]]));
    } catch (e) {
      throw new FormatError(this.file, `cannot read dataset '${p}': ${message(e)}`);
    }
    if (typeof data === 'number' || typeof data === 'bigint') {
      const one = new DTYPE_CODES[dtype].ctor(1);
      (one as unknown as (number | bigint)[])[0] = data;
      data = one;
    }
    if (!ArrayBuffer.isView(data)) throw new FormatError(this.file, `dataset '${p}' did not read as a numeric array`);
    return { data: data as NumericArray, shape };
  }

  readStrings(p: string): string[] {
    const d = this.dataset(p);
    if (d.metadata.type !== this.lib.Module.H5T_class_t.H5T_STRING.value) {
      throw new FormatError(this.file, `dataset '${p}' holds ${JSON.stringify(d.dtype)}, not strings`);
    }
    const v: unknown = this.value(d, p);
    const list = Array.isArray(v) ? v.flat(Infinity) : [v];
    return list.map((s) => (s instanceof Uint8Array ? new TextDecoder().decode(s) : String(s)));
  }

  readCompound(p: string): { fields: string[]; rows: unknown[][] } {
    const d = this.dataset(p);
    const meta = d.metadata;
    if (meta.type !== this.lib.Module.H5T_class_t.H5T_COMPOUND.value || !meta.compound_type) {
      throw new FormatError(this.file, `dataset '${p}' holds ${JSON.stringify(d.dtype)}, not records (a compound type)`);
    }
    if ((d.shape ?? []).length !== 1) throw new FormatError(this.file, `compound dataset '${p}' has shape [${(d.shape ?? []).join(', ')}]; expected one dimension`);
    const fields = meta.compound_type.members.map((m) => m.name);
    const rows = (d.shape?.[0] ?? 0) === 0 ? [] : (this.value(d, p) as unknown[][]);
    return { fields, rows };
  }

  close(): void {
    this.h5.close();
  }

  private value(d: H5Dataset, p: string): unknown {
    try {
      return d.value;
    } catch (e) {
      throw new FormatError(this.file, `cannot read dataset '${p}': ${message(e)}`);
    }
  }

  private entity(p: string): H5Entity {
    let e: H5Entity | null;
    try {
      e = this.h5.get(p);
    } catch (err) {
      throw new FormatError(this.file, `cannot open '${p}': ${message(err)}`);
    }
    if (!e) throw new FormatError(this.file, `no object at '${p}'`);
    return e;
  }

  private dataset(p: string): H5Dataset {
    const d = this.entity(p);
    if (!(d instanceof this.lib.Dataset)) throw new FormatError(this.file, `'${p}' is not a dataset`);
    return d;
  }
}

/** Opens `file`, runs `fn` on it, and closes it whatever happens. */
export async function withH5<T>(file: string, fn: (r: H5Reader) => T | Promise<T>): Promise<T> {
  const r = await openH5(file);
  try {
    return await fn(r);
  } finally {
    r.close();
  }
}

/** Options of {@link H5Writer.createDataset}. */
export interface H5DatasetOptions {
  /** Chunk shape; default: whole trailing dimensions and as many leading rows as fit in ~1 MiB. */
  chunks?: number[];
  /** gzip (deflate) level 1-9; default none. */
  gzip?: number;
}

/** Target size of a default chunk: HDF5's default chunk cache is 1 MiB per dataset. */
const CHUNK_BYTES = 1 << 20;

/** Default chunk shape: trailing dimensions whole, leading ones shrunk until the chunk fits in ~1 MiB. */
export function defaultChunks(shape: readonly number[], bytesPerElement: number): number[] {
  const chunks = shape.map((d) => Math.max(1, d));
  for (let k = 0; k < chunks.length; k++) {
    const inner = numel(chunks.slice(k + 1)) * bytesPerElement;
    chunks[k] = Math.max(1, Math.min(chunks[k], Math.floor(CHUNK_BYTES / inner)));
    if (inner <= CHUNK_BYTES) break;
  }
  return chunks;
}

/**
 * A chunked dataset being filled block by block, from {@link H5Writer.createDataset}; memory use
 * is one block (plus HDF5's chunk cache), not the whole array. Parts never written read as 0.
 */
export interface H5DatasetWriter {
  /** Absolute path of the dataset in the file. */
  readonly path: string;
  readonly shape: readonly number[];
  readonly dtype: H5Dtype;
  /**
   * Writes `block` (row-major, the dataset's typed array type) at `offset` (one index per
   * dimension, default all 0): `blockShape` says its extent, which must fit inside the dataset.
   */
  writeBlock(block: NumericArray, blockShape: readonly number[], offset?: readonly number[]): void;
  /** Writes rows `row0 .. row0 + nRows - 1` (whole trailing dimensions); `rows` is row-major. */
  writeRows(row0: number, rows: NumericArray): void;
}

class DatasetWriter implements H5DatasetWriter {
  constructor(
    readonly path: string,
    readonly shape: readonly number[],
    readonly dtype: H5Dtype,
    private readonly d: H5Dataset,
    private readonly file: string,
  ) {}

  writeBlock(block: NumericArray, blockShape: readonly number[], offset: readonly number[] = []): void {
    if (blockShape.length !== this.shape.length || numel(blockShape) !== block.length) {
      throw new ShapeError(
        `block of ${block.length} values with shape [${blockShape.join(', ')}] does not fit dataset '${this.path}' of shape [${this.shape.join(', ')}]`,
      );
    }
    const { ctor } = DTYPE_CODES[this.dtype];
    if (block.constructor !== ctor) {
      throw new ShapeError(`dataset '${this.path}' is ${this.dtype}: write a ${ctor.name}, not a ${block.constructor.name}`);
    }
    const ranges = blockShape.map((n, k): [number, number] => {
      const start = offset[k] ?? 0;
      if (!Number.isInteger(start) || start < 0 || start + n > this.shape[k]) {
        throw new ParamError(`offset[${k}]`, start, `0..${this.shape[k] - n} so that the block fits dimension ${k} of '${this.path}'`);
      }
      return [start, start + n];
    });
    if (block.length === 0) return;
    try {
      this.d.write_slice(ranges, block);
    } catch (e) {
      throw new FormatError(this.file, `cannot write to dataset '${this.path}': ${message(e)}`);
    }
  }

  writeRows(row0: number, rows: NumericArray): void {
    const inner = numel(this.shape.slice(1));
    if (inner === 0 || rows.length % inner !== 0) {
      throw new ShapeError(`${rows.length} values are not whole rows of ${inner} for dataset '${this.path}' of shape [${this.shape.join(', ')}]`);
    }
    this.writeBlock(rows, [rows.length / inner, ...this.shape.slice(1)], [row0]);
  }
}

/**
 * An HDF5 file being written (to a temp file, renamed over the target by {@link writeH5} when
 * everything succeeded). Paths are absolute (`/a/b`); missing parent groups are created.
 */
export interface H5Writer {
  /** The target file, as given (used in error messages). */
  readonly file: string;
  /** Creates the group at `p` and any missing parents; returns `p`. */
  createGroup(p: string): string;
  /** Sets attribute `name` on the group or dataset at `p` (creating groups as needed). Number lists are stored as float64. */
  setAttr(p: string, name: string, value: H5AttrInput): void;
  /** Writes a whole array (row-major, `numel(shape)` values) as dataset `p`; the dtype follows the typed array. */
  writeDataset(p: string, data: NumericArray, shape: readonly number[]): void;
  /**
   * Creates a chunked dataset of `shape` and `dtype` to fill block by block through the returned
   * writer. Nothing of its size is allocated in memory.
   */
  createDataset(p: string, shape: readonly number[], dtype: H5Dtype, options?: H5DatasetOptions): H5DatasetWriter;
  /**
   * Writes `strings` as dataset `p` of shape `[strings.length]`, fixed-length (each padded to the
   * longest, as numpy's `S` dtype, UTF-8 bytes; the form PyTables writes).
   */
  writeStrings(p: string, strings: readonly string[]): void;
  /** Flushes HDF5's buffers to the (temp) file. */
  flush(): void;
}

class Writer implements H5Writer {
  constructor(
    readonly file: string,
    private readonly h5: H5File,
    private readonly lib: H5Lib,
  ) {}

  createGroup(p: string): string {
    let g: H5Group = this.h5;
    for (const part of p.split('/').filter((s) => s.length > 0)) {
      const next = g.get(part);
      if (next instanceof this.lib.Group) g = next;
      else if (next) throw new FormatError(this.file, `cannot create group '${p}': '${part}' exists and is not a group`);
      else g = g.create_group(part);
    }
    return p;
  }

  setAttr(p: string, name: string, value: H5AttrInput): void {
    const e = this.h5.get(p) ?? this.h5.get(this.createGroup(p));
    if (!(e instanceof this.lib.Group || e instanceof this.lib.Dataset)) {
      throw new FormatError(this.file, `cannot set attribute '${name}' on '${p}': not a group or dataset`);
    }
    try {
      if (Array.isArray(value) && typeof value[0] === 'number') {
        // h5wasm would store a plain number[] as int64 when every value is whole; keep them float64.
        e.create_attribute(name, Float64Array.from(value as number[]));
      } else {
        e.create_attribute(name, value as GuessableDataTypes);
      }
    } catch (err) {
      throw new FormatError(this.file, `cannot set attribute '${name}' on '${p}': ${message(err)}`);
    }
  }

  writeDataset(p: string, data: NumericArray, shape: readonly number[]): void {
    if (numel(shape) !== data.length) {
      throw new ShapeError(`dataset '${p}': ${data.length} values do not fill shape [${shape.join(', ')}]`);
    }
    const dtype = (Object.keys(DTYPE_CODES) as H5Dtype[]).find((k) => DTYPE_CODES[k].ctor === data.constructor);
    if (!dtype) throw new ShapeError(`dataset '${p}': cannot write a ${data.constructor.name}`);
    const { parent, name } = this.parentOf(p);
    try {
      parent.create_dataset({ name, data, shape: [...shape], dtype: DTYPE_CODES[dtype].code });
    } catch (e) {
      throw new FormatError(this.file, `cannot create dataset '${p}': ${message(e)}`);
    }
  }

  createDataset(p: string, shape: readonly number[], dtype: H5Dtype, options: H5DatasetOptions = {}): H5DatasetWriter {
    if (!(dtype in DTYPE_CODES)) throw new ParamError('dtype', dtype, Object.keys(DTYPE_CODES).join(' | '));
    if (shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeError(`dataset '${p}': shape [${shape.join(', ')}] must be 1 or more non-negative integers`);
    }
    const { code, ctor } = DTYPE_CODES[dtype];
    const chunks = options.chunks ?? defaultChunks(shape, new ctor(0).BYTES_PER_ELEMENT);
    if (chunks.length !== shape.length || chunks.some((c) => !Number.isInteger(c) || c < 1)) {
      throw new ParamError('chunks', chunks, `${shape.length} positive integers`);
    }
    if (options.gzip !== undefined && !(Number.isInteger(options.gzip) && options.gzip >= 1 && options.gzip <= 9)) {
      throw new ParamError('gzip', options.gzip, 'an integer level 1..9');
    }
    const { parent, name } = this.parentOf(p);
    try {
      // h5wasm's create_dataset needs data for the whole shape, so the dataset is born empty
      // (first dimension 0, resizable up to `shape`) and then resized: no full-size buffer exists.
      const d = parent.create_dataset({
        name,
        data: new ctor(0) as GuessableDataTypes,
        shape: [0, ...shape.slice(1)],
        maxshape: [...shape],
        chunks,
        dtype: code,
        ...(options.gzip ? { compression: options.gzip } : {}),
      });
      d.resize([...shape]);
      return new DatasetWriter(p, [...shape], dtype, d, this.file);
    } catch (e) {
      throw new FormatError(this.file, `cannot create dataset '${p}': ${message(e)}`);
    }
  }

  writeStrings(p: string, strings: readonly string[]): void {
    // a loop, not Math.max(...): a spread of ~10^5 lengths overflows the call stack
    let width = 1;
    for (const t of strings) width = Math.max(width, Buffer.byteLength(t, 'utf8'));
    const { parent, name } = this.parentOf(p);
    try {
      parent.create_dataset({ name, data: [...strings], shape: [strings.length], dtype: `S${width}` });
    } catch (e) {
      throw new FormatError(this.file, `cannot create string dataset '${p}': ${message(e)}`);
    }
  }

  flush(): void {
    this.h5.flush();
  }

  private parentOf(p: string): { parent: H5Group; name: string } {
    const parts = p.split('/').filter((s) => s.length > 0);
    const name = parts.pop();
    if (!name) throw new ParamError('path', p, 'a dataset path such as /group/name');
    const parentPath = `/${parts.join('/')}`;
    this.createGroup(parentPath);
    const parent = parentPath === '/' ? this.h5 : this.h5.get(parentPath);
    if (!(parent instanceof this.lib.Group)) throw new FormatError(this.file, `'${parentPath}' is not a group`);
    if (parent.get(name)) throw new FormatError(this.file, `'${p}' already exists`);
    return { parent, name };
  }
}

/**
 * Runs `fn` with `Date.now` pinned to 0. HDF5 stamps every object with creation and modification
 * times, which it reads through Emscripten's `time()`, i.e. `Date.now`; pinning it makes equal
 * content give byte-identical files (h5wasm cannot turn time tracking off). Only synchronous calls
 * into HDF5 run inside, so no other code ever sees the pinned clock.
 */
function atFixedClock<T>(fn: () => T): T {
  const now = Date.now;
  Date.now = () => 0;
  try {
    return fn();
  } finally {
    Date.now = now;
  }
}

/** Wraps every method of a writer so that it runs {@link atFixedClock}; dataset writers too. */
function onFixedClock<T extends object>(target: T): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const v: unknown = Reflect.get(obj, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const r: unknown = atFixedClock(() => (v as (...a: unknown[]) => unknown).apply(obj, args));
        return r instanceof DatasetWriter ? onFixedClock(r) : r;
      };
    },
  });
}

/**
 * Writes a new HDF5 file: `build` fills it through an {@link H5Writer}; the file is written to a
 * temp file beside `file`, closed, and renamed over `file` only when `build` resolves. On failure
 * the temp file is removed and `file` is left as it was. Object times are fixed (1970-01-01), so
 * the same content always gives the same bytes.
 */
export async function writeH5<T>(file: string, build: (w: H5Writer) => T | Promise<T>): Promise<T> {
  const h5lib = await loadH5wasm();
  return writeAtomic(file, async (tmp) => {
    let f: H5File;
    try {
      f = atFixedClock(() => new h5lib.File(path.resolve(tmp), 'w'));
    } catch (e) {
      throw new FormatError(file, `cannot create HDF5 file: ${message(e)}`);
    }
    let result: T;
    try {
      result = await build(onFixedClock(new Writer(file, f, h5lib)));
    } catch (e) {
      atFixedClock(() => f.close());
      throw e;
    }
    atFixedClock(() => f.close());
    return result;
  });
}
