import * as assert from 'node:assert/strict';
import { arraySource, fft2, MotionSVD, PhaseCorrelator, runningShifts } from '../../src/motion';
import { texture } from './helpers';

// Tolerance: 0.1 px per axis for integer and sub-pixel shifts of a smooth broadband texture (Tukey-windowed
// 64 x 64 ROI, half-whitened cross-power, upsampled-DFT peak); measured max error ~0.03 px.
const TOL = 0.1;

/** Frames of a smooth texture whose content moves by shifts[t] (dx, dy) from frame t-1 to t. */
function shiftedFrames(shifts: [number, number][], Ly: number, Lx: number, seed = 3): Float32Array {
  const f = texture(seed);
  const out = new Float32Array(shifts.length * Ly * Lx);
  let sx = 0;
  let sy = 0;
  shifts.forEach(([dx, dy], t) => {
    sx += dx;
    sy += dy;
    for (let y = 0; y < Ly; y++) for (let x = 0; x < Lx; x++) out[(t * Ly + y) * Lx + x] = 128 + 20 * f(y - sy, x - sx);
  });
  return out;
}

describe('motion/running', () => {
  it('fft2 then inverse fft2 returns the input (x ny*nx)', () => {
    const re = Float64Array.from({ length: 8 * 16 }, (_, i) => Math.sin(i * 0.37) + (i % 5));
    const im = new Float64Array(re.length);
    const orig = Float64Array.from(re);
    fft2(re, im, 8, 16);
    assert.ok(Math.abs(re[0] - orig.reduce((a, b) => a + b, 0)) < 1e-9);
    fft2(re, im, 8, 16, true);
    for (let i = 0; i < re.length; i++) assert.ok(Math.abs(re[i] / 128 - orig[i]) < 1e-9 && Math.abs(im[i]) < 1e-9);
  });

  it(`recovers integer and sub-pixel shifts within ${TOL} px`, () => {
    const shifts: [number, number][] = [[0, 0], [3, -2], [0.3, -0.7], [1.25, 0.5], [-2.6, 1.4], [0, 0], [-0.5, 0.5], [4.1, -3.3]];
    const { dx, dy } = runningShifts(shiftedFrames(shifts, 64, 64), shifts.length, 64, 64);
    assert.equal(dx[0], 0);
    let maxErr = 0;
    for (let t = 1; t < shifts.length; t++) maxErr = Math.max(maxErr, Math.abs(dx[t] - shifts[t][0]), Math.abs(dy[t] - shifts[t][1]));
    console.log(`      max shift error ${maxErr.toFixed(4)} px`);
    assert.ok(maxErr < TOL, `dx ${Array.from(dx)} dy ${Array.from(dy)}`);
  });

  it('works on ROIs whose size is not a power of 2 (zero-padded)', () => {
    const shifts: [number, number][] = [[0, 0], [1.5, 0.25], [-0.75, -1]];
    const { dx, dy } = runningShifts(shiftedFrames(shifts, 45, 70, 9), 3, 45, 70);
    for (let t = 1; t < 3; t++) assert.ok(Math.abs(dx[t] - shifts[t][0]) < TOL && Math.abs(dy[t] - shifts[t][1]) < TOL, `${dx[t]}, ${dy[t]}`);
  });

  it('runs as a running ROI of MotionSVD (dx, dy per frame in the result)', async () => {
    const shifts: [number, number][] = [[0, 0], [2, 1], [0.5, -0.5], [-1, 0]];
    const big = shiftedFrames(shifts, 48, 64, 4);
    const frames = Uint8Array.from(big, (v) => Math.max(0, Math.min(255, Math.round(v))));
    const m = await new MotionSVD({ sbin: 2, nComponents: 2, chunkComponents: 2, projectionChunk: 3, rois: [{ type: 'running', box: { x0: 8, x1: 56, y0: 4, y1: 44 } }] }).fit(arraySource([{ frames, Ly: 48, Lx: 64 }]));
    const r = await m.transform(arraySource([{ frames, Ly: 48, Lx: 64 }]));
    assert.equal(r.running.length, 1);
    // Rounding to 8 bits: tolerance 0.15 px.
    for (let t = 1; t < 4; t++) assert.ok(Math.abs(r.running[0].dx[t] - shifts[t][0]) < 0.15 && Math.abs(r.running[0].dy[t] - shifts[t][1]) < 0.15, `frame ${t}: ${r.running[0].dx[t]}, ${r.running[0].dy[t]}`);
  });

  it('rejects ROIs smaller than 4 x 4', () => {
    assert.throws(() => new PhaseCorrelator(3, 10));
  });
});
