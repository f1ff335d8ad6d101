/**
 * MATLAB Level 5 `.mat` reader (files saved by `save` with -v6 or -v7, compressed or not).
 * v7.3 files are HDF5: use the HDF5 reader for those. v4 files are not supported.
 * Format: MathWorks, "MAT-File Format" (matfile_format.pdf), chapter 1.
 */
import * as fs from 'node:fs';
import { inflateSync } from 'node:zlib';
import { FormatError } from '../errors';
import { assertReadableFile } from '../util/fsx';
import { fortranToC, numel, NumericArray, NumericArrayCtor, typedFromBytes } from './layout';

/** MATLAB class of a numeric or logical array. */
export type MatNumericClass =
  | 'double'
  | 'single'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'logical';

/** A numeric or logical array. */
export interface MatNumeric {
  kind: 'numeric';
  class: MatNumericClass;
  /** MATLAB's dimensions, e.g. `[240, 320, 2]` (always at least 2). */
  shape: number[];
  /**
   * `numel(shape)` elements of the class's type (double: Float64Array, single: Float32Array,
   * int64/uint64: BigInt64Array/BigUint64Array, logical: Uint8Array of 0/1), in row-major (C)
   * order by default or MATLAB's column-major order when read with `order: 'F'`.
   */
  data: NumericArray;
  /** Imaginary parts, same layout as `data`, for complex arrays only. */
  imag?: NumericArray;
}

/** A char array: one string per row (a 1xN char array gives one string). */
export interface MatChar {
  kind: 'char';
  shape: number[];
  rows: string[];
}

/** A cell array; `cells` in the same order as numeric data (C order by default). */
export interface MatCell {
  kind: 'cell';
  shape: number[];
  cells: MatValue[];
}

/** A struct array; `elements` in the same order as numeric data, one record of fields each. */
export interface MatStruct {
  kind: 'struct';
  shape: number[];
  fields: string[];
  elements: Record<string, MatValue>[];
}

/** Any value {@link readMat} returns. */
export type MatValue = MatNumeric | MatChar | MatCell | MatStruct;

/** Options of {@link readMat}. */
export interface MatReadOptions {
  /** Element order of arrays, cells and struct elements: 'C' row-major (default), 'F' MATLAB's column-major. */
  order?: 'C' | 'F';
  /** Read only these variables (the others are skipped without decompressing them). */
  only?: readonly string[];
}

// Data types of data elements (miINT8 = 1, ...).
const MI: Record<number, { name: string; ctor: NumericArrayCtor }> = {
  1: { name: 'miINT8', ctor: Int8Array },
  2: { name: 'miUINT8', ctor: Uint8Array },
  3: { name: 'miINT16', ctor: Int16Array },
  4: { name: 'miUINT16', ctor: Uint16Array },
  5: { name: 'miINT32', ctor: Int32Array },
  6: { name: 'miUINT32', ctor: Uint32Array },
  7: { name: 'miSINGLE', ctor: Float32Array },
  9: { name: 'miDOUBLE', ctor: Float64Array },
  12: { name: 'miINT64', ctor: BigInt64Array },
  13: { name: 'miUINT64', ctor: BigUint64Array },
  16: { name: 'miUTF8', ctor: Uint8Array },
  17: { name: 'miUTF16', ctor: Uint16Array },
  18: { name: 'miUTF32', ctor: Uint32Array },
};
const MI_MATRIX = 14;
const MI_COMPRESSED = 15;

// Array classes (mxCELL_CLASS = 1, ...).
const MX_CELL = 1;
const MX_STRUCT = 2;
const MX_CHAR = 4;
const MX_NUMERIC: Record<number, { cls: MatNumericClass; ctor: NumericArrayCtor }> = {
  6: { cls: 'double', ctor: Float64Array },
  7: { cls: 'single', ctor: Float32Array },
  8: { cls: 'int8', ctor: Int8Array },
  9: { cls: 'uint8', ctor: Uint8Array },
  10: { cls: 'int16', ctor: Int16Array },
  11: { cls: 'uint16', ctor: Uint16Array },
  12: { cls: 'int32', ctor: Int32Array },
  13: { cls: 'uint32', ctor: Uint32Array },
  14: { cls: 'int64', ctor: BigInt64Array },
  15: { cls: 'uint64', ctor: BigUint64Array },
};
const MX_UNSUPPORTED: Record<number, string> = {
  3: 'MATLAB object (mxOBJECT_CLASS)',
  5: 'sparse array (mxSPARSE_CLASS)',
  16: 'function handle (mxFUNCTION_CLASS)',
  17: 'opaque object, e.g. string/table/datetime (mxOPAQUE_CLASS)',
};
const FLAG_COMPLEX = 0x0800;
const FLAG_LOGICAL = 0x0200;

interface Element {
  type: number;
  /** Payload bytes (without the tag). */
  data: Uint8Array;
  /** Offset of the next element in the enclosing buffer. */
  next: number;
}

/** Reading context: the file name and variable for error messages, byte order, output order. */
interface Ctx {
  file: string;
  variable: string;
  le: boolean;
  order: 'C' | 'F';
}

/**
 * Reads the variables of a MATLAB v5/v6/v7 `.mat` file into a record by variable name.
 * Throws FormatError naming the file (and variable) for missing files, v7.3 (HDF5) or v4 files,
 * and pieces it does not read (sparse, objects, function handles).
 */
export function readMat(file: string, options: MatReadOptions = {}): Record<string, MatValue> {
  assertReadableFile(file, 'a MATLAB .mat file');
  return parseMat(fs.readFileSync(file), file, options);
}

/** Parses the bytes of a `.mat` file; `name` is used in error messages. See {@link readMat}. */
export function parseMat(bytes: Uint8Array, name: string, options: MatReadOptions = {}): Record<string, MatValue> {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(116, bytes.length)).toString('latin1');
  if (bytes.length < 128 || !text.startsWith('MATLAB')) {
    throw new FormatError(name, 'not a MATLAB v5/v7 .mat file (no "MATLAB 5.0 MAT-file" header; v4 files are not supported)');
  }
  const endian = String.fromCharCode(bytes[126], bytes[127]);
  if (endian !== 'IM' && endian !== 'MI') throw new FormatError(name, `bad endian indicator "${endian}" in .mat header`);
  const le = endian === 'IM';
  const version = new DataView(bytes.buffer, bytes.byteOffset + 124, 2).getUint16(0, le);
  if (version === 0x0200 || text.startsWith('MATLAB 7.3')) {
    throw new FormatError(name, 'is a MATLAB v7.3 .mat file, which is HDF5: read it with the HDF5 reader (openH5)');
  }
  const only = options.only ? new Set(options.only) : null;
  const out: Record<string, MatValue> = {};
  let off = 128;
  while (off + 8 <= bytes.length) {
    const ctx: Ctx = { file: name, variable: '(top level)', le, order: options.order ?? 'C' };
    let el = readElement(bytes, off, ctx);
    off = el.next;
    if (el.type === MI_COMPRESSED) {
      let inflated: Uint8Array;
      try {
        inflated = inflateSync(el.data);
      } catch (e) {
        throw new FormatError(name, `corrupt compressed variable at byte ${off}: ${(e as Error).message}`);
      }
      el = readElement(inflated, 0, ctx);
    }
    if (el.type !== MI_MATRIX) continue;
    const varName = matrixName(el.data, ctx);
    if (only && !only.has(varName)) continue;
    ctx.variable = varName;
    out[varName] = readMatrix(el.data, ctx);
  }
  return out;
}

/**
 * Returns the numeric variable `variable` of a {@link readMat} result, or throws FormatError naming
 * `file` when it is absent or not numeric.
 */
export function matNumeric(vars: Record<string, MatValue>, variable: string, file: string): MatNumeric {
  const v = vars[variable];
  if (!v) throw new FormatError(file, `no variable '${variable}' (has: ${Object.keys(vars).join(', ') || 'none'})`);
  if (v.kind !== 'numeric') throw new FormatError(file, `variable '${variable}' is a ${v.kind} array, expected numeric`);
  return v;
}

function readElement(buf: Uint8Array, off: number, ctx: Ctx): Element {
  if (off + 8 > buf.length) throw truncated(ctx);
  const view = new DataView(buf.buffer, buf.byteOffset + off, 8);
  const first = view.getUint32(0, ctx.le);
  if (first >>> 16 !== 0) {
    // Small data element: type and size share the first 4 bytes, the data fills the next 4.
    const size = first >>> 16;
    if (size > 4) throw new FormatError(ctx.file, `bad small data element (size ${size}) in variable '${ctx.variable}'`);
    return { type: first & 0xffff, data: buf.subarray(off + 4, off + 4 + size), next: off + 8 };
  }
  const size = view.getUint32(4, ctx.le);
  const start = off + 8;
  if (start + size > buf.length) throw truncated(ctx);
  // Elements are padded to 8 bytes, except compressed ones, which MATLAB writes back to back.
  const next = first === MI_COMPRESSED ? start + size : start + Math.ceil(size / 8) * 8;
  return { type: first, data: buf.subarray(start, start + size), next };
}

function truncated(ctx: Ctx): FormatError {
  return new FormatError(ctx.file, `truncated data in variable '${ctx.variable}'`);
}

function unsupported(ctx: Ctx, what: string): FormatError {
  return new FormatError(ctx.file, `variable '${ctx.variable}' holds a ${what}, which the .mat reader does not support`);
}

/** Typed contents of a numeric data element. */
function elementValues(el: Element, ctx: Ctx): NumericArray {
  const mi = MI[el.type];
  if (!mi) throw unsupported(ctx, `data element of type ${el.type}`);
  return typedFromBytes(el.data, mi.ctor, ctx.le);
}

function matrixName(matrix: Uint8Array, ctx: Ctx): string {
  let off = readElement(matrix, 0, ctx).next;
  off = readElement(matrix, off, ctx).next;
  return Buffer.from(readElement(matrix, off, ctx).data).toString('latin1');
}

/** Decodes the body of an miMATRIX element (flags, dims, name, then class-specific parts). */
function readMatrix(matrix: Uint8Array, ctx: Ctx): MatValue {
  if (matrix.length === 0) return { kind: 'numeric', class: 'double', shape: [0, 0], data: new Float64Array(0) };
  const flagsEl = readElement(matrix, 0, ctx);
  const flags = elementValues(flagsEl, ctx) as Uint32Array;
  const mxClass = flags[0] & 0xff;
  const dimsEl = readElement(matrix, flagsEl.next, ctx);
  const shape = Array.from(elementValues(dimsEl, ctx) as Int32Array);
  const nameEl = readElement(matrix, dimsEl.next, ctx);
  let off = nameEl.next;
  const n = numel(shape);

  if (mxClass in MX_UNSUPPORTED) throw unsupported(ctx, MX_UNSUPPORTED[mxClass]);
  const numeric = MX_NUMERIC[mxClass];
  if (numeric) {
    const realEl = readElement(matrix, off, ctx);
    const cls: MatNumericClass = flags[0] & FLAG_LOGICAL ? 'logical' : numeric.cls;
    const result: MatNumeric = { kind: 'numeric', class: cls, shape, data: toClass(realEl, numeric.ctor, shape, ctx) };
    if (flags[0] & FLAG_COMPLEX) result.imag = toClass(readElement(matrix, realEl.next, ctx), numeric.ctor, shape, ctx);
    return result;
  }
  if (mxClass === MX_CHAR) {
    const el = readElement(matrix, off, ctx);
    const codes =
      el.type === 16
        ? Array.from(Buffer.from(el.data).toString('utf8'), (c) => c.codePointAt(0) ?? 0)
        : Array.from(elementValues(el, ctx) as ArrayLike<number>);
    const [nRows, nCols] = [shape[0], n / Math.max(shape[0], 1)];
    const rows: string[] = [];
    for (let r = 0; r < nRows; r++) {
      let s = '';
      for (let c = 0; c < nCols; c++) s += String.fromCodePoint(codes[r + c * nRows] ?? 0);
      rows.push(s);
    }
    return { kind: 'char', shape, rows };
  }
  if (mxClass === MX_CELL) {
    const cells: MatValue[] = [];
    for (let i = 0; i < n; i++) {
      const el = readElement(matrix, off, ctx);
      off = el.next;
      cells.push(readMatrix(el.data, { ...ctx, variable: `${ctx.variable}{${i + 1}}` }));
    }
    return { kind: 'cell', shape, cells: reorder(cells, shape, ctx.order) };
  }
  if (mxClass === MX_STRUCT) {
    const lenEl = readElement(matrix, off, ctx);
    const nameLen = (elementValues(lenEl, ctx) as Int32Array)[0];
    const namesEl = readElement(matrix, lenEl.next, ctx);
    off = namesEl.next;
    const fields: string[] = [];
    for (let i = 0; i + nameLen <= namesEl.data.length; i += nameLen) {
      const raw = namesEl.data.subarray(i, i + nameLen);
      const end = raw.indexOf(0);
      fields.push(Buffer.from(end < 0 ? raw : raw.subarray(0, end)).toString('latin1'));
    }
    const elements: Record<string, MatValue>[] = [];
    for (let i = 0; i < n; i++) {
      const rec: Record<string, MatValue> = {};
      for (const f of fields) {
        const el = readElement(matrix, off, ctx);
        off = el.next;
        rec[f] = readMatrix(el.data, { ...ctx, variable: `${ctx.variable}(${i + 1}).${f}` });
      }
      elements.push(rec);
    }
    return { kind: 'struct', shape, fields, elements: reorder(elements, shape, ctx.order) };
  }
  throw unsupported(ctx, `array of class ${mxClass}`);
}

/** Converts a data element's values to the array class's type and the requested order. */
function toClass(el: Element, ctor: NumericArrayCtor, shape: number[], ctx: Ctx): NumericArray {
  const n = numel(shape);
  const src = elementValues(el, ctx);
  if (src.length !== n) {
    throw new FormatError(ctx.file, `variable '${ctx.variable}' has ${src.length} values, its dimensions need ${n}`);
  }
  let data: NumericArray;
  if (src.constructor === ctor) data = src;
  else {
    // MATLAB stores e.g. a double array of small integers as miUINT8 to save space.
    data = new ctor(n);
    const big = data instanceof BigInt64Array || data instanceof BigUint64Array;
    const from = src as unknown as ArrayLike<number | bigint>;
    const to = data as unknown as { [i: number]: number | bigint };
    for (let i = 0; i < n; i++) to[i] = big ? BigInt(from[i]) : Number(from[i]);
  }
  return ctx.order === 'C' ? fortranToC(data, shape) : data;
}

function reorder<T>(items: T[], shape: number[], order: 'C' | 'F'): T[] {
  if (order === 'F') return items;
  const idx = fortranToC(Uint32Array.from(items.keys()), shape);
  return Array.from(idx, (i) => items[i]);
}
