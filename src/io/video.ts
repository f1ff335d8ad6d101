/**
 * Video decoding through an ffmpeg child process: probing, grey frames streamed in chunks (with
 * crop and Facemap's spatial binning), several simultaneously recorded videos in lockstep, and a
 * single frame for notebooks.
 *
 * Frames are 8-bit grey levels, byte for byte what ffmpeg's `-pix_fmt gray` gives: the luma plane of
 * YUV videos, expanded from TV range (16..235) to full range (0..255) as OpenCV's BGR conversion does,
 * so values match Facemap's `frame[:, :, 0]` (to within swscale rounding); grey and full-range (yuvj)
 * videos pass unchanged. For 8-bit planar YUV the plane is taken as decoded and expanded by a table
 * (ffmpeg's `lut` filter), cheaper than swscale (see grayFilter).
 * Laid out row-major: a chunk of n frames is `n x Ly x Lx`, element `[t, y, x]` at `(t * Ly + y) * Lx + x`.
 *
 * Memory is bounded by one chunk: ffmpeg's stdout is read with backpressure (ffmpeg blocks on a full
 * pipe while the consumer works), and a consumer that stops early (`break` out of `for await`)
 * makes the generator SIGKILL ffmpeg and wait for it to be reaped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError, FormatError, ParamError } from '../errors';
import { assertReadableFile } from '../util/fsx';
import { locateFfmpeg, passthroughArgs, runTool, spawnTool } from './ffmpeg';

export { locateFfmpeg } from './ffmpeg';
export type { FfmpegInfo } from './ffmpeg';

/** What {@link probeVideo} learns about the first video stream of a file. */
export interface VideoInfo {
  /** The file probed, as given. */
  readonly file: string;
  /** Frames that can be read: video packets counted by demuxing the whole stream (exact). */
  readonly nFrames: number;
  /** Frames the container declares (ffprobe `nb_frames`); null when it declares none or without ffprobe. */
  readonly nFramesDeclared: number | null;
  /** Frames per second (`r_frame_rate`, else `avg_frame_rate`). */
  readonly fps: number;
  /** Frame width Lx and height Ly, in pixels. */
  readonly width: number;
  readonly height: number;
  /** Duration in seconds (stream, else container), or null when unknown. */
  readonly duration: number | null;
  /** Codec name as ffmpeg spells it, e.g. "h264", "ffv1", "mjpeg". */
  readonly codec: string;
  /** Pixel format of the stream, e.g. "yuv420p", or null when unknown. */
  readonly pixFmt: string | null;
  /** Colour range the stream declares ("tv" = limited, "pc" = full), or null when it declares none. */
  readonly colorRange: 'tv' | 'pc' | null;
  /** Which tool produced this: ffprobe when installed beside ffmpeg, else ffmpeg's own report. */
  readonly prober: 'ffprobe' | 'ffmpeg';
}

/** Options of {@link probeVideo}. */
export interface ProbeOptions {
  /**
   * When the file should hold more frames than can be read (a recording cut short, or damaged:
   * judged by the container's declared frame count, else by the video's duration x fps), return
   * the count of frames that decode (one extra decoding pass) instead of throwing FormatError.
   * Default false.
   */
  readonly allowTruncated?: boolean;
  /** Force a prober (tests, or an ffprobe that misbehaves). Default 'auto': ffprobe when present. */
  readonly prober?: 'auto' | 'ffprobe' | 'ffmpeg';
}

/**
 * Probe the first video stream of `file`: exact frame count, fps, size, duration and codec.
 * Reads the whole file once to count packets (demuxing only, no decoding: ~1 s per GB).
 * Throws FormatError naming the file when it is missing, empty, not a video, has no frames, or is
 * truncated (unless `allowTruncated`); EngineError when no ffmpeg is installed.
 */
export async function probeVideo(file: string, opts: ProbeOptions = {}): Promise<VideoInfo> {
  assertReadableFile(file, 'a video file');
  const st = fs.statSync(file);
  if (st.size === 0) throw new FormatError(file, 'empty file (0 bytes), expected a video');
  // The same unchanged file (path, size, modification time) is probed once per process and tool
  // set: fitting and then transforming a video, or tracking after a fit, would count its packets again.
  const tools = locateFfmpeg();
  const key = JSON.stringify([path.resolve(file), st.size, st.mtimeMs, st.ino, opts.allowTruncated ?? false, opts.prober ?? 'auto', tools.ffmpeg, tools.ffprobe]);
  const hit = probeCache.get(key);
  if (hit) return { ...hit, file };
  const info = await probeUncached(file, opts);
  if (probeCache.size >= 256) probeCache.delete(probeCache.keys().next().value as string);
  probeCache.set(key, info);
  return info;
}

/** Results of {@link probeVideo}, by file identity and options (oldest dropped beyond 256). */
const probeCache = new Map<string, VideoInfo>();

async function probeUncached(file: string, opts: ProbeOptions): Promise<VideoInfo> {
  const tools = locateFfmpeg();
  const which = opts.prober ?? 'auto';
  if (which === 'ffprobe' && !tools.ffprobe) {
    throw new EngineError(`prober = "ffprobe" was asked for, but no ffprobe sits beside ${tools.ffmpeg}`);
  }
  const { info, videoDuration } =
    which !== 'ffmpeg' && tools.ffprobe
      ? await probeWithFfprobe(file, tools.ffprobe)
      : await probeWithFfmpeg(file, tools.ffmpeg);
  if (info.nFrames === 0) throw new FormatError(file, `the ${info.codec} video stream holds no readable frames`);
  const short = shortfall(info, videoDuration);
  if (short === null) return info;
  if (!opts.allowTruncated) {
    throw new FormatError(
      file,
      `truncated or corrupt: ${short} but reading stopped at frame ${info.nFrames} ` +
        '(pass allowTruncated: true to read the frames that decode)',
    );
  }
  // The last packets of a cut file are often partial and do not decode: count decoded frames.
  return { ...info, nFrames: await countDecodedFrames(file, tools.ffmpeg) };
}

/**
 * Why the file should hold more frames than were read, or null when it holds all it should.
 * Containers that declare no frame count (Matroska, AVI) are judged by the video's duration, with
 * a tolerance of 2 frames or 10 ms (ffmpeg prints durations to the centisecond); this also flags
 * variable-frame-rate videos, whose frames cannot be indexed by time anyway.
 */
function shortfall(info: VideoInfo, videoDuration: number | null): string | null {
  if (info.nFramesDeclared !== null) {
    return info.nFrames < info.nFramesDeclared ? `the container declares ${info.nFramesDeclared} frames` : null;
  }
  if (videoDuration === null) return null;
  const expected = Math.round(videoDuration * info.fps);
  const tolerance = Math.max(2, Math.ceil(0.01 * info.fps));
  return info.nFrames < expected - tolerance
    ? `the video lasts ${videoDuration} s at ${+info.fps.toFixed(3)} fps (about ${expected} frames)`
    : null;
}

/** A probe's findings, and the duration of the video stream itself (null when not known). */
interface Probed {
  info: VideoInfo;
  videoDuration: number | null;
}

async function countDecodedFrames(file: string, ffmpeg: string): Promise<number> {
  const r = await runTool(ffmpeg, ['-hide_banner', '-nostdin', '-nostats', '-i', inputArg(file), '-map', '0:v:0', '-f', 'null', '-']);
  if (r.error) throw new EngineError(`could not run ${ffmpeg}: ${r.error.message}`);
  const m = [...r.stderr.matchAll(/frame=\s*(\d+)/g)].pop();
  if (!m || Number(m[1]) === 0) throw new FormatError(file, 'no frame of the video stream decodes');
  return Number(m[1]);
}

async function probeWithFfprobe(file: string, ffprobe: string): Promise<Probed> {
  const r = await runTool(ffprobe, [
    '-v', 'error', '-select_streams', 'v:0', '-count_packets',
    '-show_entries',
    'stream=codec_name,width,height,r_frame_rate,avg_frame_rate,duration,nb_frames,nb_read_packets,pix_fmt,color_range:format=duration,nb_streams',
    '-of', 'json', inputArg(file),
  ]);
  if (r.error) throw new EngineError(`could not run ${ffprobe}: ${r.error.message}`);
  if (r.code !== 0) throw notAVideo(file, r.stderr);
  let parsed: { streams?: Record<string, unknown>[]; format?: Record<string, unknown> };
  try {
    parsed = JSON.parse(r.stdout) as typeof parsed;
  } catch {
    throw new FormatError(file, `ffprobe printed unreadable output: ${r.stdout.slice(0, 200)}`);
  }
  const s = parsed.streams?.[0];
  if (!s) throw new FormatError(file, 'no video stream (expected a video file)');
  const fps = rate(s.r_frame_rate) ?? rate(s.avg_frame_rate);
  if (fps === null) throw new FormatError(file, 'the video stream has no frame rate');
  const containerDuration = num(parsed.format?.duration);
  const info: VideoInfo = {
    file,
    nFrames: int(s.nb_read_packets) ?? 0,
    nFramesDeclared: int(s.nb_frames),
    fps,
    width: int(s.width) ?? 0,
    height: int(s.height) ?? 0,
    duration: num(s.duration) ?? containerDuration,
    codec: String(s.codec_name ?? 'unknown'),
    pixFmt: typeof s.pix_fmt === 'string' ? s.pix_fmt : null,
    colorRange: s.color_range === 'tv' || s.color_range === 'pc' ? s.color_range : null,
    prober: 'ffprobe',
  };
  return { info, videoDuration: num(s.duration) ?? (int(parsed.format?.nb_streams) === 1 ? containerDuration : null) };
}

async function probeWithFfmpeg(file: string, ffmpeg: string): Promise<Probed> {
  const r = await runTool(ffmpeg, [
    '-hide_banner', '-nostdin', '-nostats', '-i', inputArg(file), '-map', '0:v:0', '-c', 'copy', '-f', 'null', '-',
  ]);
  if (r.error) throw new EngineError(`could not run ${ffmpeg}: ${r.error.message}`);
  const inputPart = r.stderr.split(/\nOutput #0|\nStream mapping:/)[0];
  const line = /Stream #0:\d+.*?: Video: (.*)/.exec(inputPart);
  if (r.code !== 0 || !line) {
    if (!line && /Input #0/.test(inputPart)) throw new FormatError(file, 'no video stream (expected a video file)');
    throw notAVideo(file, r.stderr);
  }
  const desc = line[1];
  const size = /, (\d+)x(\d+)(?=[ ,]|$)/.exec(desc);
  const fpsM = /, ([\d.]+)(k?) (?:fps|tbr)/.exec(desc);
  const dur = /Duration: (\d+):(\d+):([\d.]+)/.exec(inputPart);
  const frames = [...r.stderr.matchAll(/frame=\s*(\d+)/g)].pop();
  if (!size || !fpsM) throw new FormatError(file, `could not read size and frame rate from ffmpeg's report: ${desc}`);
  const duration = dur ? Number(dur[1]) * 3600 + Number(dur[2]) * 60 + Number(dur[3]) : null;
  const info: VideoInfo = {
    file,
    nFrames: frames ? Number(frames[1]) : 0,
    nFramesDeclared: null,
    fps: exactRate(Number(fpsM[1]) * (fpsM[2] ? 1000 : 1)),
    width: Number(size[1]),
    height: Number(size[2]),
    duration,
    codec: /^(\w+)/.exec(desc)?.[1] ?? 'unknown',
    pixFmt: /^[^,]+, ([a-z0-9_]+)/.exec(desc)?.[1] ?? null,
    colorRange: (/^[^,]+, [a-z0-9_]+\((tv|pc)[,)]/.exec(desc)?.[1] as 'tv' | 'pc' | undefined) ?? null,
    prober: 'ffmpeg',
  };
  // ffmpeg prints only the container's duration: it is the video's when the file holds one stream.
  const nStreams = (inputPart.match(/\n\s*Stream #0:/g) ?? []).length;
  return { info, videoDuration: nStreams === 1 ? duration : null };
}

/**
 * ffmpeg prints rates rounded to 2 decimals: restore NTSC rates (29.97 -> 30000/1001) so that
 * frame-index seeks (time = index / fps) stay exact over long recordings.
 */
function exactRate(printed: number): number {
  const n = Math.round((printed * 1001) / 1000);
  return !Number.isInteger(printed) && Math.abs((n * 1000) / 1001 - printed) < 0.006 ? (n * 1000) / 1001 : printed;
}

/** A path as ffmpeg's input argument: `a:b.mp4` would otherwise be read as protocol `a`. */
function inputArg(file: string): string {
  return /^[A-Za-z][A-Za-z0-9+.-]+:/.test(file) ? `file:${file}` : file;
}

function notAVideo(file: string, stderr: string): FormatError {
  const last = stderr.trim().split('\n').pop()?.replace(inputArg(file), '').replace(/^[:\s]+/, '') ?? '';
  return new FormatError(file, `not a readable video (ffmpeg: ${last || 'no message'})`);
}

function rate(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const [a, b] = v.split('/').map(Number);
  const r = b === undefined ? a : a / b;
  return Number.isFinite(r) && r > 0 ? r : null;
}
function int(v: unknown): number | null {
  const n = Number(v);
  return v !== undefined && v !== null && v !== '' && Number.isInteger(n) ? n : null;
}
function num(v: unknown): number | null {
  const n = Number(v);
  return v !== undefined && v !== null && v !== '' && Number.isFinite(n) ? n : null;
}

/** A rectangle of a frame in pixels, half-open like a Python slice: rows [y0, y1), columns [x0, x1). */
export interface Crop {
  readonly x0: number;
  readonly x1: number;
  readonly y0: number;
  readonly y1: number;
}

/** Element type of the frames yielded. */
export type FrameDType = 'float32' | 'uint8';

/** Options of {@link readFrames}. */
export interface ReadOptions {
  /** Frames per yielded chunk (the last chunk may hold fewer). Integer >= 1, default 100. */
  readonly chunk?: number;
  /** Keep only this rectangle (pixels of the full frame), applied before binning. Default: whole frame. */
  readonly crop?: Crop;
  /**
   * Spatial binning factor: each output pixel is the mean of an sbin x sbin block; remainder rows and
   * columns are dropped (Ly_out = floor(Ly / sbin)), as Facemap's `spatial_bin` does. Default 1.
   */
  readonly sbin?: number;
  /** First frame to read (0-based index). Default 0. */
  readonly start?: number;
  /** Frames to read. Default: all from `start` to the end. */
  readonly count?: number;
  /**
   * 'float32' (default; grey levels 0..255, binned means) or 'uint8' (raw grey levels, needs sbin = 1).
   */
  readonly dtype?: FrameDType;
  /** The result of probeVideo for this file, to skip probing again. */
  readonly info?: VideoInfo;
  /** Read the readable frames of a truncated file instead of throwing (see ProbeOptions). */
  readonly allowTruncated?: boolean;
}

/** One chunk of consecutive frames. Each chunk owns its array: keeping it is safe. */
export interface FrameChunk<T extends Float32Array | Uint8Array = Float32Array> {
  /** n x Ly x Lx, row-major; grey levels 0..255. */
  readonly frames: T;
  /** Frames in this chunk. */
  readonly n: number;
  /** Index (in the video) of the chunk's first frame. */
  readonly start: number;
  /** Height and width of each frame after crop and binning, in (binned) pixels. */
  readonly Ly: number;
  readonly Lx: number;
}

interface Plan {
  start: number;
  count: number;
  chunk: number;
  sbin: number;
  crop: Crop;
  dtype: FrameDType;
}

/**
 * Stream grey frames of `file` in chunks of `opts.chunk` frames through one ffmpeg process.
 * Seeking to `start` is frame-accurate for constant-frame-rate videos (ffmpeg's accurate input
 * seek to half a frame before the frame's timestamp; it decodes from the previous keyframe).
 * Crop runs inside ffmpeg (after conversion to grey, so any pixel offset is exact); binning in JS.
 * Throws ParamError for bad options, FormatError naming the file and the frame reached when the
 * stream ends before `start + count` (truncated or corrupt video) or ffmpeg fails. Like every async
 * generator, it starts (and validates) on the first `next()`; consume it with `for await` (or call
 * `return()`) so that ffmpeg is stopped: an abandoned, half-read generator leaves ffmpeg blocked.
 * Seeks by time, so for variable-frame-rate videos `start` is the frame at time start / fps.
 */
export function readFrames(file: string, opts?: ReadOptions & { dtype?: 'float32' }): AsyncGenerator<FrameChunk<Float32Array>>;
export function readFrames(file: string, opts: ReadOptions & { dtype: 'uint8' }): AsyncGenerator<FrameChunk<Uint8Array>>;
export function readFrames(file: string, opts?: ReadOptions): AsyncGenerator<FrameChunk<Float32Array | Uint8Array>>;
export async function* readFrames(
  file: string,
  opts: ReadOptions = {},
): AsyncGenerator<FrameChunk<Float32Array | Uint8Array>> {
  const info = opts.info ?? (await probeVideo(file, { allowTruncated: opts.allowTruncated }));
  yield* streamFrames(file, info, plan(opts, info));
}

function plan(opts: ReadOptions, info: VideoInfo, nFrames = info.nFrames): Plan {
  const chunk = opts.chunk ?? 100;
  if (!Number.isInteger(chunk) || chunk < 1) throw new ParamError('chunk', chunk, 'an integer >= 1 (frames per chunk)');
  const sbin = opts.sbin ?? 1;
  if (!Number.isInteger(sbin) || sbin < 1) throw new ParamError('sbin', sbin, 'an integer >= 1');
  const dtype = opts.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'uint8') throw new ParamError('dtype', dtype, '"float32" or "uint8"');
  if (dtype === 'uint8' && sbin > 1) throw new ParamError('dtype', dtype, '"float32" when sbin > 1 (bin means are fractional)');
  const start = opts.start ?? 0;
  if (!Number.isInteger(start) || start < 0 || start >= nFrames) {
    throw new ParamError('start', start, `an integer frame index in [0, ${nFrames - 1}] (${info.file} has ${nFrames} frames)`);
  }
  const count = opts.count ?? nFrames - start;
  if (!Number.isInteger(count) || count < 1 || start + count > nFrames) {
    throw new ParamError('count', count, `an integer in [1, ${nFrames - start}] (frames left after start = ${start} in ${info.file})`);
  }
  const crop = opts.crop ?? { x0: 0, x1: info.width, y0: 0, y1: info.height };
  const { x0, x1, y0, y1 } = crop;
  if (![x0, x1, y0, y1].every(Number.isInteger) || x0 < 0 || y0 < 0 || x1 > info.width || y1 > info.height || x0 >= x1 || y0 >= y1) {
    throw new ParamError(
      'crop',
      `{x0: ${x0}, x1: ${x1}, y0: ${y0}, y1: ${y1}}`,
      `integers with 0 <= x0 < x1 <= ${info.width} and 0 <= y0 < y1 <= ${info.height} (frame size of ${info.file})`,
    );
  }
  if (Math.floor((y1 - y0) / sbin) < 1 || Math.floor((x1 - x0) / sbin) < 1) {
    throw new ParamError('sbin', sbin, `at most ${Math.min(y1 - y0, x1 - x0)} (the cropped frame is ${y1 - y0} x ${x1 - x0})`);
  }
  return { start, count, chunk, sbin, crop, dtype };
}

async function* streamFrames(
  file: string,
  info: VideoInfo,
  p: Plan,
): AsyncGenerator<FrameChunk<Float32Array | Uint8Array>> {
  const tools = locateFfmpeg();
  const { ffmpeg } = tools;
  const Ly = p.crop.y1 - p.crop.y0;
  const Lx = p.crop.x1 - p.crop.x0;
  const frameBytes = Ly * Lx;
  const filters = [grayFilter(info)];
  if (Ly !== info.height || Lx !== info.width) filters.push(`crop=${Lx}:${Ly}:${p.crop.x0}:${p.crop.y0}`);
  const seek = p.start > 0 ? ['-ss', ((p.start - 0.5) / info.fps).toFixed(6)] : [];
  const args = [
    '-hide_banner', '-nostdin', '-v', 'error', ...seek, '-i', inputArg(file),
    '-map', '0:v:0', '-an', '-sn', '-dn', '-vf', filters.join(','), ...passthroughArgs(tools),
    '-frames:v', String(p.count), '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1',
  ];
  const proc = spawnTool(ffmpeg, args);
  let done = 0;
  let filled = 0;
  try {
    let buf = new Uint8Array(Math.min(p.chunk, p.count) * frameBytes);
    const stdout = proc.child.stdout as AsyncIterable<Buffer>;
    for await (const data of stdout) {
      let off = 0;
      while (off < data.length && done < p.count) {
        const take = Math.min(buf.length - filled, data.length - off);
        buf.set(data.subarray(off, off + take), filled);
        filled += take;
        off += take;
        if (filled === buf.length) {
          const n = buf.length / frameBytes;
          const chunk = toChunk(buf, n, Ly, Lx, p, p.start + done);
          done += n;
          filled = 0;
          const nextLength = Math.min(p.chunk, p.count - done) * frameBytes;
          // uint8 chunks hand `buf` itself to the consumer; float32 chunks copied it, so reuse it.
          if (done < p.count && (p.dtype === 'uint8' || nextLength !== buf.length)) buf = new Uint8Array(nextLength);
          yield chunk;
        }
      }
    }
    const exit = await proc.closed;
    if (exit.error) throw new EngineError(`could not run ${ffmpeg}: ${exit.error.message}`);
    const reached = p.start + done + Math.floor(filled / frameBytes);
    const why = proc.stderr().trim().split('\n').slice(-3).join(' | ');
    if (done < p.count) {
      throw new FormatError(
        file,
        `video stream ended at frame ${reached}, expected frames ${p.start}..${p.start + p.count - 1} ` +
          `(truncated or corrupt video${why ? `; ffmpeg: ${why}` : ''})`,
      );
    }
    if (exit.code !== 0) {
      throw new FormatError(file, `ffmpeg failed (exit ${exit.code}) after frame ${reached - 1}: ${why || 'no message'}`);
    }
  } finally {
    await proc.kill();
  }
}

/**
 * The ffmpeg filter that turns decoded frames grey. `format=gray` makes swscale convert every frame
 * (for limited-range YUV, clip(round((Y - 16) * 255 / 219)) per pixel), which costs about a fifth
 * of the decoding time of a small h264 frame. For 8-bit planar YUV, `extractplanes=y` takes the
 * luma plane as decoded, and the same expansion is a 256-entry table (`lut`) in ffmpeg; full-range
 * video (yuvj*, or colour range "pc") needs none. Byte-identical to `format=gray` (checked over all
 * 256 luma values in test/io/video.spec.ts); other formats keep `format=gray`.
 */
function grayFilter(info: VideoInfo): string {
  const fmt = info.pixFmt ?? '';
  if (/^yuvj4(20|22|44|40|11)p$/.test(fmt)) return 'extractplanes=y';
  if (/^yuv4(20|22|44|40|11|10)p$/.test(fmt)) {
    return info.colorRange === 'pc' ? 'extractplanes=y' : 'extractplanes=y,lut=c0=clip(round((val-16)*255/219)\\,0\\,255)';
  }
  return 'format=gray';
}

function toChunk(raw: Uint8Array, n: number, Ly: number, Lx: number, p: Plan, start: number): FrameChunk<Float32Array | Uint8Array> {
  if (p.dtype === 'uint8') return { frames: raw, n, start, Ly, Lx };
  if (p.sbin === 1) return { frames: new Float32Array(raw), n, start, Ly, Lx };
  const b = binFrames(raw, n, Ly, Lx, p.sbin);
  return { frames: b.frames, n, start, Ly: b.Ly, Lx: b.Lx };
}

/**
 * Facemap's spatial binning: mean over sbin x sbin blocks of each of n frames (n x Ly x Lx,
 * row-major), dropping the last Ly % sbin rows and Lx % sbin columns.
 * Returns n x floor(Ly / sbin) x floor(Lx / sbin), row-major.
 */
export function binFrames(
  src: Uint8Array | Float32Array,
  n: number,
  Ly: number,
  Lx: number,
  sbin: number,
): { frames: Float32Array; Ly: number; Lx: number } {
  if (!Number.isInteger(sbin) || sbin < 1) throw new ParamError('sbin', sbin, 'an integer >= 1');
  if (src.length !== n * Ly * Lx) throw new ParamError('src.length', src.length, `n * Ly * Lx = ${n * Ly * Lx}`);
  const Lyb = Math.floor(Ly / sbin);
  const Lxb = Math.floor(Lx / sbin);
  const out = new Float32Array(n * Lyb * Lxb);
  // Two monomorphic copies (V8 optimises element access per array type): ~5x faster than one
  // loop over a Uint8Array | Float32Array union.
  if (src instanceof Uint8Array) binU8(src, out, n, Ly, Lx, sbin, Lyb, Lxb);
  else binF32(src, out, n, Ly, Lx, sbin, Lyb, Lxb);
  return { frames: out, Ly: Lyb, Lx: Lxb };
}

/**
 * sbin = 4 with rows of whole 32-bit words (Lx % 4 = 0): the 4 bytes of a block row are one word, summed
 * two at a time in 16-bit lanes (SWAR: (w & 0x00ff00ff) + ((w >>> 8) & 0x00ff00ff), at most 2040
 * per lane over 4 rows), ~3x faster than byte loads. Integer sums, so the result is identical.
 */
function binU8By4Words(src: Uint32Array, out: Float32Array, n: number, Ly: number, Lx: number, Lyb: number, Lxb: number): void {
  const W = Lx >> 2;
  for (let t = 0; t < n; t++) {
    for (let yb = 0; yb < Lyb; yb++) {
      const r0 = (t * Ly + yb * 4) * W;
      const r1 = r0 + W;
      const r2 = r1 + W;
      const r3 = r2 + W;
      const o = (t * Lyb + yb) * Lxb;
      for (let xb = 0; xb < Lxb; xb++) {
        const a = src[r0 + xb];
        const b = src[r1 + xb];
        const c = src[r2 + xb];
        const d = src[r3 + xb];
        const s =
          (a & 0x00ff00ff) + ((a >>> 8) & 0x00ff00ff) + (b & 0x00ff00ff) + ((b >>> 8) & 0x00ff00ff) +
          (c & 0x00ff00ff) + ((c >>> 8) & 0x00ff00ff) + (d & 0x00ff00ff) + ((d >>> 8) & 0x00ff00ff);
        out[o + xb] = ((s & 0xffff) + (s >>> 16)) * 0.0625;
      }
    }
  }
}

function binU8(src: Uint8Array, out: Float32Array, n: number, Ly: number, Lx: number, sbin: number, Lyb: number, Lxb: number): void {
  if (sbin === 4 && Lx % 4 === 0 && src.byteOffset % 4 === 0) {
    binU8By4Words(new Uint32Array(src.buffer, src.byteOffset, src.length >> 2), out, n, Ly, Lx, Lyb, Lxb);
    return;
  }
  const acc = new Float64Array(Lxb);
  const scale = 1 / (sbin * sbin);
  for (let t = 0; t < n; t++) {
    for (let yb = 0; yb < Lyb; yb++) {
      acc.fill(0);
      for (let dy = 0; dy < sbin; dy++) {
        const p0 = (t * Ly + yb * sbin + dy) * Lx;
        if (sbin === 4) {
          for (let xb = 0, p = p0; xb < Lxb; xb++, p += 4) acc[xb] += src[p] + src[p + 1] + src[p + 2] + src[p + 3];
        } else if (sbin === 2) {
          for (let xb = 0, p = p0; xb < Lxb; xb++, p += 2) acc[xb] += src[p] + src[p + 1];
        } else {
          let p = p0;
          for (let xb = 0; xb < Lxb; xb++) {
            let s = 0;
            for (let dx = 0; dx < sbin; dx++) s += src[p++];
            acc[xb] += s;
          }
        }
      }
      const o = (t * Lyb + yb) * Lxb;
      for (let xb = 0; xb < Lxb; xb++) out[o + xb] = acc[xb] * scale;
    }
  }
}

function binF32(src: Float32Array, out: Float32Array, n: number, Ly: number, Lx: number, sbin: number, Lyb: number, Lxb: number): void {
  const acc = new Float64Array(Lxb);
  const scale = 1 / (sbin * sbin);
  for (let t = 0; t < n; t++) {
    for (let yb = 0; yb < Lyb; yb++) {
      acc.fill(0);
      for (let dy = 0; dy < sbin; dy++) {
        const p0 = (t * Ly + yb * sbin + dy) * Lx;
        if (sbin === 4) {
          for (let xb = 0, p = p0; xb < Lxb; xb++, p += 4) acc[xb] += src[p] + src[p + 1] + src[p + 2] + src[p + 3];
        } else if (sbin === 2) {
          for (let xb = 0, p = p0; xb < Lxb; xb++, p += 2) acc[xb] += src[p] + src[p + 1];
        } else {
          let p = p0;
          for (let xb = 0; xb < Lxb; xb++) {
            let s = 0;
            for (let dx = 0; dx < sbin; dx++) s += src[p++];
            acc[xb] += s;
          }
        }
      }
      const o = (t * Lyb + yb) * Lxb;
      for (let xb = 0; xb < Lxb; xb++) out[o + xb] = acc[xb] * scale;
    }
  }
}

/** Options of {@link readFramesMulti}: those of readFrames, with one crop per video. */
export interface MultiReadOptions extends Omit<ReadOptions, 'crop' | 'info'> {
  /** One crop for every video, or one per video (undefined entries: whole frame). */
  readonly crop?: Crop | readonly (Crop | undefined)[];
  /**
   * Videos of different lengths: 'equal' (default) throws FormatError naming the odd file;
   * 'shortest' reads the first min(nFrames) frames of each. (Facemap takes the first camera's
   * count and would fail later on a shorter one.)
   */
  readonly lengths?: 'equal' | 'shortest';
  /** probeVideo results, one per file, to skip probing again. */
  readonly infos?: readonly VideoInfo[];
}

/** One chunk of the same frame indices from each video. */
export interface MultiFrameChunk<T extends Float32Array | Uint8Array = Float32Array> {
  /** views[i] holds frames start..start+n-1 of files[i] (its own Ly x Lx). */
  readonly views: FrameChunk<T>[];
  readonly n: number;
  readonly start: number;
}

/**
 * Read several simultaneously recorded videos in lockstep: each yield holds the same frame indices
 * of every video, decoded by one ffmpeg process per video running in parallel.
 * Throws FormatError when frame counts differ (unless lengths = 'shortest'), ParamError for bad
 * options, and whatever readFrames throws for any one video (the other processes are killed).
 */
export function readFramesMulti(files: readonly string[], opts?: MultiReadOptions & { dtype?: 'float32' }): AsyncGenerator<MultiFrameChunk<Float32Array>>;
export function readFramesMulti(files: readonly string[], opts: MultiReadOptions & { dtype: 'uint8' }): AsyncGenerator<MultiFrameChunk<Uint8Array>>;
export function readFramesMulti(files: readonly string[], opts?: MultiReadOptions): AsyncGenerator<MultiFrameChunk<Float32Array | Uint8Array>>;
export async function* readFramesMulti(
  files: readonly string[],
  opts: MultiReadOptions = {},
): AsyncGenerator<MultiFrameChunk<Float32Array | Uint8Array>> {
  if (files.length === 0) throw new ParamError('files', [], 'at least one video file');
  const crops = Array.isArray(opts.crop) ? (opts.crop as readonly (Crop | undefined)[]) : files.map(() => opts.crop as Crop | undefined);
  if (crops.length !== files.length) throw new ParamError('crop', `${crops.length} crops`, `one per file (${files.length})`);
  if (opts.infos && opts.infos.length !== files.length) throw new ParamError('infos', `${opts.infos.length} infos`, `one per file (${files.length})`);
  const lengths = opts.lengths ?? 'equal';
  if (lengths !== 'equal' && lengths !== 'shortest') throw new ParamError('lengths', lengths, '"equal" or "shortest"');
  const infos = opts.infos ?? (await Promise.all(files.map((f) => probeVideo(f, { allowTruncated: opts.allowTruncated }))));
  const nMin = Math.min(...infos.map((i) => i.nFrames));
  if (lengths === 'equal') {
    const odd = infos.findIndex((i) => i.nFrames !== infos[0].nFrames);
    if (odd >= 0) {
      throw new FormatError(
        files[odd],
        `has ${infos[odd].nFrames} frames but ${files[0]} has ${infos[0].nFrames}: videos read in lockstep ` +
          `must have equal frame counts (pass lengths: 'shortest' to read the first ${nMin} frames of each)`,
      );
    }
  }
  const plans = files.map((_, i) => plan({ ...opts, crop: crops[i] }, infos[i], nMin));
  const gens = files.map((f, i) => streamFrames(f, infos[i], plans[i]));
  try {
    for (;;) {
      const steps = await Promise.all(gens.map((g) => g.next()));
      if (steps.every((s) => s.done)) return;
      if (steps.some((s) => s.done)) {
        throw new FormatError(files[steps.findIndex((s) => s.done)], 'ended before the other videos (internal lockstep error)');
      }
      const views = steps.map((s) => s.value as FrameChunk<Float32Array | Uint8Array>);
      yield { views, n: views[0].n, start: views[0].start };
    }
  } finally {
    await Promise.allSettled(gens.map((g) => g.return(undefined)));
  }
}

/** Options of {@link readFrame}. */
export type ReadFrameOptions = Pick<ReadOptions, 'crop' | 'sbin' | 'dtype' | 'info' | 'allowTruncated'>;

/** One frame: Ly x Lx grey levels, row-major. */
export interface Frame<T extends Float32Array | Uint8Array = Float32Array> {
  readonly frame: T;
  readonly index: number;
  readonly Ly: number;
  readonly Lx: number;
}

/**
 * Frame `index` (0-based) of `file`, for notebooks and GUIs; each call starts ffmpeg and probes
 * unless `opts.info` is given, so use readFrames for more than a few frames.
 */
export function readFrame(file: string, index: number, opts?: ReadFrameOptions & { dtype?: 'float32' }): Promise<Frame<Float32Array>>;
export function readFrame(file: string, index: number, opts: ReadFrameOptions & { dtype: 'uint8' }): Promise<Frame<Uint8Array>>;
export function readFrame(file: string, index: number, opts?: ReadFrameOptions): Promise<Frame<Float32Array | Uint8Array>>;
export async function readFrame(file: string, index: number, opts: ReadFrameOptions = {}): Promise<Frame<Float32Array | Uint8Array>> {
  for await (const c of readFrames(file, { ...opts, start: index, count: 1, chunk: 1 })) {
    return { frame: c.frames, index, Ly: c.Ly, Lx: c.Lx };
  }
  throw new FormatError(file, `no frame ${index} was decoded`);
}
