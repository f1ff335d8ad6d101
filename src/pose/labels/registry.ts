/**
 * Registries of label formats (labelled frames for training) and trace formats (keypoints for
 * every frame of a video). Read picks the adaptor by `format` or by the file's extension; when
 * several trace adaptors share an extension (`.h5`: Facemap's layout and pandas' table), each is
 * tried in registry order and the first that reads the file wins.
 *
 *   labels  dlc-csv     .csv   read + write   DeepLabCut CollectedData_<scorer>.csv
 *           dlc-h5      .h5    read + write   DeepLabCut CollectedData_<scorer>.h5 (pandas fixed)
 *           sleap       .slp   read           SLEAP user-labelled instances
 *   traces  facemap-h5  .h5    read + write   Facemap <video>_FacemapPose.h5
 *           dlc-h5      .h5    read + write   pandas `df_with_missing` (DLC predictions, older Facemap; table
 *                                             or fixed format read, fixed written)
 *           dlc-csv     .csv   read + write   DeepLabCut prediction CSV
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FacemapError, FormatError, ParamError } from '../../errors';
import { labelsToTable, tableToLabels, tableToTraces, tracesToTable } from './dlc';
import { readDlcCsvTable, writeDlcCsvTable } from './dlc-csv';
import { readPoseH5, writePoseH5 } from './facemap-h5';
import { readPandasH5Table, writePandasH5Table } from './pandas-h5';
import { readSleapLabels } from './sleap';
import type { FormatAdaptor, KeypointTraces, LabelSet } from './types';

/** Options of label readers. */
export interface LabelReadOptions {
  /** Adaptor name (see {@link LABEL_FORMATS}); default: by extension. */
  format?: string;
  /** Folder the image paths are relative to; default: guessed from the label file's place (see guessRoot). */
  root?: string;
}

/** Options of writers. */
export interface WriteOptions {
  /** Adaptor name; default: by extension. */
  format?: string;
}

const ext = (file: string): string => path.extname(file).toLowerCase();

function startsWith(file: string, text: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(text.length);
      fs.readSync(fd, buf, 0, text.length, 0);
      return buf.toString('utf8') === text;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

const HDF5_MAGIC = '\x89HDF\r\n\x1a\n';

function isHdf5(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(8);
      fs.readSync(fd, buf, 0, 8, 0);
      return buf.toString('latin1') === HDF5_MAGIC;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** Label formats: DeepLabCut CSV and HDF5, SLEAP. */
export const LABEL_FORMATS: FormatAdaptor<LabelSet, LabelReadOptions>[] = [
  {
    name: 'dlc-csv',
    extensions: ['.csv'],
    canRead: (file) => ext(file) === '.csv' && startsWith(file, 'scorer,'),
    read: async (file, o = {}) => tableToLabels(readDlcCsvTable(file), file, o.root),
    write: async (file, set) => writeDlcCsvTable(file, labelsToTable(set)),
  },
  {
    name: 'dlc-h5',
    extensions: ['.h5', '.hdf5'],
    canRead: (file) => ['.h5', '.hdf5'].includes(ext(file)) && isHdf5(file),
    read: async (file, o = {}) => tableToLabels(await readPandasH5Table(file), file, o.root),
    write: (file, set) => writePandasH5Table(file, labelsToTable(set)),
  },
  {
    name: 'sleap',
    extensions: ['.slp'],
    canRead: (file) => ext(file) === '.slp' && isHdf5(file),
    read: async (file, o = {}) => {
      const set = await readSleapLabels(file);
      return o.root ? { ...set, root: path.resolve(o.root) } : set;
    },
  },
];

/** Trace formats: Facemap pose .h5, pandas/DeepLabCut .h5, DeepLabCut CSV. */
export const TRACE_FORMATS: FormatAdaptor<KeypointTraces>[] = [
  {
    name: 'facemap-h5',
    extensions: ['.h5', '.hdf5'],
    canRead: (file) => ['.h5', '.hdf5'].includes(ext(file)) && isHdf5(file),
    read: (file) => readPoseH5(file),
    write: (file, t) => writePoseH5(file, t),
  },
  {
    name: 'dlc-h5',
    extensions: ['.h5', '.hdf5'],
    canRead: (file) => ['.h5', '.hdf5'].includes(ext(file)) && isHdf5(file),
    read: async (file) => tableToTraces(await readPandasH5Table(file), file),
    write: (file, t) => writePandasH5Table(file, tracesToTable(t)),
  },
  {
    name: 'dlc-csv',
    extensions: ['.csv'],
    canRead: (file) => ext(file) === '.csv' && startsWith(file, 'scorer,'),
    read: async (file) => tableToTraces(readDlcCsvTable(file), file),
    write: async (file, t) => writeDlcCsvTable(file, tracesToTable(t)),
  },
];

function byName<T, R>(registry: FormatAdaptor<T, R>[], name: string): FormatAdaptor<T, R> {
  const a = registry.find((f) => f.name === name);
  if (!a) throw new ParamError('format', name, registry.map((f) => f.name).join(' | '));
  return a;
}

async function readWith<T, R>(registry: FormatAdaptor<T, R>[], file: string, format: string | undefined, options: R, what: string): Promise<T> {
  if (format) return byName(registry, format).read(file, options);
  if (!fs.existsSync(file)) throw new FormatError(file, `file not found (expected ${what})`);
  const candidates = registry.filter((f) => f.canRead(file));
  if (candidates.length === 0) {
    const known = registry.map((f) => `${f.name} (${f.extensions.join(', ')})`).join(', ');
    throw new FormatError(file, `not a known ${what} format: ${known}`);
  }
  const errors: string[] = [];
  for (const a of candidates) {
    try {
      return await a.read(file, options);
    } catch (e) {
      if (!(e instanceof FacemapError) || candidates.length === 1) throw e;
      errors.push(`${a.name}: ${e.message}`);
    }
  }
  throw new FormatError(file, `no ${what} format could read it (${errors.join('; ')})`);
}

function writerFor<T, R>(registry: FormatAdaptor<T, R>[], file: string, format: string | undefined): FormatAdaptor<T, R> {
  const a = format ? byName(registry, format) : registry.find((f) => f.extensions.includes(ext(file)) && f.write);
  if (!a) throw new ParamError('format', format ?? ext(file), `a writable format: ${registry.filter((f) => f.write).map((f) => f.name).join(' | ')}`);
  if (!a.write) throw new ParamError('format', a.name, `a writable format (${a.name} is read-only): ${registry.filter((f) => f.write).map((f) => f.name).join(' | ')}`);
  return a;
}

/** Reads labelled frames from `file` (format by extension and content, or `options.format`). */
export function readLabels(file: string, options: LabelReadOptions = {}): Promise<LabelSet> {
  return readWith(LABEL_FORMATS, file, options.format, options, 'label file');
}

/** Writes labelled frames to `file` (format by extension, or `options.format`), atomically. */
export async function writeLabels(file: string, set: LabelSet, options: WriteOptions = {}): Promise<void> {
  await (writerFor(LABEL_FORMATS, file, options.format).write as NonNullable<FormatAdaptor<LabelSet>['write']>)(file, set);
}

/** Reads keypoint traces (predictions per video frame) from `file`. */
export function readTraces(file: string, options: { format?: string } = {}): Promise<KeypointTraces> {
  return readWith(TRACE_FORMATS, file, options.format, {}, 'keypoint trace file');
}

/** Writes keypoint traces to `file` (format by extension: `.h5` gives Facemap's layout), atomically. */
export async function writeTraces(file: string, traces: KeypointTraces, options: WriteOptions = {}): Promise<void> {
  await (writerFor(TRACE_FORMATS, file, options.format).write as NonNullable<FormatAdaptor<KeypointTraces>['write']>)(file, traces);
}
