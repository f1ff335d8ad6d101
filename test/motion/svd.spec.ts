import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NotFittedError, ParamError } from '../../src/errors';
import { binFrames, readFrames } from '../../src/io/video';
import { arraySource, MotionSVD, type MotionSVDConfig } from '../../src/motion';
import { column, encodeLossless, plantedMotion, squaredCosines, walk } from './helpers';
import { Rng } from '../../src/util/random';

const N = 240;
// Small chunks so that a 240-frame video exercises several of each (tolerances below are stated per test).
const SMALL: Partial<MotionSVDConfig> = { sbin: 2, nComponents: 6, chunkComponents: 20, nMeanFrames: 100, nMeanChunks: 5, maskChunkLength: 100, projectionChunk: 64 };

/** Binned blob indicators (pixels of the 16 x 24 binned frame) of the planted video. */
function blobMasks(blobs: { y0: number; y1: number; x0: number; x1: number }[], Lyb: number, Lxb: number, sbin: number): Float64Array[] {
  return blobs.map((b) => Float64Array.from({ length: Lyb * Lxb }, (_, i) => {
    const y = Math.floor(i / Lxb) * sbin;
    const x = (i % Lxb) * sbin;
    return y >= b.y0 && y < b.y1 && x >= b.x0 && x < b.x1 ? 1 : 0;
  }));
}

describe('motion/MotionSVD', function () {
  let dir: string;
  let video: string;
  const planted = plantedMotion(N);
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'motion-svd-'));
    video = encodeLossless(path.join(dir, 'planted.mkv'), planted.frames, planted.Ly, planted.Lx);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('recovers the planted motion subspace from a lossless video (squared cosines > 0.999)', async () => {
    const m = await new MotionSVD(SMALL).fit([video]);
    const t = m.motionTargets[0];
    assert.equal(m.nPixels, 16 * 24);
    assert.deepEqual([t.masks.rows, t.masks.cols], [384, 6]);
    const U = [0, 1, 2].map((j) => column(t.masks.data, 384, 6, j));
    const cos2 = squaredCosines(U, blobMasks(planted.blobs, 16, 24, 2));
    for (const c of cos2) assert.ok(c > 0.999, `squared cosines ${cos2}`);
    // Rank 3: the 4th singular value is float noise.
    assert.ok(t.sv[3] < 1e-3 * t.sv[0], `sv ${Array.from(t.sv)}`);
  });

  it('movie SVD recovers overlapping smooth patterns (squared cosines > 0.99)', async () => {
    const Ly = 24;
    const Lx = 32;
    const rng = new Rng(5);
    const pats = [0, 1, 2].map((k) => Float64Array.from({ length: Ly * Lx }, (_, i) => Math.cos(((k + 1) * Math.PI * (i % Lx)) / Lx + k) * Math.sin(((k + 1) * Math.PI * Math.floor(i / Lx)) / Ly + 0.3)));
    const a = pats.map(() => walk(rng, N));
    const frames = new Uint8Array(N * Ly * Lx);
    for (let t = 0; t < N; t++) for (let i = 0; i < Ly * Lx; i++) frames[t * Ly * Lx + i] = Math.round(128 + pats.reduce((s, p, k) => s + 40 * (a[k][t] - 0.5) * p[i], 0));
    const m = await new MotionSVD({ ...SMALL, sbin: 1, motion: false, movie: true }).fit(arraySource([{ frames, Ly, Lx }]));
    const t = m.movieTargets[0];
    const cos2 = squaredCosines([0, 1, 2].map((j) => column(t.masks.data, Ly * Lx, t.masks.cols, j)), pats);
    for (const c of cos2) assert.ok(c > 0.99, `squared cosines ${cos2}`);
    const r = await m.transform(arraySource([{ frames, Ly, Lx }]));
    assert.equal(r.movSVD.length, 1);
    assert.equal(r.motSVD.length, 0);
  });

  it('streamed, chunked transform equals an in-memory computation, for any chunk size (max abs error < 1e-3)', async () => {
    const m = await new MotionSVD(SMALL).fit([video]);
    const r = await m.transform([video]);
    const m2 = await new MotionSVD({ ...SMALL, projectionChunk: 500 }).fit([video]);
    const r2 = await m2.transform([video]);
    // In memory: every frame decoded at once, binned, differenced, projected in float64.
    let all: Float32Array | null = null;
    for await (const c of readFrames(video, { chunk: N, dtype: 'uint8' })) all = binFrames(c.frames, c.n, 32, 48, 2).frames;
    const P = 384;
    const U = m.motionTargets[0].masks;
    const k = U.cols;
    let maxErr = 0;
    let maxE = 0;
    for (let t = 0; t < N; t++) {
      let e = 0;
      const row = new Float64Array(P);
      for (let p = 0; p < P; p++) {
        const d = t === 0 ? 0 : Math.abs(all![t * P + p] - all![(t - 1) * P + p]);
        e += d;
        row[p] = d - m.avgmotion![p];
      }
      maxE = Math.max(maxE, Math.abs(e - r.motion[0][t]));
      for (let j = 0; j < k; j++) {
        let v = 0;
        for (let p = 0; p < P; p++) v += row[p] * U.data[p * k + j];
        maxErr = Math.max(maxErr, Math.abs(v - r.motSVD[0].data[t * k + j]), Math.abs(r2.motSVD[0].data[t * k + j] - r.motSVD[0].data[t * k + j]));
      }
    }
    assert.ok(maxErr < 1e-3, `max |V - V_mem| = ${maxErr}`);
    assert.ok(maxE < 1e-2, `max |energy - energy_mem| = ${maxE}`);
    assert.equal(r.motion[0][0], 0);
  });

  it('the frame cache changes nothing: fit + transform with cacheMB 0 (decode every stage) gives the same masks and projections', async () => {
    const a = await new MotionSVD(SMALL).fit([video]);
    const ra = await a.transform([video]);
    const b = await new MotionSVD({ ...SMALL, cacheMB: 0 }).fit([video]);
    const rb = await b.transform([video]);
    assert.deepEqual(a.avgframe, b.avgframe);
    assert.deepEqual(a.avgmotion, b.avgmotion);
    assert.deepEqual(a.motionTargets[0].masks.data, b.motionTargets[0].masks.data);
    assert.deepEqual(ra.motSVD[0].data, rb.motSVD[0].data);
    assert.deepEqual(ra.motion[0], rb.motion[0]);
    // a second transform (cache freed by the first) decodes again and agrees too
    const ra2 = await a.transform([video]);
    assert.deepEqual(ra2.motSVD[0].data, ra.motSVD[0].data);
  });

  it('is deterministic and follows the sign convention (largest |entry| of each mask positive)', async () => {
    const src = arraySource([{ frames: planted.frames, Ly: 32, Lx: 48 }]);
    const a = await new MotionSVD(SMALL).fit(src);
    const b = await new MotionSVD(SMALL).fit(src);
    assert.deepEqual(a.motionTargets[0].masks.data, b.motionTargets[0].masks.data);
    const U = a.motionTargets[0].masks;
    for (let j = 0; j < U.cols; j++) {
      let best = 0;
      for (let i = 0; i < U.rows; i++) if (Math.abs(U.data[i * U.cols + j]) > Math.abs(U.data[best * U.cols + j])) best = i;
      assert.ok(U.data[best * U.cols + j] > 0, `column ${j}`);
    }
  });

  it('concatenates several videos pixel-wise: two halves give the singular values and projections of the whole', async () => {
    const { frames, Ly, Lx } = planted;
    const half = (x0: number, x1: number) => {
      const w = x1 - x0;
      const out = new Uint8Array(N * Ly * w);
      for (let t = 0; t < N; t++) for (let y = 0; y < Ly; y++) for (let x = x0; x < x1; x++) out[(t * Ly + y) * w + x - x0] = frames[(t * Ly + y) * Lx + x];
      return { frames: out, Ly, Lx: w };
    };
    const cfg = { ...SMALL, nComponents: 3 };
    const whole = await new MotionSVD(cfg).fit(arraySource([{ frames, Ly, Lx }]));
    const pair = await new MotionSVD(cfg).fit(arraySource([half(0, 24), half(24, 48)]));
    assert.equal(pair.layout!.length, 2);
    assert.equal(pair.layout![1].offset, 16 * 12);
    const sw = whole.motionTargets[0].sv;
    const sp = pair.motionTargets[0].sv;
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(sw[j] - sp[j]) < 1e-3 * sw[0], `sv ${sw} vs ${sp}`);
    const rw = await whole.transform(arraySource([{ frames, Ly, Lx }]));
    const rp = await pair.transform(arraySource([half(0, 24), half(24, 48)]));
    for (let t = 0; t < N; t += 17) assert.ok(Math.abs(rw.motion[0][t] - rp.motion[0][t]) < 1e-2);
    for (let j = 0; j < 3; j++) {
      // Same component up to sign: |correlation| of the projections ~ 1.
      const x = column(rw.motSVD[0].data, N, 3, j);
      const y = column(rp.motSVD[0].data, N, 3, j);
      const dot = x.reduce((s, v, i) => s + v * y[i], 0);
      const c = Math.abs(dot) / Math.hypot(...x) / Math.hypot(...y);
      assert.ok(c > 0.999, `component ${j}: |cos| = ${c}`);
    }
  });

  it('gives each motion ROI its own masks, V and motion energy', async () => {
    const b = planted.blobs[1];
    const rois = [{ type: 'motion' as const, box: { x0: 18, x1: 30, y0: 12, y1: 28 } }];
    const m = await new MotionSVD({ ...SMALL, rois }).fit(arraySource([{ frames: planted.frames, Ly: 32, Lx: 48 }]));
    assert.equal(m.motionTargets.length, 2);
    const t = m.motionTargets[1];
    assert.deepEqual([t.Ly, t.Lx], [8, 6]);
    // Only blob 1 moves inside: rank 1, first mask = the blob's indicator (normalised).
    assert.ok(t.sv[1] < 1e-3 * t.sv[0]);
    let inside = 0;
    for (let i = 0; i < 48; i++) {
      const y = (6 + Math.floor(i / 6)) * 2;
      const x = (9 + (i % 6)) * 2;
      const isBlob = y >= b.y0 && y < b.y1 && x >= b.x0 && x < b.x1;
      if (isBlob) inside += t.masks.data[i * t.masks.cols] ** 2;
      else assert.ok(Math.abs(t.masks.data[i * t.masks.cols]) < 1e-4);
    }
    assert.ok(Math.abs(inside - 1) < 1e-4);
    const r = await m.transform(arraySource([{ frames: planted.frames, Ly: 32, Lx: 48 }]));
    assert.equal(r.motSVD.length, 2);
    assert.equal(r.motSVD[1].cols, t.masks.cols);
    // Energy of the ROI = 4 binned... blob 1 has 6 x 4 binned pixels, each |diff| = 120 |Δa|.
    for (let tt = 1; tt < N; tt += 23) {
      const expect = 24 * Math.abs(Math.round(60 + 120 * planted.a[1][tt]) - Math.round(60 + 120 * planted.a[1][tt - 1]));
      assert.ok(Math.abs(r.motion[1][tt] - expect) < 1e-2, `frame ${tt}: ${r.motion[1][tt]} vs ${expect}`);
    }
  });

  it('reports progress, throws NotFittedError before fit and ParamError for bad config', async () => {
    const stages = new Set<string>();
    const m = new MotionSVD({ ...SMALL, onProgress: (s) => stages.add(s) });
    await assert.rejects(m.transform(arraySource([{ frames: planted.frames, Ly: 32, Lx: 48 }])), NotFittedError);
    await m.fit(arraySource([{ frames: planted.frames, Ly: 32, Lx: 48 }]));
    await m.transform(arraySource([{ frames: planted.frames, Ly: 32, Lx: 48 }]));
    assert.deepEqual([...stages].sort(), ['mask', 'mean', 'project'].map((s) => (s === 'mask' ? 'masks' : s)).sort());
    assert.throws(() => new MotionSVD({ sbin: 0 }), (e: unknown) => e instanceof ParamError && e.field === 'sbin');
    assert.throws(() => new MotionSVD({ rois: [{ type: 'motion', box: { x0: 5, x1: 2, y0: 0, y1: 4 } }] }), (e: unknown) => e instanceof ParamError && e.field === 'rois[0].box.x1');
    await assert.rejects(
      new MotionSVD({ rois: [{ type: 'pupil', box: { x0: 0, x1: 60, y0: 0, y1: 4 } }] }).fit(arraySource([{ frames: planted.frames, Ly: 32, Lx: 48 }])),
      (e: unknown) => e instanceof ParamError && e.field === 'rois[0].box.x1',
    );
  });
});
