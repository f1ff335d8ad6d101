/**
 * Training checkpoints: after each epoch, everything needed to continue training exactly where it
 * stopped (model weights, BatchNorm statistics, AdamW moments and step count, the RNG state, the
 * best epoch's weights and the history) goes to a folder, so that a long run killed half-way
 * resumes with `trainPoseModel(..., { checkpointDir })` and ends with the same weights as an
 * uninterrupted run.
 *
 * Layout of the folder:
 *  - `checkpoint.json`: the commit point (written last, atomically): fingerprint of the run
 *    (config, split, keypoints, frame count), epochs done, history, best epoch, RNG state, and the
 *    name and layout of the tensor file.
 *  - `checkpoint-e<epoch>.bin`: float32 little-endian, the arrays listed in the JSON, in order
 *    (weights, AdamW first moments, second moments, best weights). Written atomically before the
 *    JSON; older ones are deleted after the JSON is committed, so a crash at any point leaves one
 *    consistent checkpoint.
 * A folder whose fingerprint differs from the run's (other data, config or split) is an error
 * rather than silently overwritten or resumed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FormatError, ParamError } from '../errors';
import { writeFileAtomicSync } from '../util/fsx';
import type { RngState } from '../util/random';

export interface CheckpointState<H> {
  /** Identifies the run; a resume must present the same. */
  fingerprint: string;
  /** Epochs finished (the next epoch to run). */
  epochsDone: number;
  history: H[];
  bestEpoch: number;
  bestValError: number;
  lastValError: number;
  rng: RngState;
  optimizerSteps: number;
  weights: Float32Array[];
  m: Float32Array[];
  v: Float32Array[];
  /** Best epoch's weights (empty when none kept yet). */
  best: Float32Array[];
}

interface CheckpointJson {
  format: 'facemap-ts training checkpoint';
  version: 1;
  fingerprint: string;
  epochsDone: number;
  history: unknown[];
  bestEpoch: number;
  bestValError: number | null;
  lastValError: number | null;
  rng: RngState;
  optimizerSteps: number;
  tensorFile: string;
  /** Lengths of the arrays in the tensor file, per group. */
  sizes: { weights: number[]; m: number[]; v: number[]; best: number[] };
}

const JSON_NAME = 'checkpoint.json';

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);
const unnum = (x: number | null): number => (x === null ? NaN : x);

/** Writes a checkpoint (see the file comment). */
export function writeCheckpoint<H>(dir: string, s: CheckpointState<H>): void {
  fs.mkdirSync(dir, { recursive: true });
  const groups = [s.weights, s.m, s.v, s.best];
  const total = groups.reduce((a, g) => a + g.reduce((b, x) => b + x.length, 0), 0);
  const buf = new Float32Array(total);
  let off = 0;
  for (const g of groups) for (const a of g) (buf.set(a, off), (off += a.length));
  const tensorFile = `checkpoint-e${s.epochsDone}.bin`;
  writeFileAtomicSync(path.join(dir, tensorFile), new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  const json: CheckpointJson = {
    format: 'facemap-ts training checkpoint',
    version: 1,
    fingerprint: s.fingerprint,
    epochsDone: s.epochsDone,
    history: s.history,
    bestEpoch: s.bestEpoch,
    bestValError: num(s.bestValError),
    lastValError: num(s.lastValError),
    rng: s.rng,
    optimizerSteps: s.optimizerSteps,
    tensorFile,
    sizes: { weights: s.weights.map((a) => a.length), m: s.m.map((a) => a.length), v: s.v.map((a) => a.length), best: s.best.map((a) => a.length) },
  };
  writeFileAtomicSync(path.join(dir, JSON_NAME), `${JSON.stringify(json, null, 1)}\n`);
  for (const f of fs.readdirSync(dir)) if (/^checkpoint-e\d+\.bin$/.test(f) && f !== tensorFile) fs.rmSync(path.join(dir, f), { force: true });
}

/**
 * Reads the checkpoint in `dir`: null when there is none; FormatError when it is damaged;
 * ParamError when it belongs to another run (fingerprint differs).
 */
export function readCheckpoint<H>(dir: string, fingerprint: string): CheckpointState<H> | null {
  const jsonPath = path.join(dir, JSON_NAME);
  if (!fs.existsSync(jsonPath)) return null;
  let j: CheckpointJson;
  try {
    j = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as CheckpointJson;
  } catch (e) {
    throw new FormatError(jsonPath, `not a readable checkpoint (${(e as Error).message})`);
  }
  if (j.format !== 'facemap-ts training checkpoint' || j.version !== 1) throw new FormatError(jsonPath, 'not a facemap-ts training checkpoint (version 1)');
  if (j.fingerprint !== fingerprint) {
    throw new ParamError('checkpointDir', dir, 'a folder of checkpoints of this same run (same labels, split and settings); it holds another run: use a new folder or delete it');
  }
  const binPath = path.join(dir, j.tensorFile);
  if (!fs.existsSync(binPath)) throw new FormatError(binPath, 'missing: the checkpoint tensor file named in checkpoint.json');
  const raw = fs.readFileSync(binPath);
  const all = [...j.sizes.weights, ...j.sizes.m, ...j.sizes.v, ...j.sizes.best].reduce((a, b) => a + b, 0);
  if (raw.byteLength !== all * 4) throw new FormatError(binPath, `${raw.byteLength} bytes, expected ${all * 4} (a cut or damaged checkpoint)`);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  let off = 0;
  const take = (sizes: number[]): Float32Array[] =>
    sizes.map((n) => {
      const a = data.slice(off, off + n);
      off += n;
      return a;
    });
  return {
    fingerprint: j.fingerprint,
    epochsDone: j.epochsDone,
    history: j.history as H[],
    bestEpoch: j.bestEpoch,
    bestValError: unnum(j.bestValError),
    lastValError: unnum(j.lastValError),
    rng: j.rng,
    optimizerSteps: j.optimizerSteps,
    weights: take(j.sizes.weights),
    m: take(j.sizes.m),
    v: take(j.sizes.v),
    best: take(j.sizes.best),
  };
}

/** A stable string of a run's identity (JSON with sorted keys). */
export function runFingerprint(parts: Record<string, unknown>): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(sort(parts));
}
