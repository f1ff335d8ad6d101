/**
 * Decode speed of readFrames on one video (default: the mirror-mouse test video in ../shared/data).
 * Usage: node dist/bench/video.js [video] [chunk] [sbin]
 * Prints one JSON line: frames/s for uint8 frames, float32 frames, and float32 binned frames, and,
 * as the ceiling, ffmpeg decoding to /dev/null by itself.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { locateFfmpeg, probeVideo, readFrames, type ReadOptions } from '../src/io/video';

async function timeRead(file: string, opts: ReadOptions): Promise<number> {
  const t0 = process.hrtime.bigint();
  let n = 0;
  for await (const c of readFrames(file, opts)) n += c.n;
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function main(): Promise<void> {
  const file = process.argv[2] ?? path.resolve(__dirname, '../../../shared/data/mirror-mouse/videos/test_vid.mp4');
  const chunk = Number(process.argv[3] ?? 100);
  const sbin = Number(process.argv[4] ?? 4);
  const tools = locateFfmpeg();
  const info = await probeVideo(file);
  const t0 = process.hrtime.bigint();
  spawnSync(tools.ffmpeg, ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gray', '-y', '/dev/null']);
  const ffmpegAlone = info.nFrames / (Number(process.hrtime.bigint() - t0) / 1e9);
  const uint8 = await timeRead(file, { info, chunk, dtype: 'uint8' });
  const float32 = await timeRead(file, { info, chunk });
  const binned = await timeRead(file, { info, chunk, sbin });
  const r = (x: number) => Math.round(x);
  console.log(JSON.stringify({
    bench: 'video-decode', file: path.basename(file), nFrames: info.nFrames, Ly: info.height, Lx: info.width,
    codec: info.codec, chunk, sbin, ffmpeg: tools.version, ffmpegSource: tools.source,
    fps: { ffmpegAlone: r(ffmpegAlone), uint8: r(uint8), float32: r(float32), [`float32_sbin${sbin}`]: r(binned) },
  }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
