/**
 * Writing videos through an ffmpeg child process: raw frames (RGB or grey) are piped to its stdin
 * with backpressure and encoded (H.264 when this ffmpeg has libx264, else MPEG-4 Part 2), into a
 * temporary file renamed over the target only when ffmpeg finished cleanly: an interrupted or
 * failed write leaves no half-written video.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { EngineError, ParamError, ShapeError } from '../errors';
import { tempPathFor } from '../util/fsx';
import { locateFfmpeg } from './ffmpeg';

/** Options of {@link openVideoWriter}. */
export interface VideoWriterOptions {
  width: number;
  height: number;
  /** Frames per second of the output. */
  fps: number;
  /** Layout of the frames given to write(): 'rgb24' (3 bytes a pixel) or 'gray'. Default 'rgb24'. */
  pixFmt?: 'rgb24' | 'gray';
  /** H.264 constant rate factor (lower = better), default 20; MPEG-4 gets a matching quality. */
  crf?: number;
}

/** An open video being written. */
export interface VideoWriter {
  /** The encoder used ('libx264' or 'mpeg4'). */
  readonly codec: string;
  /** Writes one or more whole frames (row-major, `pixFmt` layout); resolves when ffmpeg took them. */
  write(frames: Uint8Array): Promise<void>;
  /** Finishes the file and renames it into place. */
  close(): Promise<void>;
  /** Stops ffmpeg and removes the temporary file. */
  abort(): Promise<void>;
}

const encoderCache = new Map<string, boolean>();

function hasEncoder(ffmpeg: string, name: string): boolean {
  const key = `${ffmpeg}|${name}`;
  let v = encoderCache.get(key);
  if (v === undefined) {
    const r = spawnSync(ffmpeg, ['-hide_banner', '-encoders'], { encoding: 'utf8', timeout: 20_000 });
    v = r.status === 0 && new RegExp(`\\s${name}\\s`).test(r.stdout);
    encoderCache.set(key, v);
  }
  return v;
}

/**
 * Starts ffmpeg writing `file` (its container from the extension, e.g. .mp4, .avi, .mkv).
 * Odd widths/heights are padded by one black column/row (yuv420p needs even sizes).
 */
export function openVideoWriter(file: string, options: VideoWriterOptions): VideoWriter {
  const { width, height, fps } = options;
  const pixFmt = options.pixFmt ?? 'rgb24';
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new ParamError('width x height', `${width} x ${height}`, 'positive integers');
  }
  if (!Number.isFinite(fps) || fps <= 0) throw new ParamError('fps', fps, 'a number > 0');
  if (pixFmt !== 'rgb24' && pixFmt !== 'gray') throw new ParamError('pixFmt', pixFmt, "'rgb24' or 'gray'");
  const crf = options.crf ?? 20;
  const { ffmpeg } = locateFfmpeg();
  const x264 = hasEncoder(ffmpeg, 'libx264');
  const codec = x264 ? ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', String(crf)] : ['-c:v', 'mpeg4', '-q:v', String(Math.max(1, Math.min(31, Math.round(crf / 6))))];
  const ext = /\.([A-Za-z0-9]+)$/.exec(file)?.[1] ?? 'mp4';
  const tmp = `${tempPathFor(file)}.${ext}`;
  const args = [
    '-hide_banner', '-nostdin', '-v', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', pixFmt, '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0',
    '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', ...codec, '-pix_fmt', 'yuv420p', tmp,
  ];
  const child = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderr = (stderr + s).slice(-8192);
  });
  const closed = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  const stdin = child.stdin as NodeJS.WritableStream;
  // A broken pipe (ffmpeg died) surfaces through `closed`, not as an uncaught stream error.
  stdin.on('error', () => undefined);
  const frameBytes = width * height * (pixFmt === 'rgb24' ? 3 : 1);
  let finished = false;
  const fail = async (why: string): Promise<never> => {
    finished = true;
    child.kill('SIGKILL');
    await closed;
    fs.rmSync(tmp, { force: true });
    throw new EngineError(`${file}: ffmpeg could not encode the video (${why})`);
  };
  return {
    codec: x264 ? 'libx264' : 'mpeg4',
    async write(frames) {
      if (finished) throw new EngineError(`${file}: the video writer is closed`);
      if (frames.length % frameBytes !== 0) throw new ShapeError(`${frames.length} bytes are not whole ${width}x${height} ${pixFmt} frames (${frameBytes} bytes each)`);
      if (child.exitCode !== null) return fail(stderr.trim().split('\n').pop() ?? `exit ${child.exitCode}`);
      if (!stdin.write(frames)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            stdin.off('drain', done);
            child.off('close', done);
            resolve();
          };
          stdin.on('drain', done);
          child.on('close', done);
        });
      }
    },
    async close() {
      if (finished) return;
      finished = true;
      stdin.end();
      const r = await closed;
      if (r.error || r.code !== 0) {
        fs.rmSync(tmp, { force: true });
        throw new EngineError(`${file}: ffmpeg failed (${r.error?.message ?? `exit ${r.code}`}): ${stderr.trim().split('\n').slice(-2).join(' | ')}`);
      }
      fs.renameSync(tmp, file);
    },
    async abort() {
      if (finished) return;
      finished = true;
      child.kill('SIGKILL');
      await closed;
      fs.rmSync(tmp, { force: true });
    },
  };
}
