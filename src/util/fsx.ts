/** File-system helpers shared by every writer: atomic writes and readable "file missing" errors. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FormatError } from '../errors';

let tmpCounter = 0;

/** A sibling temp path in the same folder (so rename is atomic on one file system). */
export function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  const base = path.basename(target);
  tmpCounter += 1;
  return path.join(dir, `.${base}.${process.pid}.${tmpCounter}.partial`);
}

/**
 * Write a file atomically: `write` fills a temp file beside `target`, which is renamed over the
 * target only when `write` resolves. On any failure the temp file is removed and the target is
 * left as it was (absent or the old version), never half-written.
 */
export async function writeAtomic<T>(target: string, write: (tmpPath: string) => Promise<T> | T): Promise<T> {
  const tmp = tempPathFor(target);
  try {
    const result = await write(tmp);
    fs.renameSync(tmp, target);
    return result;
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Synchronous twin of {@link writeAtomic} for writers that hold the whole file in memory. */
export function writeFileAtomicSync(target: string, data: Uint8Array | string): void {
  const tmp = tempPathFor(target);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Throws FormatError naming the file when it does not exist or is not a regular file. */
export function assertReadableFile(file: string, expected: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new FormatError(file, `file not found (expected ${expected})`);
  }
  if (!st.isFile()) throw new FormatError(file, `not a regular file (expected ${expected})`);
}
