/**
 * Progress on long work, on stderr: a self-overwriting line on a terminal, an occasional plain
 * line elsewhere (logs, CI), each with the rate and the time left.
 */
export interface ProgressBar {
  /** Reports `done` of `total` units. */
  update(done: number, total: number): void;
  /** Ends the bar with a final line. */
  done(message?: string): void;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * A progress bar labelled `label` counting `unit`s. `stream` defaults to stderr; `quiet` prints
 * nothing. Off a terminal it prints at most one line every `intervalS` seconds.
 */
export function progressBar(
  label: string,
  unit: string,
  options: { stream?: NodeJS.WriteStream; quiet?: boolean; intervalS?: number } = {},
): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const tty = !!stream.isTTY;
  const interval = (options.intervalS ?? (tty ? 0.1 : 10)) * 1000;
  const start = performance.now();
  let last = -Infinity;
  let lastLine = '';
  const line = (done: number, total: number) => {
    const secs = (performance.now() - start) / 1000;
    const rate = done / Math.max(secs, 1e-9);
    const pct = total > 0 ? Math.min(100, (100 * done) / total) : 0;
    const speed = secs < 0.5 || done === 0 ? '' : ` · ${rate.toFixed(rate < 10 ? 1 : 0)} ${unit}/s · ${formatSeconds((total - done) / rate)} left`;
    const width = 24;
    const filled = Math.round((pct / 100) * width);
    const bar = tty ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` : '';
    return `${label} ${bar}${pct.toFixed(0)}% ${done}/${total} ${unit}${speed}`;
  };
  return {
    update(done, total) {
      if (options.quiet) return;
      const now = performance.now();
      if (now - last < interval && done < total) return;
      last = now;
      lastLine = line(done, total);
      stream.write(tty ? `\r${lastLine}\x1b[K` : `${lastLine}\n`);
    },
    done(message) {
      if (options.quiet) return;
      const secs = (performance.now() - start) / 1000;
      const text = `${label} done in ${formatSeconds(secs)}${message ? `: ${message}` : ''}`;
      stream.write(tty ? `\r${text}\x1b[K\n` : `${text}\n`);
    },
  };
}
