/** Peak-memory reading shared by the benchmarks. */
import * as fs from 'node:fs';

/** Peak resident set size so far, bytes (Linux VmHWM), or null elsewhere. */
export function vmHwmBytes(): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
