/**
 * Result tables as plain typed rows (one per model, one per neuron and model), written as CSV and
 * as HDF5 columns, atomically. Plain CSV rather than danfo: danfojs-node loads a second tfjs copy;
 * these rows load into danfo (`new DataFrame(rows)`) or pandas (`read_csv`) as they are, and the
 * HDF5 file into pandas with h5py (`pd.DataFrame({k: f['models'][k][:] for k in f['models']})`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ParamError } from '../errors';
import { writeH5, type H5Writer } from '../io/hdf5';
import { Split } from '../synth/splits';
import { writeFileAtomicSync } from '../util/fsx';
import { finiteMean, normalizedVarianceExplained, VarianceExplained } from './metrics';

/** What a table row needs of a fitted model (a LinearBaselineResult is one). */
export interface ScoredModel {
  /** Model name, e.g. 'ridge', 'rrr', 'keypoint network'. */
  model: string;
  /** Its input, e.g. 'keypoints', 'motion SVD'. */
  input: string;
  /** Rank (RRR), if any. */
  rank?: number;
  /** Penalty (ridge/RRR lambda), if any. */
  lambda?: number;
  split: Split;
  /** VE of the targets (PCs or neurons) on the test samples. */
  pcVe: VarianceExplained;
  /** nNeurons VE on the test samples, when neurons were scored. */
  neuronVe?: Float32Array;
}

/** One row per fitted model. */
export interface ModelRow {
  model: string;
  input: string;
  rank: number | null;
  lambda: number | null;
  nTrain: number;
  nTest: number;
  /** Pooled VE of the PCs on test samples. */
  pcVe: number;
  /** Mean over neurons of VE (null when neurons were not scored). */
  meanNeuronVe: number | null;
  /** Mean over neurons of explainable VE (null without peer prediction). */
  meanExplainable: number | null;
  /** 100 x meanNeuronVe / meanExplainable (null when either is missing). */
  normalizedVe: number | null;
}

/** One row per neuron and model. */
export interface NeuronRow {
  model: string;
  input: string;
  neuron: number;
  ve: number;
  explainable: number | null;
  x: number | null;
  y: number | null;
}

/** The model row of a scored model; `explainable` (nNeurons) from peer prediction. */
export function modelRow(r: ScoredModel, explainable?: Float32Array): ModelRow {
  const meanVe = r.neuronVe ? finiteMean(r.neuronVe) : null;
  return {
    model: r.model,
    input: r.input,
    rank: r.rank ?? null,
    lambda: r.lambda ?? null,
    nTrain: r.split.train.length,
    nTest: r.split.test.length,
    pcVe: r.pcVe.pooled,
    meanNeuronVe: meanVe,
    meanExplainable: explainable ? finiteMean(explainable) : null,
    normalizedVe: r.neuronVe && explainable ? normalizedVarianceExplained(r.neuronVe, explainable) : null,
  };
}

/** Neuron rows of a scored model (empty when neurons were not scored); positions N x 2 um. */
export function neuronRows(r: ScoredModel, explainable?: Float32Array, positions?: Float32Array): NeuronRow[] {
  if (!r.neuronVe) return [];
  return Array.from(r.neuronVe, (ve, i) => ({
    model: r.model,
    input: r.input,
    neuron: i,
    ve,
    explainable: explainable ? explainable[i] : null,
    x: positions ? positions[2 * i] : null,
    y: positions ? positions[2 * i + 1] : null,
  }));
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? 'inf' : '-inf';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV text of `rows` (columns: `columns`, default the first row's keys); empty cells for null. */
export function toCsv<T extends object>(rows: readonly T[], columns?: (keyof T & string)[]): string {
  const cols = columns ?? (rows.length ? (Object.keys(rows[0]) as (keyof T & string)[]) : []);
  const lines = [cols.join(',')];
  for (const r of rows) lines.push(cols.map((c) => cell(r[c])).join(','));
  return `${lines.join('\n')}\n`;
}

/** Writes `rows` as CSV to `file` atomically (temp file + rename). */
export function writeCsv<T extends object>(file: string, rows: readonly T[], columns?: (keyof T & string)[]): void {
  writeFileAtomicSync(file, toCsv(rows, columns));
}

/** The split as JSON text: `{train: number[], test: number[], bounds: number[]}`. */
export function splitJson(split: Split): string {
  return `${JSON.stringify({ train: Array.from(split.train), test: Array.from(split.test), bounds: Array.from(split.bounds) })}\n`;
}

/** Writes `rows` as HDF5 group `group`: one dataset per column (float64 with NaN for null, or strings). */
function writeColumns<T extends object>(w: H5Writer, group: string, rows: readonly T[], columns: string[]): void {
  w.createGroup(group);
  for (const c of columns) {
    const values = rows.map((r) => (r as Record<string, unknown>)[c]);
    const p = `${group}/${c}`;
    if (values.some((v) => typeof v === 'string')) w.writeStrings(p, values.map((v) => (v === null || v === undefined ? '' : String(v))));
    else w.writeDataset(p, Float64Array.from(values, (v) => (v === null || v === undefined ? NaN : Number(v))), [rows.length]);
  }
  w.setAttr(group, 'columns', columns.join(','));
}

const MODEL_COLUMNS: (keyof ModelRow)[] = ['model', 'input', 'rank', 'lambda', 'nTrain', 'nTest', 'pcVe', 'meanNeuronVe', 'meanExplainable', 'normalizedVe'];
const NEURON_COLUMNS: (keyof NeuronRow)[] = ['model', 'input', 'neuron', 've', 'explainable', 'x', 'y'];

/**
 * The tables as one HDF5 file, atomically: groups `/models` and `/neurons` with one dataset per
 * column (numbers float64, NaN where the CSV cell is empty; text as fixed-length strings; the
 * group attribute `columns` lists them in order) and `/split/{train,test,bounds}` (int32).
 */
export async function writeResultTablesH5(file: string, tables: { models: ModelRow[]; neurons: NeuronRow[]; split: Split }): Promise<void> {
  await writeH5(file, (w) => {
    writeColumns(w, '/models', tables.models, MODEL_COLUMNS);
    writeColumns(w, '/neurons', tables.neurons, NEURON_COLUMNS);
    w.writeDataset('/split/train', tables.split.train, [tables.split.train.length]);
    w.writeDataset('/split/test', tables.split.test, [tables.split.test.length]);
    w.writeDataset('/split/bounds', tables.split.bounds, [tables.split.bounds.length]);
  });
}

/**
 * Writes a result folder: `models.csv`, `neurons.csv` and `split.json` (the split indices every
 * result is computed on), each atomically. Creates `dir` if needed. ({@link writeResultTablesH5}
 * writes the same tables as one HDF5 file.)
 */
export function writeResultTables(dir: string, tables: { models: ModelRow[]; neurons: NeuronRow[]; split: Split }): string[] {
  if (typeof dir !== 'string' || !dir) throw new ParamError('dir', dir, 'a folder path');
  fs.mkdirSync(dir, { recursive: true });
  const files = ['models.csv', 'neurons.csv', 'split.json'].map((f) => path.join(dir, f));
  writeCsv(files[0], tables.models, MODEL_COLUMNS);
  writeCsv(files[1], tables.neurons, NEURON_COLUMNS);
  writeFileAtomicSync(files[2], splitJson(tables.split));
  return files;
}
