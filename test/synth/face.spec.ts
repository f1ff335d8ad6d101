import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FormatError, ParamError } from '../../src/errors';
import { probeVideo, readFrames } from '../../src/io/video';
import { latentColumn, simulateBehavior } from '../../src/synth/behavior';
import { FaceRenderer, REST_STATE, renderFaceVideo, renderFrame, type RenderVideoResult } from '../../src/synth/face';
import { FACEMAP_KEYPOINTS, type BehaviorLatents } from '../../src/synth/types';
import { Rng } from '../../src/util/random';

const tmpDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'fm-synth-face-'));
const K = (name: string): number => FACEMAP_KEYPOINTS.indexOf(name as (typeof FACEMAP_KEYPOINTS)[number]);
const N = 200;
/** Behaviour that whisks almost all the time, so short clips hold long whisking bouts. */
const WHISKY = { nFrames: N, whiskOnRateHz: 5, whiskBoutS: 20, pawIntervalS: 1, pawVisibleS: [1, 1.5] as [number, number] };

/** Mean grey level of the (2r+1)^2 box around (x, y). */
function boxMean(f: Uint8Array, W: number, x: number, y: number, r: number): number {
  let s = 0;
  let n = 0;
  for (let yy = Math.round(y) - r; yy <= Math.round(y) + r; yy++) {
    for (let xx = Math.round(x) - r; xx <= Math.round(x) + r; xx++) {
      s += f[yy * W + xx];
      n++;
    }
  }
  return s / n;
}

/** Frequency (Hz) of the largest periodogram peak of `v` (mean removed, Hann window), DC excluded. */
function peakHz(v: Float64Array, fps: number): number {
  const n = v.length;
  const mean = v.reduce((a, b) => a + b, 0) / n;
  let best = 0;
  let bestF = 0;
  for (let k = 1; k < n / 2; k++) {
    let re = 0;
    let im = 0;
    for (let t = 0; t < n; t++) {
      const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * t) / (n - 1));
      re += w * (v[t] - mean) * Math.cos((2 * Math.PI * k * t) / n);
      im -= w * (v[t] - mean) * Math.sin((2 * Math.PI * k * t) / n);
    }
    const p = re * re + im * im;
    if (p > best) (best = p), (bestF = (k * fps) / n);
  }
  return bestF;
}

function corr(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('synth/face: rendered face video and ground-truth keypoints', () => {
  let dir: string;
  let latents: BehaviorLatents;
  let video: RenderVideoResult;

  before(async () => {
    dir = tmpDir();
    latents = simulateBehavior(WHISKY, new Rng(21));
    video = await renderFaceVideo(latents, {}, path.join(dir, 'a.mp4'));
  });

  it('keypoints lie inside the frame in every frame; the paw is NaN with likelihood 0 when out of view', () => {
    const { traces, width: W, height: H } = video;
    const nK = FACEMAP_KEYPOINTS.length;
    const paw = latentColumn(latents, 'paw');
    assert.ok(paw.some((v) => v === 1) && paw.some((v) => v === 0), 'the clip shows the paw in some frames only');
    for (let t = 0; t < N; t++) {
      for (let k = 0; k < nK; k++) {
        const x = traces.x[t * nK + k];
        const y = traces.y[t * nK + k];
        const lik = traces.likelihood[t * nK + k];
        if (k === K('paw') && paw[t] === 0) {
          assert.ok(Number.isNaN(x) && Number.isNaN(y) && lik === 0, `frame ${t}: hidden paw`);
          continue;
        }
        assert.equal(lik, 1);
        assert.ok(x >= 0 && x <= W - 1 && y >= 0 && y <= H - 1, `frame ${t} ${FACEMAP_KEYPOINTS[k]} at (${x}, ${y})`);
      }
    }
  });

  it('whisker keypoints oscillate at the whisking frequency (8-12 Hz periodogram peak in a bout)', () => {
    const amp = latentColumn(latents, 'whisk_amp');
    const freq = latentColumn(latents, 'whisk_freq');
    // Longest run of frames with whisk_amp > 0.5.
    let bestStart = 0;
    let bestLen = 0;
    for (let t = 0, start = 0; t <= N; t++) {
      if (t === N || amp[t] <= 0.5) {
        if (t - start > bestLen) (bestLen = t - start), (bestStart = start);
        start = t + 1;
      }
    }
    assert.ok(bestLen >= 64, `a whisking bout of ${bestLen} frames`);
    const nK = FACEMAP_KEYPOINTS.length;
    let fSum = 0;
    for (let t = bestStart; t < bestStart + bestLen; t++) fSum += freq[t];
    const fTrue = fSum / bestLen;
    for (const name of ['whisker(I)', 'whisker(II)', 'whisker(III)']) {
      for (const coord of ['x', 'y'] as const) {
        const v = Float64Array.from({ length: bestLen }, (_, i) => video.traces[coord][(bestStart + i) * nK + K(name)]);
        const f = peakHz(v, latents.fps);
        assert.ok(f >= 8 - 0.8 && f <= 12 + 0.8, `${name} ${coord} peaks at ${f} Hz`);
        assert.ok(Math.abs(f - fTrue) <= 1.2, `${name} ${coord} peaks at ${f} Hz, whisking at ${fTrue} Hz`);
      }
    }
  });

  it('eye opening (eye(top) to eye(bottom)) follows the pupil latent outside blinks', () => {
    const pupil = latentColumn(latents, 'pupil');
    const blink = latentColumn(latents, 'blink');
    const nK = FACEMAP_KEYPOINTS.length;
    const open: number[] = [];
    const p: number[] = [];
    for (let t = 0; t < N; t++) {
      if (blink[t] > 0) continue;
      const dx = video.traces.x[t * nK + K('eye(top)')] - video.traces.x[t * nK + K('eye(bottom)')];
      const dy = video.traces.y[t * nK + K('eye(top)')] - video.traces.y[t * nK + K('eye(bottom)')];
      open.push(Math.hypot(dx, dy));
      p.push(pupil[t]);
    }
    assert.ok(corr(open, p) > 0.99, `r = ${corr(open, p)}`);
  });

  it('pupil size and blinks are visible in the pixels of the eye', () => {
    const config = { noiseSd: 0 };
    const dark = (f: Uint8Array): number => f.filter((v) => v < 20).length;
    const small = renderFrame({ ...REST_STATE, pupil: 0.1 }, { config }).frame;
    const large = renderFrame({ ...REST_STATE, pupil: 0.9 }, { config }).frame;
    assert.ok(dark(large) > dark(small) + 50, `dark pixels: ${dark(large)} (dilated) vs ${dark(small)} (constricted)`);
    const open = renderFrame({ ...REST_STATE, blink: 0 }, { config });
    const shut = renderFrame({ ...REST_STATE, blink: 1 }, { config });
    const cx = (open.x[K('eye(back)')] + open.x[K('eye(front)')]) / 2;
    const cy = (open.y[K('eye(top)')] + open.y[K('eye(bottom)')]) / 2;
    const mOpen = boxMean(open.frame, open.width, cx, cy, 4);
    const mShut = boxMean(shut.frame, shut.width, cx, cy, 4);
    assert.ok(mShut > mOpen + 40, `eye centre ${mOpen} open vs ${mShut} shut`);
  });

  it('the image differs from its surroundings at the keypoints (eye dark, nose/paw/whiskers bright)', () => {
    const r = renderFrame({ ...REST_STATE, paw: 1, paw_x: 0.6, paw_y: 0.85, whisk_amp: 0.5 }, { config: { noiseSd: 0 } });
    const W = r.width;
    const background = boxMean(r.frame, W, W - 12, 12, 8);
    const eyeX = (r.x[K('eye(back)')] + r.x[K('eye(front)')]) / 2;
    const eyeY = (r.y[K('eye(top)')] + r.y[K('eye(bottom)')]) / 2;
    const eye = boxMean(r.frame, W, eyeX, eyeY, 2);
    const furNearEye = boxMean(r.frame, W, r.x[K('eye(back)')] - 12, eyeY, 2);
    assert.ok(eye < furNearEye - 50, `eye ${eye} vs fur ${furNearEye}`);
    // Between the nose's centre and nose(bottom): bare skin, away from the dark nostril.
    const noseX = (r.x[K('nose(top)')] + 3 * r.x[K('nose(bottom)')]) / 4;
    const noseY = (r.y[K('nose(top)')] + 3 * r.y[K('nose(bottom)')]) / 4;
    assert.ok(boxMean(r.frame, W, noseX, noseY, 1) > background + 60, 'nose brighter than the background');
    assert.ok(boxMean(r.frame, W, r.x[K('paw')], r.y[K('paw')], 2) > background + 60, 'paw brighter than the background');
    for (const w of ['whisker(I)', 'whisker(II)', 'whisker(III)']) {
      const on = r.frame[Math.round(r.y[K(w)]) * W + Math.round(r.x[K(w)])];
      assert.ok(on > boxMean(r.frame, W, r.x[K(w)], r.y[K(w)], 4) + 10, `${w}: ${on} not brighter than around it`);
    }
  });

  it('the video decodes with the right size, frame count and rate, and matches the rendered frames', async () => {
    const info = await probeVideo(video.file);
    assert.equal(info.width, 256);
    assert.equal(info.height, 256);
    assert.equal(info.nFrames, N);
    assert.equal(info.fps, 50);
    assert.equal(info.codec, 'h264');
    const renderer = new FaceRenderer({});
    const first = renderer.render({ ...REST_STATE, ...stateAt(latents, 0) }, 0, 50).frame;
    let got: Uint8Array | null = null;
    for await (const c of readFrames(video.file, { dtype: 'uint8', count: 1 })) got = c.frames;
    assert.ok(got);
    let err = 0;
    for (let i = 0; i < first.length; i++) err += Math.abs(first[i] - got[i]);
    // Tolerance 6 grey levels: CRF 18 keeps the face but smooths part of the sd-3 sensor noise.
    assert.ok(err / first.length < 6, `mean absolute decode error ${err / first.length} grey levels`);
  });

  it('same seeds give identical latents, keypoints and mp4 bytes; different seeds differ', async () => {
    const l2 = simulateBehavior(WHISKY, new Rng(21));
    assert.deepEqual(l2.data, latents.data);
    const again = await renderFaceVideo(l2, {}, path.join(dir, 'b.mp4'));
    assert.deepEqual(again.traces, video.traces);
    assert.ok(fs.readFileSync(again.file).equals(fs.readFileSync(video.file)), 'identical mp4 bytes');
    const l3 = simulateBehavior(WHISKY, new Rng(22));
    const other = await renderFaceVideo(l3, { seed: 1 }, path.join(dir, 'c.mp4'));
    assert.notDeepEqual(other.traces.x, video.traces.x);
    assert.ok(!fs.readFileSync(other.file).equals(fs.readFileSync(video.file)));
  });

  it('renders larger, non-square frames (320 x 256) with keypoints inside', async () => {
    const l = simulateBehavior({ nFrames: 20 }, new Rng(3));
    const r = await renderFaceVideo(l, { width: 320, height: 256 }, path.join(dir, 'wide.mp4'));
    const info = await probeVideo(r.file);
    assert.equal(info.width, 320);
    assert.equal(info.height, 256);
    for (let i = 0; i < r.traces.x.length; i++) {
      if (Number.isNaN(r.traces.x[i])) continue;
      assert.ok(r.traces.x[i] >= 0 && r.traces.x[i] <= 319 && r.traces.y[i] >= 0 && r.traces.y[i] <= 255);
    }
  });

  it('invalid sizes and rates are ParamErrors naming the field', async () => {
    const field = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof ParamError, String(e));
        return e.field;
      }
      throw new Error('no error');
    };
    assert.equal(field(() => new FaceRenderer({ width: -256 })), 'width');
    assert.equal(field(() => new FaceRenderer({ height: 0 })), 'height');
    assert.equal(field(() => new FaceRenderer({ noiseSd: -1 })), 'noiseSd');
    const l = simulateBehavior({ nFrames: 5 }, new Rng(1));
    await assert.rejects(renderFaceVideo({ ...l, fps: 0 }, {}, path.join(dir, 'x.mp4')), (e: unknown) => e instanceof ParamError && e.field === 'fps');
    await assert.rejects(renderFaceVideo(l, { width: -5 }, path.join(dir, 'x.mp4')), (e: unknown) => e instanceof ParamError && e.field === 'width');
    assert.ok(!fs.existsSync(path.join(dir, 'x.mp4')));
  });

  it('a failed render leaves no partial file and no ffmpeg behind', async () => {
    const l = simulateBehavior({ nFrames: 120 }, new Rng(1));
    const d = tmpDir();
    await assert.rejects(renderFaceVideo(l, {}, path.join(d, 'missing', 'v.mp4')), FormatError);
    const target = path.join(d, 'v.mp4');
    await assert.rejects(
      renderFaceVideo(l, {}, target, {
        onProgress: (done) => {
          if (done > 0) throw new Error('stop');
        },
      }),
      /stop/,
    );
    assert.deepEqual(fs.readdirSync(d), []);
  });
});

function stateAt(l: BehaviorLatents, t: number): Record<string, number> {
  return Object.fromEntries(l.names.map((n, j) => [n, l.data[t * l.names.length + j]]));
}
