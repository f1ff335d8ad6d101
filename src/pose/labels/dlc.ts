/**
 * DeepLabCut's labelled-data table, shared by its CSV and pandas-HDF5 files: columns are a
 * MultiIndex (scorer, [individuals,] bodyparts, coords) with coords x, y and, in machine-labelled
 * files, likelihood; rows are indexed by the image path (one string, e.g.
 * `labeled-data/<video>/img001.png`, or since DLC 2.3 three parts `labeled-data`, `<video>`,
 * `img001.png`), or by the frame number in prediction files. Missing values are NaN (empty CSV cells).
 *
 * Multi-animal files (an `individuals` level) are read with keypoints named
 * `<individual>:<bodypart>`; they are written back as single-animal files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FormatError, ShapeError } from '../../errors';
import type { KeypointTraces, LabelFrame, LabelSet } from './types';

/** One column of a DLC table. */
export interface DlcColumn {
  scorer: string;
  individual?: string;
  bodypart: string;
  /** 'x', 'y' or 'likelihood'. */
  coord: string;
}

/** A DLC table as stored: nRows x nCols values, row-major, NaN = missing. */
export interface DlcTable {
  columns: DlcColumn[];
  /** Per row, the parts of its index (1 part, or 3 for DLC's multi-column image index). */
  index: string[][];
  values: Float64Array;
}

const DEFAULT_SCORER = 'facemap-ts';

interface KeypointColumns {
  names: string[];
  x: number[];
  y: number[];
  likelihood: (number | -1)[];
  scorer: string;
}

function keypointColumns(table: DlcTable, file: string): KeypointColumns {
  const names: string[] = [];
  const at = new Map<string, number>();
  const x: number[] = [];
  const y: number[] = [];
  const likelihood: number[] = [];
  table.columns.forEach((c, j) => {
    const name = c.individual && c.individual !== 'single' ? `${c.individual}:${c.bodypart}` : c.bodypart;
    let k = at.get(name);
    if (k === undefined) {
      k = names.length;
      at.set(name, k);
      names.push(name);
      x.push(-1);
      y.push(-1);
      likelihood.push(-1);
    }
    const slot = c.coord === 'x' ? x : c.coord === 'y' ? y : c.coord === 'likelihood' ? likelihood : null;
    if (!slot) throw new FormatError(file, `column (${c.scorer}, ${c.bodypart}, ${c.coord}): coords must be x, y or likelihood`);
    if (slot[k] >= 0) throw new FormatError(file, `keypoint '${name}' has two '${c.coord}' columns`);
    slot[k] = j;
  });
  names.forEach((n, k) => {
    if (x[k] < 0 || y[k] < 0) throw new FormatError(file, `keypoint '${n}' lacks an x or y column`);
  });
  if (names.length === 0) throw new FormatError(file, 'no keypoint columns');
  return { names, x, y, likelihood, scorer: table.columns[0].scorer };
}

/** Image path of a row: its index parts joined with '/', Windows separators made '/'. */
function rowImage(parts: string[]): string {
  return parts.join('/').replace(/\\/g, '/');
}

/**
 * The folder image paths are relative to: `root` when given; else the first of the label file's
 * folder and its ancestors (up to 3 levels) where the first image exists; else the parent of a
 * `labeled-data` folder in the file's path; else the file's folder.
 */
export function guessRoot(file: string, firstImage: string | undefined, root?: string): string {
  if (root) return path.resolve(root);
  let dir = path.dirname(path.resolve(file));
  if (firstImage && !path.isAbsolute(firstImage)) {
    for (let up = 0, d = dir; up <= 3; up++, d = path.dirname(d)) {
      if (fs.existsSync(path.join(d, firstImage))) return d;
    }
  }
  const parts = dir.split(path.sep);
  const i = parts.lastIndexOf('labeled-data');
  if (i > 0) dir = parts.slice(0, i).join(path.sep) || path.sep;
  return dir;
}

/** A DLC table as labelled frames; `file` names the source in errors. */
export function tableToLabels(table: DlcTable, file: string, root?: string): LabelSet {
  const kc = keypointColumns(table, file);
  const nK = kc.names.length;
  const nC = table.columns.length;
  const hasLik = kc.likelihood.some((j) => j >= 0);
  const frames: LabelFrame[] = table.index.map((parts, r) => {
    const f: LabelFrame = { image: rowImage(parts), x: new Float32Array(nK), y: new Float32Array(nK) };
    if (hasLik) f.likelihood = new Float32Array(nK).fill(NaN);
    for (let k = 0; k < nK; k++) {
      f.x[k] = table.values[r * nC + kc.x[k]];
      f.y[k] = table.values[r * nC + kc.y[k]];
      if (f.likelihood && kc.likelihood[k] >= 0) f.likelihood[k] = table.values[r * nC + kc.likelihood[k]];
    }
    return f;
  });
  return { keypoints: kc.names, frames, scorer: kc.scorer, root: guessRoot(file, frames[0]?.image, root) };
}

/** Labelled frames as a DLC table (classic single-column image index; likelihood only when every frame has it). */
export function labelsToTable(set: LabelSet): DlcTable {
  const nK = set.keypoints.length;
  const withLik = set.frames.length > 0 && set.frames.every((f) => f.likelihood);
  const coords = withLik ? ['x', 'y', 'likelihood'] : ['x', 'y'];
  const scorer = set.scorer ?? DEFAULT_SCORER;
  const columns = set.keypoints.flatMap((bodypart) => coords.map((coord) => ({ scorer, bodypart, coord })));
  const nC = columns.length;
  const values = new Float64Array(set.frames.length * nC);
  set.frames.forEach((f, r) => {
    if (f.x.length !== nK || f.y.length !== nK) {
      throw new ShapeError(`frame ${r} (${f.image}) has ${f.x.length} x and ${f.y.length} y values; expected ${nK} keypoints`);
    }
    for (let k = 0; k < nK; k++) {
      values[r * nC + k * coords.length] = f.x[k];
      values[r * nC + k * coords.length + 1] = f.y[k];
      if (withLik) values[r * nC + k * 3 + 2] = (f.likelihood as Float32Array)[k];
    }
  });
  return { columns, index: set.frames.map((f) => [imageName(f)]), values };
}

/**
 * The image path written for a frame. Video frames (SLEAP labels) get the name DeepLabCut gives
 * frames it extracts, `labeled-data/<video stem>/img<frame, 5 digits>.png`; the images themselves
 * are not extracted.
 */
function imageName(f: LabelFrame): string {
  if (f.frameIndex === undefined) return f.image;
  const stem = path.basename(f.image, path.extname(f.image));
  return `labeled-data/${stem}/img${String(f.frameIndex).padStart(5, '0')}.png`;
}

/**
 * A DLC prediction table (one row per video frame) as traces. Rows must be frames 0..n-1 in order
 * when the index is numeric. Without likelihood columns, likelihood is 1 where x and y are
 * present and 0 where missing.
 */
export function tableToTraces(table: DlcTable, file: string): KeypointTraces {
  const kc = keypointColumns(table, file);
  const nK = kc.names.length;
  const nC = table.columns.length;
  const nFrames = table.index.length;
  table.index.forEach((parts, r) => {
    const n = Number(parts[parts.length - 1]);
    if (parts.length === 1 && Number.isInteger(n) && n !== r) {
      throw new FormatError(file, `row ${r} is frame ${n}: prediction tables must list frames 0..${nFrames - 1} in order`);
    }
  });
  const t: KeypointTraces = {
    names: kc.names,
    nFrames,
    x: new Float32Array(nFrames * nK),
    y: new Float32Array(nFrames * nK),
    likelihood: new Float32Array(nFrames * nK),
  };
  for (let r = 0; r < nFrames; r++) {
    for (let k = 0; k < nK; k++) {
      const x = table.values[r * nC + kc.x[k]];
      const y = table.values[r * nC + kc.y[k]];
      t.x[r * nK + k] = x;
      t.y[r * nK + k] = y;
      t.likelihood[r * nK + k] = kc.likelihood[k] >= 0 ? table.values[r * nC + kc.likelihood[k]] : Number.isFinite(x) && Number.isFinite(y) ? 1 : 0;
    }
  }
  return t;
}

/** Traces as a DLC prediction table: index = frame numbers, coords x, y, likelihood. */
export function tracesToTable(traces: KeypointTraces, scorer = DEFAULT_SCORER): DlcTable {
  const nK = traces.names.length;
  const { nFrames } = traces;
  for (const f of ['x', 'y', 'likelihood'] as const) {
    if (traces[f].length !== nFrames * nK) throw new ShapeError(`traces.${f} has ${traces[f].length} values; expected ${nFrames} x ${nK}`);
  }
  const columns = traces.names.flatMap((bodypart) => ['x', 'y', 'likelihood'].map((coord) => ({ scorer, bodypart, coord })));
  const values = new Float64Array(nFrames * nK * 3);
  for (let r = 0; r < nFrames; r++) {
    for (let k = 0; k < nK; k++) {
      values[(r * nK + k) * 3] = traces.x[r * nK + k];
      values[(r * nK + k) * 3 + 1] = traces.y[r * nK + k];
      values[(r * nK + k) * 3 + 2] = traces.likelihood[r * nK + k];
    }
  }
  return { columns, index: Array.from({ length: nFrames }, (_, r) => [String(r)]), values };
}
