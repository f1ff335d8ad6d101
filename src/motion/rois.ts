/**
 * Regions of interest for motion processing, given in code or read from a JSON file:
 * `[{ "type": "pupil", "box": { "x0": 10, "x1": 60, "y0": 5, "y1": 40 }, "video": 0, "options": {} }]`.
 * Boxes are in pixels of the original (unbinned) frame of video `video` (default 0), half-open like
 * Python slices: rows [y0, y1), columns [x0, x1).
 */
import * as fs from 'node:fs';
import { FormatError, ParamError } from '../errors';
import { assertReadableFile } from '../util/fsx';

export type RoiType = 'motion' | 'movie' | 'pupil' | 'blink' | 'running';
export const ROI_TYPES: readonly RoiType[] = ['motion', 'movie', 'pupil', 'blink', 'running'];

export interface RoiBox {
  readonly x0: number;
  readonly x1: number;
  readonly y0: number;
  readonly y1: number;
}

/** Per-ROI options; which apply depends on the type (see PupilOptions, RunningOptions). */
export interface RoiOptions {
  /** pupil: grey level of the inverted ROI below which pixels get no weight (default: automatic). */
  readonly saturation?: number;
  /** pupil: grey levels at or above this are reflections and are filled (default 200). */
  readonly reflector?: number;
  /** running: width in pixels of the Gaussian smoothing of the correlation peak (default 1.5). */
  readonly sigma?: number;
}

export interface RoiSpec {
  readonly type: RoiType;
  readonly box: RoiBox;
  /** Index of the video the box lies in, for several simultaneously recorded videos (default 0). */
  readonly video?: number;
  readonly options?: RoiOptions;
}

/** Frame size of each video, to check boxes against. */
export interface FrameSize {
  readonly Ly: number;
  readonly Lx: number;
}

/**
 * Checks every ROI (an array of RoiSpec-like objects) and returns typed copies.
 * Throws ParamError naming the ROI index and field, e.g. `rois[2].box.x1`.
 * When `sizes` is given, boxes must lie inside the frame of their video.
 */
export function validateRois(rois: unknown, sizes?: readonly FrameSize[]): RoiSpec[] {
  if (!Array.isArray(rois)) throw new ParamError('rois', rois, 'an array of ROIs ({type, box: {x0, x1, y0, y1}})');
  return rois.map((r: unknown, i) => {
    const f = `rois[${i}]`;
    if (typeof r !== 'object' || r === null) throw new ParamError(f, r, 'an object {type, box, video?, options?}');
    const o = r as Record<string, unknown>;
    if (!ROI_TYPES.includes(o.type as RoiType)) throw new ParamError(`${f}.type`, o.type, ROI_TYPES.map((t) => `"${t}"`).join(' | '));
    const video = o.video ?? 0;
    const nv = sizes?.length;
    if (!Number.isInteger(video) || (video as number) < 0 || (nv !== undefined && (video as number) >= nv)) {
      throw new ParamError(`${f}.video`, video, nv === undefined ? 'an integer >= 0' : `an integer in [0, ${nv - 1}]`);
    }
    if (typeof o.box !== 'object' || o.box === null) throw new ParamError(`${f}.box`, o.box, 'an object {x0, x1, y0, y1}');
    const b = o.box as Record<string, unknown>;
    for (const k of ['x0', 'x1', 'y0', 'y1']) {
      if (!Number.isInteger(b[k]) || (b[k] as number) < 0) throw new ParamError(`${f}.box.${k}`, b[k], 'an integer >= 0 (pixels)');
    }
    const box = { x0: b.x0 as number, x1: b.x1 as number, y0: b.y0 as number, y1: b.y1 as number };
    const size = sizes?.[video as number];
    if (box.x1 <= box.x0 || (size && box.x1 > size.Lx)) {
      throw new ParamError(`${f}.box.x1`, box.x1, `an integer in [${box.x0 + 1}, ${size ? size.Lx : 'frame width'}]`);
    }
    if (box.y1 <= box.y0 || (size && box.y1 > size.Ly)) {
      throw new ParamError(`${f}.box.y1`, box.y1, `an integer in [${box.y0 + 1}, ${size ? size.Ly : 'frame height'}]`);
    }
    const options = (o.options ?? {}) as Record<string, unknown>;
    if (typeof options !== 'object' || options === null) throw new ParamError(`${f}.options`, options, 'an object');
    const known = ['saturation', 'reflector', 'sigma'];
    for (const [k, v] of Object.entries(options)) {
      if (!known.includes(k)) throw new ParamError(`${f}.options.${k}`, v, `one of ${known.join(', ')}`);
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ParamError(`${f}.options.${k}`, v, 'a finite number');
    }
    if (options.sigma !== undefined && (options.sigma as number) <= 0) throw new ParamError(`${f}.options.sigma`, options.sigma, 'a number > 0');
    return { type: o.type as RoiType, box, video: video as number, options: options as RoiOptions };
  });
}

/** Reads and validates ROIs from a JSON file (an array, or an object with a `rois` array). */
export function loadRois(file: string, sizes?: readonly FrameSize[]): RoiSpec[] {
  assertReadableFile(file, 'a JSON file of ROIs');
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FormatError(file, `not valid JSON: ${(e as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { rois?: unknown } | null)?.rois;
  if (!Array.isArray(list)) throw new FormatError(file, 'expected a JSON array of ROIs or an object {"rois": [...]}');
  try {
    return validateRois(list, sizes);
  } catch (e) {
    if (e instanceof ParamError) throw new FormatError(file, e.message);
    throw e;
  }
}
