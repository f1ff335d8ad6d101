/** Byte and memory-layout helpers shared by the binary readers (.npy, .mat). */

/** Every typed array the readers return. */
export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** Constructor of one of the {@link NumericArray} types. */
export type NumericArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor;

/** True on little-endian hosts (x86, ARM). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Copies `bytes` (any alignment, either byte order) into a fresh array of `ctor`.
 * `bytes.length` must be a multiple of the element size.
 */
export function typedFromBytes(bytes: Uint8Array, ctor: NumericArrayCtor, littleEndian: boolean): NumericArray {
  const size = ctor.BYTES_PER_ELEMENT;
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (size > 1 && littleEndian !== HOST_LITTLE_ENDIAN) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  return new ctor(copy.buffer, 0, copy.length / size);
}

/** Product of the dimensions (1 for a 0-d shape). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Reorders an array stored in column-major (Fortran/MATLAB) order into row-major (C) order.
 * `src` has `numel(shape)` elements; the result has the same `shape` and element type.
 * Element (i0, i1, ..., ik) is at `i0 + d0*(i1 + d1*(...))` in `src` and at
 * `((i0*d1 + i1)*d2 + ...)` in the result.
 */
export function fortranToC<T extends NumericArray>(src: T, shape: readonly number[]): T {
  return permuteOrder(src, shape, true);
}

/** Inverse of {@link fortranToC}: row-major `src` of `shape` into column-major order. */
export function cToFortran<T extends NumericArray>(src: T, shape: readonly number[]): T {
  return permuteOrder(src, shape, false);
}

function permuteOrder<T extends NumericArray>(src: T, shape: readonly number[], toC: boolean): T {
  const nd = shape.length;
  const out = new (src.constructor as new (n: number) => T)(src.length);
  if (nd < 2 || src.length === 0) {
    out.set(src as never);
    return out;
  }
  // Column-major strides of each axis; walking the row-major index with an odometer keeps the
  // column-major offset incrementally, so each element costs O(1).
  const fStride: number[] = new Array<number>(nd);
  let s = 1;
  for (let k = 0; k < nd; k++) {
    fStride[k] = s;
    s *= shape[k];
  }
  const idx = new Array<number>(nd).fill(0);
  const last = nd - 1;
  const n = src.length;
  const a = src as unknown as ArrayLike<number>;
  const b = out as unknown as { [i: number]: number };
  let f = 0;
  for (let c = 0; c < n; c++) {
    if (toC) b[c] = a[f];
    else b[f] = a[c];
    let k = last;
    idx[k] += 1;
    f += fStride[k];
    while (k > 0 && idx[k] === shape[k]) {
      f -= fStride[k] * shape[k];
      idx[k] = 0;
      k -= 1;
      idx[k] += 1;
      f += fStride[k];
    }
  }
  return out;
}
