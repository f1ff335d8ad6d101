/** Option parsing shared by the pose commands (train, evaluate). */
import * as path from 'node:path';
import { ParamError } from '../errors';
import { readLabels } from '../pose/labels/registry';
import type { LabelSet } from '../pose/labels/types';
import { imagePath } from '../pose/labels/validate';
import type { CropBox } from '../pose/preprocess';

/** A number option: undefined when absent, ParamError naming the option when not a `kind` number. */
export function numberOption(name: string, value: string | undefined, kind: 'int' | 'float', min: number): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || (kind === 'int' && !Number.isInteger(v)) || v < min) {
    throw new ParamError(name, value, `${kind === 'int' ? 'an integer' : 'a number'} >= ${min}`);
  }
  return v;
}

/** 'a,b,c' -> integers (ParamError naming the option otherwise). */
export function intListOption(name: string, value: string | undefined, length: number): number[] | undefined {
  if (value === undefined) return undefined;
  const v = value.split(',').map(Number);
  if (v.length !== length || !v.every((x) => Number.isInteger(x) && x >= 0)) throw new ParamError(name, value, `${length} comma-separated integers >= 0`);
  return v;
}

/** --box x0,x1,y0,y1 (end-exclusive pixels). */
export function boxOption(value: string | undefined): CropBox | undefined {
  const v = intListOption('--box', value, 4);
  return v && { x0: v[0], x1: v[1], y0: v[2], y1: v[3] };
}

/**
 * Reads one or more label files into one set: image paths made absolute (each file has its own
 * root); every file must list the same keypoints in the same order.
 */
export async function readLabelFiles(files: string[]): Promise<LabelSet> {
  if (!files.length) throw new ParamError('--labels', undefined, 'one or more label files (DeepLabCut CSV/.h5, SLEAP .slp, ...)');
  const sets = await Promise.all(files.map((f) => readLabels(f)));
  const first = sets[0];
  sets.forEach((s, i) => {
    if (s.keypoints.join('\u0000') !== first.keypoints.join('\u0000')) {
      throw new ParamError('--labels', files[i], `a label file with the keypoints of ${files[0]} (${first.keypoints.join(', ')}) in that order; it has ${s.keypoints.join(', ')}`);
    }
  });
  if (sets.length === 1) return first;
  return {
    keypoints: [...first.keypoints],
    scorer: first.scorer,
    root: path.dirname(path.resolve(files[0])),
    frames: sets.flatMap((s) => s.frames.map((f) => ({ ...f, image: imagePath(s, f) }))),
  };
}
