/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): read numeric and boolean arrays in
 * either byte order and either memory order, write C-order little-endian arrays.
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import * as fs from 'node:fs';
import { FormatError, ShapeError } from '../errors';
import { assertReadableFile, writeFileAtomicSync } from '../util/fsx';
import { fortranToC, HOST_LITTLE_ENDIAN, numel, NumericArray, NumericArrayCtor, typedFromBytes } from './layout';

/** Element types this module reads and writes (NumPy names). */
export type NpyDtype =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

/** An array read from a `.npy` file. */
export interface NpyArray {
  /**
   * The elements in row-major (C) order whatever the file's order, `numel(shape)` long.
   * int64/uint64 come as BigInt64Array/BigUint64Array (see {@link toFloat64}); bool as Uint8Array of 0/1.
   */
  data: NumericArray;
  /** Dimensions, outermost first (`[]` for a 0-d scalar). */
  shape: number[];
  dtype: NpyDtype;
}

/** Typed arrays {@link writeNpy} accepts. */
export type NpyWritable = NumericArray;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

const CODES: Record<string, { dtype: NpyDtype; ctor: NumericArrayCtor }> = {
  f4: { dtype: 'float32', ctor: Float32Array },
  f8: { dtype: 'float64', ctor: Float64Array },
  i1: { dtype: 'int8', ctor: Int8Array },
  i2: { dtype: 'int16', ctor: Int16Array },
  i4: { dtype: 'int32', ctor: Int32Array },
  i8: { dtype: 'int64', ctor: BigInt64Array },
  u1: { dtype: 'uint8', ctor: Uint8Array },
  u2: { dtype: 'uint16', ctor: Uint16Array },
  u4: { dtype: 'uint32', ctor: Uint32Array },
  u8: { dtype: 'uint64', ctor: BigUint64Array },
  b1: { dtype: 'bool', ctor: Uint8Array },
};

const SUPPORTED = 'float32, float64, int8/16/32/64, uint8/16/32/64 and bool (either byte order)';

/** Reads a `.npy` file; throws FormatError naming the file when it is missing or not readable as .npy. */
export function readNpy(file: string): NpyArray {
  assertReadableFile(file, 'a NumPy .npy file');
  return parseNpy(fs.readFileSync(file), file);
}

/**
 * Parses the bytes of a `.npy` file. `name` is the file name used in error messages.
 * Fortran-order files are reordered so that `data` is always row-major.
 */
export function parseNpy(bytes: Uint8Array, name: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new FormatError(name, 'not a NumPy .npy file (the magic string "\\x93NUMPY" is missing)');
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new FormatError(name, 'truncated .npy header');
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new FormatError(name, `unsupported .npy format version ${major}.${bytes[7]} (expected 1.0, 2.0 or 3.0)`);
  }
  const dataStart = headerStart + headerLen;
  if (bytes.length < dataStart) throw new FormatError(name, 'truncated .npy header');
  const header = Buffer.from(bytes.buffer, bytes.byteOffset + headerStart, headerLen).toString(
    major === 3 ? 'utf8' : 'latin1',
  );
  const { descr, fortran, shape } = parseHeader(header, name);

  const m = /^([<>|=])([a-zA-Z]\d*)$/.exec(descr);
  const spec = m ? CODES[m[2]] : undefined;
  if (!m || !spec) {
    throw new FormatError(name, `unsupported dtype '${descr}' (supported: ${SUPPORTED})`);
  }
  const littleEndian = m[1] !== '>';
  const nBytes = numel(shape) * spec.ctor.BYTES_PER_ELEMENT;
  if (bytes.length - dataStart < nBytes) {
    throw new FormatError(
      name,
      `truncated data: shape [${shape.join(', ')}] of ${spec.dtype} needs ${nBytes} bytes, the file has ${bytes.length - dataStart}`,
    );
  }
  const raw = typedFromBytes(bytes.subarray(dataStart, dataStart + nBytes), spec.ctor, littleEndian);
  return { data: fortran ? fortranToC(raw, shape) : raw, shape, dtype: spec.dtype };
}

function parseHeader(header: string, name: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr) {
    const structured = /['"]descr['"]\s*:\s*\[/.test(header);
    throw new FormatError(
      name,
      structured
        ? `unsupported structured dtype (supported: ${SUPPORTED})`
        : `malformed .npy header (no 'descr'): ${header.trim()}`,
    );
  }
  if (!fortran || !shape) throw new FormatError(name, `malformed .npy header: ${header.trim()}`);
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s.length > 0)
    .map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new FormatError(name, `malformed shape (${shape[1]}) in .npy header`);
  }
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

/**
 * Widens any array from {@link readNpy} to Float64Array (int64 values beyond 2^53 lose precision).
 */
export function toFloat64(data: NumericArray): Float64Array {
  if (data instanceof Float64Array) return data;
  const out = new Float64Array(data.length);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  } else {
    out.set(data);
  }
  return out;
}

/** Options of {@link writeNpy} / {@link encodeNpy}. */
export interface NpyWriteOptions {
  /** Store a Uint8Array as NumPy `bool` (values must be 0 or 1) instead of `uint8`. */
  bool?: boolean;
}

/**
 * The `.npy` header (magic, version, header text padded so the data start on a 64-byte boundary)
 * of an array of `shape` with the dtype of `data` (only its type matters), for writers that stream
 * the data after it. Same rules as {@link encodeNpy}.
 */
export function encodeNpyHeader(data: NpyWritable, shape: readonly number[], options: NpyWriteOptions = {}): Uint8Array {
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`npy shape [${shape.join(', ')}] must be non-negative integers`);
  }
  let code = Object.keys(CODES).find((k) => CODES[k].ctor === data.constructor && k !== 'b1');
  if (options.bool) {
    if (!(data instanceof Uint8Array)) throw new ShapeError('npy bool data must be a Uint8Array of 0/1');
    code = 'b1';
  }
  if (!code) throw new ShapeError(`cannot write ${data.constructor.name} to .npy (supported: ${SUPPORTED})`);
  // Elements are stored in the host's byte order, which the descr records.
  const order = code.endsWith('1') ? '|' : HOST_LITTLE_ENDIAN ? '<' : '>';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${order}${code}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const major = header.length + 11 > 65535 ? 2 : 1;
  const prefix = major === 1 ? 10 : 12;
  // The data must start on a 64-byte boundary; the header ends with '\n'.
  header += ' '.repeat((64 - ((prefix + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(prefix + header.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), prefix);
  return out;
}

/**
 * Encodes `data` (row-major, `numel(shape)` elements) as `.npy` bytes:
 * in the host's byte order (little-endian on every platform Node supports in practice), C order,
 * format 1.0 (2.0 when the header exceeds 65535 bytes). The dtype follows the typed array.
 */
export function encodeNpy(data: NpyWritable, shape: readonly number[], options: NpyWriteOptions = {}): Uint8Array {
  if (numel(shape) !== data.length && shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ShapeError(`npy data has ${data.length} elements but shape [${shape.join(', ')}] needs ${numel(shape)}`);
  }
  const head = encodeNpyHeader(data, shape, options);
  const out = new Uint8Array(head.length + data.byteLength);
  out.set(head, 0);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), head.length);
  return out;
}

/** Writes `data` (row-major, shape `shape`) to a `.npy` file atomically (see {@link encodeNpy}). */
export function writeNpy(file: string, data: NpyWritable, shape: readonly number[], options: NpyWriteOptions = {}): void {
  writeFileAtomicSync(file, encodeNpy(data, shape, options));
}
