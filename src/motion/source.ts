/**
 * Where motion processing gets its frames: one or several simultaneously recorded videos read in
 * lockstep through ffmpeg, or arrays in memory (tests, notebooks). Frames come unbinned, as grey
 * levels 0..255, one `n x Ly x Lx` array per video (row-major).
 */
import { ParamError, ShapeError } from '../errors';
import { probeVideo, readFramesMulti, type VideoInfo } from '../io/video';
import type { FrameSize } from './rois';

/** One block of the same frames of every video. */
export interface SourceChunk {
  /** Index of the first frame. */
  readonly start: number;
  readonly n: number;
  /** views[v]: n x Ly_v x Lx_v grey levels of video v, row-major. */
  readonly views: (Uint8Array | Float32Array)[];
}

export interface FrameSource {
  readonly nFrames: number;
  /** Frame size of each video (unbinned pixels). */
  readonly sizes: readonly FrameSize[];
  /** A name per video (file paths for videos). */
  readonly names: readonly string[];
  /** Streams frames start .. start + count - 1 in blocks of at most `chunk` frames. */
  read(start: number, count: number, chunk: number): AsyncGenerator<SourceChunk>;
}

/**
 * Several simultaneously recorded videos (equal frame counts), read in lockstep.
 * Probes each file once.
 */
export async function videoSource(files: readonly string[]): Promise<FrameSource> {
  if (files.length === 0) throw new ParamError('videos', [], 'at least one video file');
  const infos: VideoInfo[] = await Promise.all(files.map((f) => probeVideo(f)));
  const nFrames = infos[0].nFrames;
  return {
    nFrames,
    sizes: infos.map((i) => ({ Ly: i.height, Lx: i.width })),
    names: [...files],
    async *read(start, count, chunk) {
      for await (const c of readFramesMulti(files, { start, count, chunk, dtype: 'uint8', infos })) {
        yield { start: c.start, n: c.n, views: c.views.map((v) => v.frames) };
      }
    },
  };
}

/** Frames held in memory: one `nFrames x Ly x Lx` array per video (grey levels, row-major). */
export function arraySource(videos: readonly { frames: Uint8Array | Float32Array; Ly: number; Lx: number }[], names?: readonly string[]): FrameSource {
  if (videos.length === 0) throw new ParamError('videos', [], 'at least one array of frames');
  const nFrames = videos[0].frames.length / (videos[0].Ly * videos[0].Lx);
  videos.forEach((v, i) => {
    const n = v.frames.length / (v.Ly * v.Lx);
    if (!Number.isInteger(n) || n !== nFrames || n < 1) {
      throw new ShapeError(`videos[${i}]: ${v.frames.length} values are not ${nFrames} frames of ${v.Ly} x ${v.Lx}`);
    }
  });
  return {
    nFrames,
    sizes: videos.map((v) => ({ Ly: v.Ly, Lx: v.Lx })),
    names: names ? [...names] : videos.map((_, i) => `array${i}`),
    async *read(start, count, chunk) {
      for (let s = start; s < start + count; s += chunk) {
        const n = Math.min(chunk, start + count - s);
        yield { start: s, n, views: videos.map((v) => v.frames.subarray(s * v.Ly * v.Lx, (s + n) * v.Ly * v.Lx)) };
      }
    },
  };
}
