/**
 * PNG frames as grey images (H x W, row-major), 8- or 16-bit, via pngjs.
 * Colour frames are converted to grey: when R, G and B are equal in every pixel (grey stored as
 * RGB, as in many labelled-frame folders) the R channel is taken as is; otherwise the luminance
 * 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, the weights of OpenCV's `cvtColor(..., COLOR_RGB2GRAY)`,
 * which Facemap and DeepLabCut use). Alpha is ignored.
 */
import * as fs from 'node:fs';
import { PNG } from 'pngjs';
import { FormatError, ParamError, ShapeError } from '../errors';
import { assertReadableFile, writeFileAtomicSync } from '../util/fsx';

/** Element type of the grey pixels returned. */
export type GreyDtype = 'uint8' | 'uint16' | 'float32';

/** A grey image. */
export interface GreyImage<T extends Uint8Array | Uint16Array | Float32Array = Uint8Array | Uint16Array | Float32Array> {
  /** `height * width` pixel values, row-major (pixel (y, x) at `y * width + x`). */
  data: T;
  height: number;
  width: number;
  /** Bit depth of the file's samples (8 or 16; 1, 2 and 4-bit files are widened to 8). */
  bitDepth: 8 | 16;
}

/**
 * Options of {@link readPngGrey}. `dtype` (default 'uint8'):
 * - 'uint8': 0..255 (16-bit files are scaled by 1/257 and rounded);
 * - 'uint16': 0..65535 (8-bit files are scaled by 257);
 * - 'float32': the file's own scale, 0..255 or 0..65535, unrounded luminance for colour files.
 */
export interface PngReadOptions<D extends GreyDtype = GreyDtype> {
  dtype?: D;
}

type DataOf<D extends GreyDtype> = D extends 'uint16' ? Uint16Array : D extends 'float32' ? Float32Array : Uint8Array;

/** Reads a PNG file as a grey image; throws FormatError naming the file when missing or not a PNG. */
export function readPngGrey<D extends GreyDtype = 'uint8'>(file: string, options: PngReadOptions<D> = {}): GreyImage<DataOf<D>> {
  assertReadableFile(file, 'a PNG image');
  return decodePngGrey(fs.readFileSync(file), file, options);
}

/** Decodes PNG bytes as a grey image (see {@link readPngGrey}); `name` is used in error messages. */
export function decodePngGrey<D extends GreyDtype = 'uint8'>(
  bytes: Uint8Array,
  name: string,
  options: PngReadOptions<D> = {},
): GreyImage<DataOf<D>> {
  let png: { width: number; height: number; depth: number; colorType: number; data: Uint8Array | Uint16Array };
  try {
    // The pngjs typings say `data: Buffer`; with skipRescale a 16-bit image comes as a Uint16Array.
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      skipRescale: true,
    }) as unknown as typeof png;
  } catch (e) {
    throw new FormatError(name, `not a readable PNG image: ${(e as Error).message}`);
  }
  const { width, height } = png;
  const bitDepth: 8 | 16 = png.depth === 16 ? 16 : 8;
  const rgba = png.data; // 4 samples per pixel, Uint16Array when 16-bit
  const n = width * height;
  // 0 = grey, 4 = grey + alpha: pngjs copies grey into R, G and B.
  let isGrey = png.colorType === 0 || png.colorType === 4;
  if (!isGrey) {
    isGrey = true;
    for (let i = 0; i < n * 4; i += 4) {
      if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) {
        isGrey = false;
        break;
      }
    }
  }
  const dtype = options.dtype ?? 'uint8';
  const out =
    dtype === 'float32' ? new Float32Array(n) : dtype === 'uint16' ? new Uint16Array(n) : new Uint8Array(n);
  // Integer outputs are rounded (typed-array stores truncate); float32 keeps the file's scale.
  const scale = dtype === 'float32' ? 1 : dtype === 'uint16' ? (bitDepth === 8 ? 257 : 1) : bitDepth === 16 ? 1 / 257 : 1;
  const round = dtype !== 'float32';
  for (let p = 0, i = 0; p < n; p++, i += 4) {
    const v = isGrey ? rgba[i] : 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
    out[p] = round ? Math.round(v * scale) : v;
  }
  return { data: out as DataOf<D>, height, width, bitDepth };
}

/** Options of {@link writePngGrey}. */
export interface PngWriteOptions {
  /** Sample depth of the file: 8 (default for Uint8Array and Float32Array) or 16 (default for Uint16Array). */
  bitDepth?: 8 | 16;
}

/**
 * Encodes a grey image (`height * width` values, row-major) as a greyscale PNG. Float32 values are
 * rounded and clamped to 0..255 (or 0..65535 at 16 bits); NaN is rejected with ParamError.
 */
export function encodePngGrey(
  data: Uint8Array | Uint16Array | Float32Array,
  height: number,
  width: number,
  options: PngWriteOptions = {},
): Uint8Array {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new ShapeError(`PNG size ${height} x ${width} must be positive integers`);
  }
  if (data.length !== height * width) {
    throw new ShapeError(`PNG data has ${data.length} values, expected height * width = ${height} x ${width} = ${height * width}`);
  }
  const bitDepth = options.bitDepth ?? (data instanceof Uint16Array ? 16 : 8);
  const max = bitDepth === 16 ? 65535 : 255;
  const samples = bitDepth === 16 ? new Uint16Array(data.length) : new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Number.isNaN(v)) throw new ParamError(`data[${i}]`, v, 'a number (PNG pixels cannot be NaN)');
    samples[i] = Math.min(max, Math.max(0, Math.round(v)));
  }
  const png = new PNG({ width, height });
  // pngjs reads 16-bit input through `new Uint16Array(data.buffer)`: give it a buffer of its own.
  png.data = Buffer.from(samples.buffer);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth });
}

/** Writes a grey image to a PNG file atomically (see {@link encodePngGrey}). */
export function writePngGrey(
  file: string,
  data: Uint8Array | Uint16Array | Float32Array,
  height: number,
  width: number,
  options: PngWriteOptions = {},
): void {
  writeFileAtomicSync(file, encodePngGrey(data, height, width, options));
}
