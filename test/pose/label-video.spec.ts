import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ParamError, ShapeError } from '../../src/errors';
import { locateFfmpeg } from '../../src/io/ffmpeg';
import { probeVideo } from '../../src/io/video';
import { drawDisc, labelVideo, writePoseH5 } from '../../src/pose';
import { keypointColors } from '../../src/plot';
import { tempDir } from './pose-data';

const W = 64;
const H = 48;
const N = 12;

/** Frame t of the output decoded to RGB (rows of W*3 bytes). */
function rgbFrame(file: string, t: number): Buffer {
  const r = spawnSync(locateFfmpeg().ffmpeg, ['-v', 'error', '-i', file, '-vf', `select=eq(n\\,${t})`, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(String(r.stderr));
  return r.stdout;
}

describe('pose/label-video', () => {
  let dir: string;
  let video: string;
  before(() => {
    dir = tempDir('labelvid');
    video = path.join(dir, 'grey.mp4');
    // A flat mid-grey video: any colour in the output comes from the drawing.
    const r = spawnSync(locateFfmpeg().ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=gray:size=${W}x${H}:rate=10`, '-frames:v', String(N), '-pix_fmt', 'yuv420p', video]);
    assert.equal(r.status, 0, String(r.stderr));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('drawDisc fills a disc with an anti-aliased edge, clipped at the frame border', () => {
    const rgb = new Uint8Array(10 * 10 * 3);
    drawDisc(rgb, 10, 10, 0, 5, 2, [255, 0, 0]);
    assert.deepEqual([...rgb.subarray((5 * 10 + 0) * 3, (5 * 10 + 0) * 3 + 3)], [255, 0, 0]);
    assert.deepEqual([...rgb.subarray((5 * 10 + 5) * 3, (5 * 10 + 5) * 3 + 3)], [0, 0, 0]);
    const edge = rgb[(5 * 10 + 2) * 3];
    assert.ok(edge > 0 && edge < 255, `edge pixel ${edge} is blended`);
  });

  it("draws each keypoint in its colour where the traces put it, frame by frame", async () => {
    const K = 2;
    const x = new Float32Array(N * K);
    const y = new Float32Array(N * K);
    const likelihood = new Float32Array(N * K).fill(1);
    for (let t = 0; t < N; t++) {
      x[t * K] = 12 + 3 * t; // keypoint 0 moves right
      y[t * K] = 16;
      x[t * K + 1] = 40;
      y[t * K + 1] = 34;
    }
    x[5 * K + 1] = NaN; // missing: not drawn
    const traces = path.join(dir, 'grey_FacemapPose.h5');
    await writePoseH5(traces, { names: ['a', 'b'], nFrames: N, x, y, likelihood });
    const out = path.join(dir, 'labelled.mp4');
    const r = await labelVideo(video, traces, out, { radius: 5, quiet: true });
    assert.equal(r.frames, N);
    const info = await probeVideo(out);
    assert.deepEqual([info.nFrames, info.width, info.height], [N, W, H]);
    const colors = keypointColors(K);
    const at = (buf: Buffer, px: number, py: number) => [...buf.subarray((py * W + px) * 3, (py * W + px) * 3 + 3)];
    const near = (got: number[], want: number[]) => got.every((v, i) => Math.abs(v - want[i]) < 70);
    for (const t of [0, 5, 11]) {
      const f = rgbFrame(out, t);
      assert.ok(near(at(f, 12 + 3 * t, 16), colors[0]), `frame ${t}: keypoint a ${at(f, 12 + 3 * t, 16)} vs ${colors[0]}`);
      const b = at(f, 40, 34);
      if (t === 5) assert.ok(near(b, [128, 128, 128]), `frame 5: missing keypoint b drawn anyway (${b})`);
      else assert.ok(near(b, colors[1]), `frame ${t}: keypoint b ${b} vs ${colors[1]}`);
      assert.ok(near(at(f, 60, 4), [128, 128, 128]), 'background untouched');
    }
  });

  it('fails before writing anything on traces of another video or unknown keypoints', async () => {
    const traces = path.join(dir, 'short.h5');
    await writePoseH5(traces, { names: ['a'], nFrames: N - 1, x: new Float32Array(N - 1), y: new Float32Array(N - 1), likelihood: new Float32Array(N - 1) });
    const out = path.join(dir, 'bad.mp4');
    await assert.rejects(labelVideo(video, traces, out, { quiet: true }), (e: unknown) => e instanceof ShapeError && /hold 11 frames but .* has 12/.test(e.message));
    const ok = { names: ['a'], nFrames: N, x: new Float32Array(N), y: new Float32Array(N), likelihood: new Float32Array(N) };
    await assert.rejects(labelVideo(video, ok, out, { keypoints: ['zz'], quiet: true }), ParamError);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('bad') || f.includes('.partial')), []);
  });
});
