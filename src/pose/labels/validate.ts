/**
 * Checks of labelled frames before training, so that a bad label file fails here, with a message
 * naming the file and the frame, and not deep inside training. Fatal problems throw; the rest is
 * masked (coordinates set to NaN, which training ignores) and counted in the report.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FormatError, ShapeError } from '../../errors';
import type { LabelFrame, LabelSet } from './types';

/** Options of {@link validateLabels}. */
export interface ValidateOptions {
  /** Folder relative image paths resolve against; default `set.root`. */
  root?: string;
  /** Keypoints a model expects: names in the set but not here are an error; names here but not in the set are reported. */
  keypoints?: readonly string[];
  /** The label file, named in error messages. */
  labelFile?: string;
  /** Look for the image files and read PNG sizes (default true). */
  checkImages?: boolean;
}

/** A coordinate outside its image, masked. */
export interface OutOfBounds {
  frame: number;
  keypoint: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What {@link validateLabels} found. */
export interface LabelReport {
  nFrames: number;
  nKeypoints: number;
  /** Keypoints (x or y NaN / not finite) that are not labelled, all frames together: masked. */
  missing: number;
  /** Missing keypoints per keypoint, nKeypoints values in `set.keypoints` order. */
  missingPerKeypoint: number[];
  /** Labels outside the image (pixel-centre extent -0.5 .. size - 0.5): masked. */
  outOfBounds: OutOfBounds[];
  /** Frames that appear more than once (same image and frame index): frame numbers per image. */
  duplicates: { image: string; frameIndex?: number; frames: number[] }[];
  /**
   * Different image files with identical bytes (a copied frame labelled twice), frame numbers per
   * group; only with `checkImages`. Reported, not masked: the labels may still differ.
   */
  identicalImages: { images: string[]; frames: number[] }[];
  /** Keypoints of `options.keypoints` that the set lacks (they count as missing in every frame). */
  absentKeypoints: string[];
  /** Frames whose image size is unknown (not PNG, or a video frame): not checked for bounds. */
  unsized: number;
  /** One line per problem that was masked or tolerated. */
  warnings: string[];
  /** A copy of the set with non-finite and out-of-bounds coordinates set to NaN (the input is not changed). */
  set: LabelSet;
}

/** Width and height of a PNG from its header (the first 24 bytes), or null when it is not a PNG. */
export function pngSize(file: string): { width: number; height: number } | null {
  const buf = Buffer.alloc(24);
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.readSync(fd, buf, 0, 24, 0) < 24) return null;
  } finally {
    fs.closeSync(fd);
  }
  if (buf.readUInt32BE(0) !== 0x89504e47 || buf.toString('latin1', 12, 16) !== 'IHDR') return null;
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

/** Absolute path of a frame's image (or video) file. */
export function imagePath(set: LabelSet, frame: LabelFrame, root = set.root): string {
  return path.isAbsolute(frame.image) ? frame.image : path.resolve(root, frame.image);
}

/**
 * Validates labelled frames. Throws FormatError for a missing image or video file (naming it and
 * the label file) and for keypoints not in `options.keypoints`; ShapeError when a frame's arrays do
 * not hold one value per keypoint or keypoint names repeat. Everything else is masked and reported.
 */
export function validateLabels(set: LabelSet, options: ValidateOptions = {}): LabelReport {
  const source = options.labelFile ?? set.root;
  const nK = set.keypoints.length;
  const seenNames = new Set<string>();
  for (const k of set.keypoints) {
    if (seenNames.has(k)) throw new ShapeError(`${source}: keypoint '${k}' appears twice`);
    seenNames.add(k);
  }
  if (options.keypoints) {
    const allowed = new Set(options.keypoints);
    const unknown = set.keypoints.filter((k) => !allowed.has(k));
    if (unknown.length) {
      throw new FormatError(source, `unknown keypoints ${JSON.stringify(unknown)}: the model expects ${JSON.stringify(options.keypoints)}`);
    }
  }
  const absentKeypoints = (options.keypoints ?? []).filter((k) => !seenNames.has(k));
  const root = options.root ?? set.root;
  const checkImages = options.checkImages ?? true;
  const warnings: string[] = [];
  const outOfBounds: OutOfBounds[] = [];
  const missingPerKeypoint = new Array<number>(nK).fill(0);
  const byImage = new Map<string, number[]>();
  const sizes = new Map<string, { width: number; height: number } | null>();
  const byContent = new Map<string, { images: string[]; frames: number[] }>();
  let unsized = 0;
  const frames = set.frames.map((f, i) => {
    if (f.x.length !== nK || f.y.length !== nK) {
      throw new ShapeError(`${source}: frame ${i} (${f.image}) has ${f.x.length} x and ${f.y.length} y values; expected ${nK}, one per keypoint`);
    }
    const key = `${f.image}\u0000${f.frameIndex ?? ''}`;
    byImage.set(key, [...(byImage.get(key) ?? []), i]);
    const x = Float32Array.from(f.x);
    const y = Float32Array.from(f.y);
    let size: { width: number; height: number } | null = null;
    if (checkImages) {
      const file = imagePath(set, f, root);
      if (!sizes.has(file)) {
        if (!fs.existsSync(file)) {
          throw new FormatError(file, `image of frame ${i} listed in ${source} not found (${f.image} relative to ${root})`);
        }
        sizes.set(file, f.frameIndex === undefined ? pngSize(file) : null);
        if (f.frameIndex === undefined) {
          const digest = createHash('sha1').update(fs.readFileSync(file)).digest('hex');
          const group = byContent.get(digest) ?? { images: [], frames: [] };
          group.images.push(f.image);
          group.frames.push(i);
          byContent.set(digest, group);
        }
      }
      size = sizes.get(file) ?? null;
      if (!size) unsized++;
    }
    for (let k = 0; k < nK; k++) {
      if (!Number.isFinite(x[k]) || !Number.isFinite(y[k])) {
        x[k] = NaN;
        y[k] = NaN;
        missingPerKeypoint[k]++;
      } else if (size && (x[k] < -0.5 || y[k] < -0.5 || x[k] > size.width - 0.5 || y[k] > size.height - 0.5)) {
        outOfBounds.push({ frame: i, keypoint: set.keypoints[k], x: x[k], y: y[k], ...size });
        warnings.push(`frame ${i} (${f.image}): ${set.keypoints[k]} at (${x[k]}, ${y[k]}) is outside the ${size.width}x${size.height} image: masked`);
        x[k] = NaN;
        y[k] = NaN;
      }
    }
    const out: LabelFrame = { ...f, x, y };
    return out;
  });
  const duplicates = [...byImage.values()]
    .filter((ids) => ids.length > 1)
    .map((ids) => {
      const f = set.frames[ids[0]];
      return { image: f.image, ...(f.frameIndex !== undefined ? { frameIndex: f.frameIndex } : {}), frames: ids };
    });
  for (const d of duplicates) warnings.push(`${d.image}${d.frameIndex !== undefined ? ` frame ${d.frameIndex}` : ''} is labelled ${d.frames.length} times (frames ${d.frames.join(', ')})`);
  const identicalImages = [...byContent.values()].filter((g) => g.images.length > 1);
  for (const g of identicalImages) warnings.push(`images ${g.images.join(', ')} have identical bytes (frames ${g.frames.join(', ')})`);
  const missing = missingPerKeypoint.reduce((a, b) => a + b, 0);
  if (missing) warnings.push(`${missing} of ${set.frames.length * nK} keypoints are not labelled: masked`);
  if (absentKeypoints.length) warnings.push(`keypoints ${JSON.stringify(absentKeypoints)} are never labelled`);
  if (unsized && checkImages) warnings.push(`${unsized} frames have no readable PNG size: not checked for out-of-image labels`);
  return {
    nFrames: set.frames.length,
    nKeypoints: nK,
    missing,
    missingPerKeypoint,
    outOfBounds,
    duplicates,
    identicalImages,
    absentKeypoints,
    unsized,
    warnings,
    set: { ...set, frames },
  };
}
