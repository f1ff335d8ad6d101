/**
 * A labelled video: the frames of a video with its tracked keypoints drawn on them, one colour per
 * keypoint (dots whose opacity follows the likelihood; keypoints below `minLikelihood` or NaN are
 * not drawn). Frames stream through (ffmpeg decode -> draw -> ffmpeg encode), so memory holds one
 * chunk of frames; the output appears only when complete.
 */
import * as path from 'node:path';
import { InterruptedError, ParamError, ShapeError } from '../errors';
import { openVideoWriter } from '../io/video-write';
import { probeVideo, readFrames } from '../io/video';
import { keypointColors } from '../plot/figures';
import { progressBar } from '../util/progress';
import { readTraces } from './labels/registry';
import type { KeypointTraces } from './labels/types';

/** Options of {@link labelVideo}. */
export interface LabelVideoOptions {
  /** Dot radius in pixels (default: 1% of the frame's larger side, at least 2). */
  radius?: number;
  /** Keypoints with a lower likelihood are not drawn (default 0: all). */
  minLikelihood?: number;
  /** First frame and number of frames (default: the whole video). */
  start?: number;
  count?: number;
  /** Keypoint names to draw (default all). */
  keypoints?: string[];
  quiet?: boolean;
  signal?: AbortSignal;
}

/**
 * Draws a filled disc of `color` at (cx, cy) on an RGB frame (width x height x 3), blended with
 * opacity `alpha` and an anti-aliased edge.
 */
export function drawDisc(rgb: Uint8Array, width: number, height: number, cx: number, cy: number, radius: number, color: readonly number[], alpha = 1): void {
  const x0 = Math.max(0, Math.floor(cx - radius - 1));
  const x1 = Math.min(width - 1, Math.ceil(cx + radius + 1));
  const y0 = Math.max(0, Math.floor(cy - radius - 1));
  const y1 = Math.min(height - 1, Math.ceil(cy + radius + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const d = Math.hypot(x - cx, y - cy);
      const cover = Math.min(1, Math.max(0, radius + 0.5 - d)) * alpha;
      if (cover <= 0) continue;
      const p = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) rgb[p + c] = Math.round(rgb[p + c] + (color[c] - rgb[p + c]) * cover);
    }
  }
}

/**
 * Writes `out` (e.g. .mp4): `video`'s frames with the keypoints of `keypoints` (a trace file in any
 * format readTraces knows, or traces in memory) drawn on them. The traces must have as many frames
 * as the video. Returns the frames written.
 */
export async function labelVideo(video: string, keypoints: string | KeypointTraces, out: string, options: LabelVideoOptions = {}): Promise<{ frames: number; codec: string }> {
  const traces = typeof keypoints === 'string' ? await readTraces(keypoints) : keypoints;
  const info = await probeVideo(video);
  if (traces.nFrames !== info.nFrames) {
    throw new ShapeError(
      `${typeof keypoints === 'string' ? keypoints : 'the traces'} hold ${traces.nFrames} frames but ${video} has ${info.nFrames}: were they tracked from this video?`,
    );
  }
  const { width: W, height: H } = info;
  const radius = options.radius ?? Math.max(2, Math.round(0.01 * Math.max(W, H)));
  if (!(radius > 0)) throw new ParamError('radius', radius, 'a number > 0');
  const minL = options.minLikelihood ?? 0;
  const start = options.start ?? 0;
  const count = options.count ?? info.nFrames - start;
  const K = traces.names.length;
  const pick = options.keypoints ?? traces.names;
  const ks = pick.map((name) => {
    const k = traces.names.indexOf(name);
    if (k < 0) throw new ParamError('keypoints', name, `one of ${traces.names.join(', ')}`);
    return k;
  });
  const colors = keypointColors(K);
  const writer = openVideoWriter(out, { width: W, height: H, fps: info.fps, pixFmt: 'rgb24' });
  const bar = progressBar(`label-video ${path.basename(out)}`, 'frames', { quiet: options.quiet });
  let done = 0;
  try {
    for await (const c of readFrames(video, { info, start, count, chunk: 8, dtype: 'uint8' })) {
      if (options.signal?.aborted) throw new InterruptedError(`${out}: interrupted at frame ${c.start}; nothing written`);
      const rgb = new Uint8Array(c.n * W * H * 3);
      for (let i = 0; i < c.n * W * H; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = c.frames[i];
      for (let i = 0; i < c.n; i++) {
        const t = c.start + i;
        const frame = rgb.subarray(i * W * H * 3, (i + 1) * W * H * 3);
        for (const k of ks) {
          const x = traces.x[t * K + k];
          const y = traces.y[t * K + k];
          const l = traces.likelihood[t * K + k];
          if (Number.isNaN(x) || Number.isNaN(y) || !(l >= minL || Number.isNaN(l))) continue;
          drawDisc(frame, W, H, x, y, radius, colors[k], Number.isNaN(l) ? 1 : 0.35 + 0.65 * Math.min(1, Math.max(0, l)));
        }
      }
      await writer.write(rgb);
      done += c.n;
      bar.update(done, count);
    }
    await writer.close();
  } catch (e) {
    await writer.abort();
    throw e;
  }
  bar.done(`${done} frames`);
  return { frames: done, codec: writer.codec };
}
