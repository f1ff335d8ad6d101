/**
 * Locating the ffmpeg (and, where there is one, ffprobe) binary that video decoding runs through,
 * and running it as a child process.
 *
 * Order: `$FACEMAP_FFMPEG` (an explicit choice: an error if it does not run, never a silent
 * fallback), then `ffmpeg` on `PATH`, then the static binary of the npm package
 * `@ffmpeg-installer/ffmpeg`. That package ships no ffprobe, so every caller must also work with
 * ffmpeg alone (`FfmpegInfo.ffprobe === null`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../errors';

/** Which ffmpeg runs, where it came from, and its version line. */
export interface FfmpegInfo {
  /** Absolute (or PATH-resolved) path of the ffmpeg binary. */
  readonly ffmpeg: string;
  /** ffprobe of the same installation (same folder, or PATH for a PATH ffmpeg), or null. */
  readonly ffprobe: string | null;
  /** Version as ffmpeg prints it, e.g. "5.1.9-0+deb12u1" or "N-47683-g0e8eb07980-static". */
  readonly version: string;
  /** Where it was found: `$FACEMAP_FFMPEG`, `PATH`, or the npm package `@ffmpeg-installer/ffmpeg`. */
  readonly source: 'env' | 'path' | 'npm';
}

const cache = new Map<string, FfmpegInfo>();

/**
 * The ffmpeg that facemap-ts uses (cached per value of `$FACEMAP_FFMPEG`).
 * Throws EngineError saying what was tried when none runs.
 */
export function locateFfmpeg(): FfmpegInfo {
  const envValue = process.env.FACEMAP_FFMPEG ?? '';
  const hit = cache.get(envValue);
  if (hit) return hit;
  const info = findFfmpeg(envValue);
  cache.set(envValue, info);
  return info;
}

function findFfmpeg(envValue: string): FfmpegInfo {
  const exe = process.platform === 'win32' ? '.exe' : '';
  if (envValue) {
    const version = versionOf(envValue);
    if (!version) {
      throw new EngineError(
        `FACEMAP_FFMPEG = ${JSON.stringify(envValue)} does not run as ffmpeg ("${envValue} -version" failed); ` +
          'point it at an ffmpeg binary or unset it to use the one on PATH',
      );
    }
    return { ffmpeg: envValue, ffprobe: executable(siblingProbe(envValue)), version, source: 'env' };
  }
  const tried: string[] = [];
  const onPath = whichOnPath(`ffmpeg${exe}`);
  if (onPath) {
    const version = versionOf(onPath);
    if (version) {
      const probe = executable(siblingProbe(onPath)) ?? whichOnPath(`ffprobe${exe}`);
      return { ffmpeg: onPath, ffprobe: probe, version, source: 'path' };
    }
    tried.push(`${onPath} (on PATH, but "-version" failed)`);
  } else {
    tried.push('ffmpeg on PATH (none)');
  }
  const npm = npmFfmpeg();
  if (npm) {
    const version = versionOf(npm);
    if (version) return { ffmpeg: npm, ffprobe: null, version, source: 'npm' };
    tried.push(`${npm} (from @ffmpeg-installer/ffmpeg, but "-version" failed)`);
  } else {
    tried.push(`@ffmpeg-installer/ffmpeg (no binary for ${process.platform}-${process.arch})`);
  }
  throw new EngineError(
    `no ffmpeg found: tried ${tried.join('; ')}. Install ffmpeg (e.g. apt-get install ffmpeg) ` +
      'or set FACEMAP_FFMPEG to the path of an ffmpeg binary',
  );
}

/** `…/ffmpeg-6.exe` -> `…/ffprobe-6.exe`; a binary not named ffmpeg gets `ffprobe` beside it. */
function siblingProbe(ffmpegPath: string): string {
  const base = path.basename(ffmpegPath);
  const probe = /ffmpeg/i.test(base) ? base.replace(/ffmpeg/i, 'ffprobe') : 'ffprobe';
  return path.join(path.dirname(ffmpegPath), probe);
}

function executable(p: string): string | null {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile() ? p : null;
  } catch {
    return null;
  }
}

function whichOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = executable(path.join(dir, name));
    if (p) return p;
  }
  return null;
}

function npmFfmpeg(): string | null {
  try {
    // The package throws a string (not an Error) when it has no binary for this platform.
    const mod = require('@ffmpeg-installer/ffmpeg') as { path?: unknown };
    return typeof mod.path === 'string' ? executable(mod.path) : null;
  } catch {
    return null;
  }
}

/** First line of `bin -version` parsed to its version token, or null when it does not run. */
function versionOf(bin: string): string | null {
  const r = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) return null;
  const m = /version\s+(\S+)/.exec(r.stdout);
  return m ? m[1] : 'unknown';
}

/** A spawned ffmpeg/ffprobe whose stderr is kept (its last `maxStderr` characters only). */
export interface RunningProcess {
  readonly child: ChildProcess;
  /** Resolves when the process has exited and its pipes are closed; never rejects. */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  /** The tail of what the process wrote to stderr so far. */
  stderr(): string;
  /** SIGKILL the process if it still runs, and wait until it is reaped. */
  kill(): Promise<void>;
}

/** Spawn `bin args` with stdout piped (for the caller to read) and a bounded stderr tail. */
export function spawnTool(bin: string, args: string[], maxStderr = 16_384): RunningProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    err += s;
    if (err.length > 2 * maxStderr) err = err.slice(-maxStderr);
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    closed,
    stderr: () => (err.length > maxStderr ? err.slice(-maxStderr) : err),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        child.kill('SIGKILL');
      }
      await closed;
    },
  };
}

/** Run a tool to completion, collecting stdout (small outputs only) and the stderr tail. */
export async function runTool(
  bin: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }> {
  const p = spawnTool(bin, args, 1 << 20);
  let out = '';
  p.child.stdout?.setEncoding('utf8');
  p.child.stdout?.on('data', (s: string) => {
    out += s;
  });
  const r = await p.closed;
  return { code: r.code, stdout: out, stderr: p.stderr(), error: r.error };
}

/**
 * Output option that passes frames through one for one (no duplication or dropping to reach a
 * constant rate): `-fps_mode` from ffmpeg 5.1, where `-vsync` became deprecated; `-vsync` before
 * and for builds whose version is not a release number.
 */
export function passthroughArgs(info: FfmpegInfo): string[] {
  const m = /^(\d+)\.(\d+)/.exec(info.version);
  const modern = m !== null && (Number(m[1]) > 5 || (Number(m[1]) === 5 && Number(m[2]) >= 1));
  return modern ? ['-fps_mode', 'passthrough'] : ['-vsync', 'passthrough'];
}
