/** Timing helpers for speed measurements (benchmarks, `info --speed`). */

/** Median wall time in ms of `fn` over `reps` runs, after one warm-up run when `warmup` (default reps > 1). */
export function medianTimeMs(fn: () => void, reps = 3, warmup = reps > 1): number {
  if (warmup) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
