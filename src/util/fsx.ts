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

/**
 * Removes temp files that {@link tempPathFor} made for `target` in processes that no longer run
 * (killed before they could clean up); a live process's temp files are left alone. Returns the
 * paths removed.
 */
export function removeStalePartials(target: string): string[] {
  const dir = path.dirname(target);
  const base = path.basename(target);
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  const prefix = `.${base}.`;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.partial')) continue;
    const m = /^(\d+)\.\d+\.partial$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(path.join(dir, name));
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
