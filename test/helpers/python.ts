/** Running the system Python (with numpy / scipy / h5py) as the "other tool" in interop tests. */
import { spawnSync } from 'node:child_process';

const PYTHON = process.env.FACEMAP_PYTHON ?? '/usr/bin/python3';

/** True when `PYTHON` can import every module in `modules`. */
export function pythonHas(...modules: string[]): boolean {
  const r = spawnSync(PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { encoding: 'utf8' });
  return r.status === 0;
}

/** Skips the calling test/suite with a message unless Python has `modules`. */
export function pythonOrSkip(ctx: Mocha.Context, ...modules: string[]): void {
  if (!pythonHas(...modules)) {
    console.log(`      (skipped: ${PYTHON} with ${modules.join(', ')} is not on this machine)`);
    ctx.skip();
  }
}

/** Runs a Python script and returns its stdout; throws with stderr when it fails. */
export function runPython(script: string): string {
  const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
