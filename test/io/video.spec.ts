import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineError, FormatError, ParamError } from '../../src/errors';
import {
  binFrames,
  locateFfmpeg,
  probeVideo,
  readFrame,
  readFrames,
  readFramesMulti,
  type VideoInfo,
} from '../../src/io/video';
import { sharedOrSkip } from '../helpers/shared';

/** Grey level of pixel (y, x) of frame t in every synthetic video: each frame encodes its index. */
const pix = (t: number, y: number, x: number): number => (t * 37 + y * 11 + x * 3) % 256;
const LY = 30;
const LX = 44;
const N = 40;

function render(n: number, Ly: number, Lx: number): Buffer {
  const b = Buffer.alloc(n * Ly * Lx);
  for (let t = 0; t < n; t++) for (let y = 0; y < Ly; y++) for (let x = 0; x < Lx; x++) b[(t * Ly + y) * Lx + x] = pix(t, y, x);
  return b;
}

function ffmpegSync(args: string[], input?: Buffer): void {
  const r = spawnSync(locateFfmpeg().ffmpeg, ['-v', 'error', '-y', ...args], { input });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

/** Encode n rendered frames losslessly; `codec` = extra output args. */
function makeVideo(file: string, n: number, codec: string[]): string {
  ffmpegSync(['-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${LX}x${LY}`, '-r', '30', '-i', 'pipe:0', ...codec, file], render(n, LY, LX));
  return file;
}

/** Pids of this process's child ffmpeg processes, zombies included (Linux /proc). */
function ffmpegChildren(): number[] {
  if (!fs.existsSync('/proc/self/stat')) return [];
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(fs.readFileSync(`/proc/${d}/stat`, 'utf8'));
      if (m && Number(m[2]) === process.pid && m[1].startsWith('ffmpeg')) pids.push(Number(d));
    } catch {
      // the process ended between readdir and read
    }
  }
  return pids;
}

async function collect(gen: AsyncGenerator<{ frames: Float32Array | Uint8Array; n: number; start: number }>) {
  const chunks: { n: number; start: number }[] = [];
  const parts: number[] = [];
  for await (const c of gen) {
    chunks.push({ n: c.n, start: c.start });
    for (const v of c.frames) parts.push(v);
  }
  return { chunks, values: parts };
}

async function withEnv<T>(name: string, value: string, f: () => Promise<T>): Promise<T> {
  const old = process.env[name];
  process.env[name] = value;
  try {
    return await f();
  } finally {
    if (old === undefined) delete process.env[name];
    else process.env[name] = old;
  }
}

describe('io/video', () => {
  let dir: string;
  let mkv: string; // ffv1, grey, 40 frames
  let mkvShort: string; // ffv1, grey, 35 frames
  let mp4: string; // x264 lossless full-range yuvj420p, GOP 12, B-frames, moov first
  let mp4yuv: string; // x264 lossless yuv420p (TV range)
  let long: string; // 300 frames of 320x240

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-video-'));
    mkv = makeVideo(path.join(dir, 'a.mkv'), N, ['-c:v', 'ffv1']);
    mkvShort = makeVideo(path.join(dir, 'short.mkv'), 35, ['-c:v', 'ffv1']);
    mp4 = makeVideo(path.join(dir, 'b.mp4'), N, [
      '-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuvj420p', '-g', '12', '-bf', '3', '-movflags', '+faststart',
    ]);
    mp4yuv = makeVideo(path.join(dir, 'yuv.mp4'), N, ['-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv420p']);
    long = path.join(dir, 'long.mkv');
    ffmpegSync(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-frames:v', '300', '-c:v', 'ffv1', long]);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  afterEach(() => assert.deepEqual(ffmpegChildren(), [], 'no ffmpeg child process may outlive a call'));

  describe('locateFfmpeg', () => {
    it('reports the ffmpeg used, its version and its source', () => {
      const f = locateFfmpeg();
      assert.ok(fs.existsSync(f.ffmpeg), f.ffmpeg);
      assert.match(f.version, /\S/);
      assert.ok(['env', 'path', 'npm'].includes(f.source));
    });

    it('throws EngineError naming FACEMAP_FFMPEG when it points at no ffmpeg', async () => {
      await withEnv('FACEMAP_FFMPEG', path.join(dir, 'no-such-ffmpeg'), async () => {
        assert.throws(() => locateFfmpeg(), (e: unknown) => e instanceof EngineError && /FACEMAP_FFMPEG/.test(e.message));
      });
    });
  });

  describe('probeVideo', () => {
    it('reads frame count, fps, size, duration and codec', async () => {
      const a = await probeVideo(mkv);
      assert.equal(a.nFrames, N);
      assert.equal(a.fps, 30);
      assert.equal(a.width, LX);
      assert.equal(a.height, LY);
      assert.equal(a.codec, 'ffv1');
      assert.ok(a.duration !== null && Math.abs(a.duration - N / 30) < 0.05, String(a.duration));
      const b = await probeVideo(mp4);
      assert.equal(b.nFrames, N);
      assert.equal(b.codec, 'h264');
      assert.equal(b.pixFmt, 'yuvj420p');
      assert.equal((await probeVideo(mp4yuv)).pixFmt, 'yuv420p');
    });

    it('probes a file again once it changes (the per-process probe cache is keyed by size and mtime)', async () => {
      const f = path.join(dir, 'reprobe.mkv');
      makeVideo(f, 12, ['-c:v', 'ffv1']);
      assert.equal((await probeVideo(f)).nFrames, 12);
      assert.equal((await probeVideo(f)).nFrames, 12);
      makeVideo(f, 17, ['-c:v', 'ffv1']);
      assert.equal((await probeVideo(f)).nFrames, 17);
    });

    it('gives the same answer with ffmpeg alone as with ffprobe', async function () {
      if (!locateFfmpeg().ffprobe) this.skip();
      for (const f of [mkv, mp4, mp4yuv]) {
        const viaProbe = await probeVideo(f, { prober: 'ffprobe' });
        const viaFfmpeg = await probeVideo(f, { prober: 'ffmpeg' });
        for (const k of ['nFrames', 'fps', 'width', 'height', 'codec', 'pixFmt'] as const) {
          assert.equal(viaFfmpeg[k], viaProbe[k], `${f} ${k}`);
        }
      }
    });

    it('reads a file whose name looks like an ffmpeg protocol (a colon in it)', async () => {
      const odd = path.join(dir, 'cam:1.mkv');
      fs.copyFileSync(mkv, odd);
      const cwd = process.cwd();
      process.chdir(dir); // "cam:1.mkv" as a bare relative name is what ffmpeg mistakes for a protocol
      try {
        assert.equal((await probeVideo('cam:1.mkv')).nFrames, N);
        assert.equal((await probeVideo('cam:1.mkv', { prober: 'ffmpeg' })).nFrames, N);
        assert.equal((await readFrame('cam:1.mkv', 3)).frame[0], pix(3, 0, 0));
      } finally {
        process.chdir(cwd);
      }
    });

    it('detects packets lost to damage in a Matroska file (no declared count) from its duration', async () => {
      const bad = path.join(dir, 'damaged.mkv');
      const bytes = Buffer.from(fs.readFileSync(long));
      bytes.fill(0, bytes.length >> 1, (bytes.length >> 1) + 20000);
      fs.writeFileSync(bad, bytes);
      for (const prober of ['auto', 'ffmpeg'] as const) {
        await assert.rejects(
          probeVideo(bad, { prober }),
          (e: unknown) => e instanceof FormatError && e.file === bad && /lasts 10 s at 30 fps \(about 300 frames\) but reading stopped at frame 29\d/.test(e.message),
          prober,
        );
      }
      const info = await probeVideo(bad, { allowTruncated: true });
      assert.ok(info.nFrames >= 290 && info.nFrames < 300, String(info.nFrames));
      assert.equal((await probeVideo(long)).nFrames, 300);
    });

    it('throws FormatError naming the file for a missing, empty or non-video file', async () => {
      const missing = path.join(dir, 'missing.mp4');
      const empty = path.join(dir, 'empty.mp4');
      const text = path.join(dir, 'text.mp4');
      fs.writeFileSync(empty, '');
      fs.writeFileSync(text, 'this is not a video\n'.repeat(50));
      const cases: [string, RegExp][] = [
        [missing, /not found/],
        [empty, /empty file/],
        [text, /not a readable video/],
      ];
      for (const prober of ['auto', 'ffmpeg'] as const) {
        for (const [f, re] of cases) {
          await assert.rejects(
            probeVideo(f, { prober }),
            (e: unknown) => e instanceof FormatError && e.file === f && re.test(e.message),
            `${prober} ${f}`,
          );
        }
      }
    });

    it('detects a truncated mp4 and names the frame reached; allowTruncated reads what is there', async () => {
      const cut = path.join(dir, 'cut.mp4');
      const bytes = fs.readFileSync(mp4);
      fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      if (locateFfmpeg().ffprobe) {
        await assert.rejects(
          probeVideo(cut),
          (e: unknown) => e instanceof FormatError && e.file === cut && /truncated.*declares 40 frames.*stopped at frame \d+/.test(e.message),
        );
      }
      await assert.rejects(
        probeVideo(cut, { prober: 'ffmpeg' }),
        (e: unknown) => e instanceof FormatError && /truncated.*lasts 1.33 s at 30 fps \(about 40 frames\).*stopped at frame \d+/.test(e.message),
      );
      await assert.rejects(collect(readFrames(cut)), (e: unknown) => e instanceof FormatError && /truncated/.test(e.message));
      const info = await probeVideo(cut, { allowTruncated: true });
      assert.ok(info.nFrames > 5 && info.nFrames < N, String(info.nFrames));
      const { values } = await collect(readFrames(cut, { allowTruncated: true, dtype: 'uint8', chunk: 8 }));
      assert.equal(values.length, info.nFrames * LY * LX);
      assert.equal(values[(info.nFrames - 1) * LY * LX], pix(info.nFrames - 1, 0, 0));
    });
  });

  describe('readFrames', () => {
    it('streams exact pixels in chunks; the last chunk holds the remainder', async () => {
      const { chunks, values } = await collect(readFrames(mkv, { chunk: 7, dtype: 'uint8' }));
      assert.deepEqual(chunks.map((c) => c.n), [7, 7, 7, 7, 7, 5]);
      assert.deepEqual(chunks.map((c) => c.start), [0, 7, 14, 21, 28, 35]);
      assert.deepEqual(values, [...render(N, LY, LX)]);
    });

    it('float32 frames hold the same grey levels; lossless full-range H.264 is exact', async () => {
      const { values } = await collect(readFrames(mp4, { chunk: 16 }));
      assert.deepEqual(values, [...render(N, LY, LX)]);
    });

    it('TV-range yuv420p comes back in full range, within one grey level of what was encoded', async () => {
      // grey -> yuv420p squeezes 0..255 into 16..235; decoding to grey expands it again (as OpenCV does)
      const { values } = await collect(readFrames(mp4yuv, { chunk: 16, dtype: 'uint8' }));
      const want = render(N, LY, LX);
      assert.equal(values.length, want.length);
      const worst = values.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
      assert.ok(worst <= 1, `largest difference ${worst}`);
    });

    it("equals ffmpeg's format=gray for every luma value, whatever colour range the file declares", async () => {
      // 3 frames of 256 x 16 yuv420p whose luma runs through 0..255 (neutral chroma), stored
      // losslessly with each declared range; frames are read through the luma plane + table
      // (yuv*) or the plane as is (yuvj*, "pc"), and must match swscale's conversion byte for byte.
      const W = 256;
      const H = 16;
      const Y = Buffer.alloc(W * H);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) Y[y * W + x] = (x + 7 * y * (y % 2)) % 256;
      const frame = Buffer.concat([Y, Buffer.alloc((W / 2) * (H / 2) * 2, 128)]);
      const cases: [string, string[], 'tv' | 'pc' | null][] = [
        ['none', [], null],
        ['tv', ['-color_range', 'tv'], 'tv'],
        ['pc', ['-color_range', 'pc'], 'pc'],
        ['j', ['-pix_fmt', 'yuvj420p'], null],
      ];
      for (const [name, args, range] of cases) {
        const f = path.join(dir, `ramp-${name}.mkv`);
        ffmpegSync(['-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${W}x${H}`, '-r', '10', '-i', 'pipe:0', '-c:v', 'ffv1', ...args, f], Buffer.concat([frame, frame, frame]));
        for (const prober of ['ffprobe', 'ffmpeg'] as const) {
          if (prober === 'ffprobe' && !locateFfmpeg().ffprobe) continue;
          const info = await probeVideo(f, { prober });
          if (name !== 'j') assert.equal(info.colorRange, range, `${name}: colour range through ${prober}`);
        }
        const r = spawnSync(locateFfmpeg().ffmpeg, ['-v', 'error', '-i', f, '-vf', 'format=gray', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { maxBuffer: 1 << 24 });
        assert.equal(r.status, 0, String(r.stderr));
        const { values } = await collect(readFrames(f, { chunk: 2, dtype: 'uint8' }));
        assert.equal(values.length, 3 * W * H);
        const bad = values.findIndex((v, i) => v !== r.stdout[i]);
        assert.equal(bad, -1, `${name}: pixel ${bad} is ${values[bad]}, format=gray gives ${r.stdout[bad]}`);
      }
    });

    it('crops (any pixel offset) and bins as Facemap does, dropping remainder rows and columns', async () => {
      const crop = { x0: 3, x1: 40, y0: 5, y1: 27 }; // 22 x 37
      const sbin = 3; // -> 7 x 12, dropping 1 row and 1 column
      const seen: { Ly: number; Lx: number }[] = [];
      const got: number[] = [];
      for await (const c of readFrames(mp4, { crop, sbin, chunk: 9, start: 2, count: 11 })) {
        seen.push({ Ly: c.Ly, Lx: c.Lx });
        got.push(...c.frames);
      }
      assert.deepEqual(seen[0], { Ly: 7, Lx: 12 });
      const want: number[] = [];
      for (let t = 2; t < 13; t++) {
        for (let yb = 0; yb < 7; yb++) {
          for (let xb = 0; xb < 12; xb++) {
            let s = 0;
            for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) s += pix(t, 5 + yb * 3 + dy, 3 + xb * 3 + dx);
            want.push(s / 9);
          }
        }
      }
      assert.equal(got.length, want.length);
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-4, `element ${i}: ${v} vs ${want[i]}`));
    });

    it('binFrames averages blocks and drops the remainder', () => {
      const src = Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => i);
      const b = binFrames(src, 2, 3, 5, 2);
      assert.deepEqual({ Ly: b.Ly, Lx: b.Lx }, { Ly: 1, Lx: 2 });
      assert.deepEqual([...b.frames], [3, 5, 18, 20]);
    });

    it('binFrames gives the same means from uint8 (word-aligned or not) as from float32 frames', () => {
      // sbin 4 on word-aligned uint8 rows sums 4 bytes per 32-bit word; every path must agree exactly
      for (const [Ly, Lx, sbin] of [[22, 36, 4], [21, 38, 4], [13, 16, 2], [12, 15, 3]]) {
        const n = 3;
        const raw = Uint8Array.from({ length: n * Ly * Lx + 4 }, (_, i) => (i % 53 === 0 ? 255 : (i * 7919 + (i >> 5)) % 256));
        const want = binFrames(Float32Array.from(raw.subarray(0, n * Ly * Lx)), n, Ly, Lx, sbin).frames;
        for (const off of [0, 1, 4]) {
          const got = binFrames(raw.subarray(off, off + n * Ly * Lx), n, Ly, Lx, sbin).frames;
          const ref = off === 0 ? want : binFrames(Float32Array.from(raw.subarray(off, off + n * Ly * Lx)), n, Ly, Lx, sbin).frames;
          assert.deepEqual([...got], [...ref], `${Ly} x ${Lx}, sbin ${sbin}, byte offset ${off}`);
        }
      }
    });

    it('seeks frame-accurately (H.264 with B-frames and a GOP of 12) and counts', async () => {
      const info = await probeVideo(mp4);
      for (const start of [1, 11, 12, 13, 23, 35]) {
        const { values, chunks } = await collect(readFrames(mp4, { info, start, count: 5, chunk: 2, dtype: 'uint8' }));
        assert.deepEqual(chunks.map((c) => c.start), [start, start + 2, start + 4]);
        for (let i = 0; i < 5; i++) assert.equal(values[i * LY * LX], pix(start + i, 0, 0), `frame ${start + i}`);
      }
    });

    it('readFrame returns one frame by index, also through the npm ffmpeg without ffprobe', async () => {
      const f = await readFrame(mp4, 39, { dtype: 'uint8' });
      assert.equal(f.index, 39);
      assert.deepEqual([...f.frame], [...render(N, LY, LX).subarray(39 * LY * LX)]);
      const npmBin = path.resolve(__dirname, '../../../node_modules/@ffmpeg-installer/linux-x64/ffmpeg');
      if (!fs.existsSync(npmBin)) return;
      await withEnv('FACEMAP_FFMPEG', npmBin, async () => {
        assert.equal(locateFfmpeg().ffprobe, null);
        const info = await probeVideo(mp4);
        assert.equal(info.prober, 'ffmpeg');
        assert.equal(info.nFrames, N);
        const g = await readFrame(mp4, 17, { info });
        assert.equal(g.frame[0], pix(17, 0, 0));
      });
    });

    it('throws FormatError naming the file and the frame reached when the stream ends early', async () => {
      const info = await probeVideo(mkv);
      const liar: VideoInfo = { ...info, nFrames: N + 5 };
      await assert.rejects(
        collect(readFrames(mkv, { info: liar, chunk: 16 })),
        (e: unknown) => e instanceof FormatError && e.file === mkv && /ended at frame 40, expected frames 0\.\.44/.test(e.message),
      );
    });

    it('rejects bad options with ParamError naming the field', async () => {
      const bad: [object, string][] = [
        [{ chunk: 0 }, 'chunk'],
        [{ sbin: 1.5 }, 'sbin'],
        [{ start: N }, 'start'],
        [{ start: 30, count: 11 }, 'count'],
        [{ crop: { x0: 0, x1: LX + 1, y0: 0, y1: LY } }, 'crop'],
        [{ crop: { x0: 5, x1: 5, y0: 0, y1: LY } }, 'crop'],
        [{ sbin: 31 }, 'sbin'],
        [{ sbin: 2, dtype: 'uint8' }, 'dtype'],
      ];
      const info = await probeVideo(mkv);
      for (const [opts, field] of bad) {
        await assert.rejects(collect(readFrames(mkv, { ...opts, info })), (e: unknown) => e instanceof ParamError && e.field === field, field);
      }
    });

    it('kills ffmpeg when the consumer breaks early, with memory bounded by the chunk', async function () {
      if (!fs.existsSync('/proc/self/io')) this.skip(); // watches the child through Linux /proc
      let chunks = 0;
      for await (const c of readFrames(long, { chunk: 10, dtype: 'uint8' })) {
        assert.equal(c.frames.length, 10 * 240 * 320);
        // ffmpeg decodes these 300 frames (23 MB) in about half a second when nothing holds it back;
        // while the consumer dawdles it must stay blocked on the full pipe, a few chunks ahead at most.
        await new Promise((r) => setTimeout(r, 800));
        const pids = ffmpegChildren();
        assert.equal(pids.length, 1, 'ffmpeg blocked, not finished, while the consumer holds a chunk');
        const written = Number(/wchar: (\d+)/.exec(fs.readFileSync(`/proc/${pids[0]}/io`, 'utf8'))?.[1]);
        assert.ok(written < (chunks + 3) * c.frames.length, `ffmpeg wrote ${written} bytes ahead of the consumer`);
        chunks += 1;
        if (chunks === 2) break;
      }
      assert.equal(chunks, 2);
    });
  });

  describe('readFramesMulti', () => {
    it('yields the same frame indices from each video, with per-video crops', async () => {
      const crop = [undefined, { x0: 10, x1: 20, y0: 4, y1: 8 }];
      let next = 0;
      for await (const m of readFramesMulti([mkv, mp4], { chunk: 9, start: 3, crop, dtype: 'uint8' })) {
        assert.equal(m.start, 3 + next);
        assert.equal(m.views.length, 2);
        assert.deepEqual([m.views[0].Ly, m.views[0].Lx, m.views[1].Ly, m.views[1].Lx], [LY, LX, 4, 10]);
        for (let i = 0; i < m.n; i++) {
          const t = m.start + i;
          assert.equal(m.views[0].frames[i * LY * LX + 2 * LX + 1], pix(t, 2, 1));
          assert.equal(m.views[1].frames[i * 40 + 1 * 10 + 2], pix(t, 5, 12));
        }
        next += m.n;
      }
      assert.equal(next, N - 3);
    });

    it('throws FormatError naming the odd file when frame counts differ, unless lengths = shortest', async () => {
      await assert.rejects(
        collect(readFramesMulti([mkv, mkvShort]) as AsyncGenerator<{ frames: Float32Array; n: number; start: number }>),
        (e: unknown) => e instanceof FormatError && e.file === mkvShort && /has 35 frames but .* has 40/.test(e.message),
      );
      let total = 0;
      for await (const m of readFramesMulti([mkv, mkvShort], { lengths: 'shortest', chunk: 16 })) total += m.n;
      assert.equal(total, 35);
    });

    it('stops every ffmpeg when the consumer breaks early', async () => {
      for await (const m of readFramesMulti([long, long], { chunk: 5, sbin: 4 })) {
        assert.equal(m.views[1].Ly, 60);
        break;
      }
    });
  });

  describe('real data: mirror-mouse test_vid.mp4', () => {
    let vid: string;
    before(function () {
      vid = sharedOrSkip(this, 'mirror-mouse', 'videos', 'test_vid.mp4');
    });

    it('probes 994 frames of 396 x 406 H.264 at 250 fps', async () => {
      const info = await probeVideo(vid);
      assert.deepEqual(
        [info.nFrames, info.fps, info.width, info.height, info.codec],
        [994, 250, 396, 406, 'h264'],
      );
      assert.ok(info.duration !== null && Math.abs(info.duration - 3.976) < 0.01);
    });

    it('streams all 994 frames binned, and readFrame(i) equals frame i of the stream', async () => {
      const info = await probeVideo(vid);
      const wanted = new Map<number, Float32Array>([[1, new Float32Array()], [499, new Float32Array()], [993, new Float32Array()]]);
      let n = 0;
      for await (const c of readFrames(vid, { info, chunk: 128, sbin: 4 })) {
        assert.deepEqual([c.Ly, c.Lx], [101, 99]);
        for (const i of wanted.keys()) {
          if (i >= c.start && i < c.start + c.n) wanted.set(i, c.frames.slice((i - c.start) * c.Ly * c.Lx, (i - c.start + 1) * c.Ly * c.Lx));
        }
        n += c.n;
      }
      assert.equal(n, 994);
      for (const [i, frame] of wanted) {
        const f = await readFrame(vid, i, { info, sbin: 4 });
        assert.equal(f.frame.length, 101 * 99);
        assert.deepEqual(f.frame, frame, `frame ${i}`);
      }
    });

    it("decodes the same grey levels as ffmpeg's format=gray (luma plane + range table)", async () => {
      const n = 60;
      const r = spawnSync(locateFfmpeg().ffmpeg, ['-v', 'error', '-i', vid, '-frames:v', String(n), '-vf', 'format=gray', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { maxBuffer: 1 << 26 });
      assert.equal(r.status, 0, String(r.stderr));
      const { values } = await collect(readFrames(vid, { count: n, chunk: 25, dtype: 'uint8' }));
      assert.equal(values.length, r.stdout.length);
      const bad = values.findIndex((v, i) => v !== r.stdout[i]);
      assert.equal(bad, -1, `pixel ${bad}: ${values[bad]} vs ${r.stdout[bad]}`);
    });

    it('stops ffmpeg when the consumer breaks out of a long video', async () => {
      for await (const c of readFrames(vid, { chunk: 16, dtype: 'uint8' })) {
        assert.equal(c.frames.length, 16 * 406 * 396);
        break;
      }
    });
  });
});
