/** Locating the real-data folder `../shared/data` that CI always has and a fresh clone may not. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Absolute path of `../shared/data` (or `$FACEMAP_SHARED_DATA`), or null when it is absent. */
export function sharedDataDir(): string | null {
  const candidates = [
    process.env.FACEMAP_SHARED_DATA,
    path.resolve(__dirname, '../../../../shared/data'),
    path.resolve(process.cwd(), '../shared/data'),
  ].filter((p): p is string => !!p);
  return candidates.find((p) => fs.existsSync(path.join(p, 'README.md'))) ?? null;
}

/**
 * Path of a file under the shared data folder; when it is missing, marks the calling test (or
 * suite, from a `before` hook) skipped with a message saying what was looked for.
 */
export function sharedOrSkip(ctx: Mocha.Context, ...parts: string[]): string {
  const dir = sharedDataDir();
  const p = dir ? path.join(dir, ...parts) : null;
  if (!p || !fs.existsSync(p)) {
    console.log(`      (skipped: real data ${path.join('../shared/data', ...parts)} is not on this machine)`);
    ctx.skip();
  }
  return p as string;
}
