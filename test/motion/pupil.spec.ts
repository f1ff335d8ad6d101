import * as assert from 'node:assert/strict';
import { arraySource, blinkValue, fitPupil, medianFilter, MotionSVD } from '../../src/motion';
import { Rng } from '../../src/util/random';

/**
 * A synthetic eye: mid-grey (128) background with Gaussian noise (std 4), a dark (30) ellipse of
 * semi-axes (a, b) rotated by `theta`, antialiased by 4 x 4 supersampling, and a bright (250)
 * reflection disk (radius min(3, b/4)) inside the pupil.
 */
function eye(Ly: number, Lx: number, cy: number, cx: number, a: number, b: number, theta: number, seed: number, lid = 0): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(Ly * Lx);
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  for (let y = 0; y < Ly; y++) {
    for (let x = 0; x < Lx; x++) {
      let cover = 0;
      for (let sy = 0; sy < 4; sy++) for (let sx = 0; sx < 4; sx++) {
        const dy = y + (sy + 0.5) / 4 - 0.5 - cy;
        const dx = x + (sx + 0.5) / 4 - 0.5 - cx;
        const u = dx * c + dy * s;
        const v = -dx * s + dy * c;
        if ((u / a) ** 2 + (v / b) ** 2 <= 1) cover += 1 / 16;
      }
      let g = 128 * (1 - cover) + 30 * cover + 4 * rng.normal();
      if ((y - (cy - 0.25 * b)) ** 2 + (x - (cx + 0.25 * a)) ** 2 <= Math.min(9, (0.25 * b) ** 2)) g = 250;
      if (y < lid) g = 170; // eyelid (fur) closing from the top
      out[y * Lx + x] = Math.max(0, Math.min(255, g));
    }
  }
  return out;
}

// Tolerances: area within 3 % of pi a b, centre within 0.3 px, semi-axes within 5 %.
describe('motion/pupil', () => {
  it('recovers the area, centre and axes of a dark ellipse with noise and a reflection', () => {
    const [cy, cx, a, b, th] = [41.3, 52.7, 14, 10, Math.PI / 6];
    const f = fitPupil(eye(80, 100, cy, cx, a, b, th, 1), 80, 100);
    const area = Math.PI * a * b;
    const errArea = Math.abs(f.area - area) / area;
    const errC = Math.hypot(f.cy - cy, f.cx - cx);
    console.log(`      area error ${(100 * errArea).toFixed(2)} %, centre error ${errC.toFixed(3)} px, axes ${f.axlen.map((v) => v.toFixed(2))}`);
    assert.ok(errArea < 0.03, `area ${f.area} vs ${area}`);
    assert.ok(errC < 0.3, `centre (${f.cy}, ${f.cx})`);
    assert.ok(Math.abs(f.axlen[0] - a) / a < 0.05 && Math.abs(f.axlen[1] - b) / b < 0.05, `axes ${f.axlen}`);
    // Major axis along theta: (dy, dx) = ±(sin, cos).
    assert.ok(Math.abs(Math.abs(f.axdir[0][0] * Math.sin(th) + f.axdir[0][1] * Math.cos(th)) - 1) < 0.01);
  });

  it('ignores dark pixels away from the pupil (refits within 1.5x the ellipse)', () => {
    const img = eye(80, 100, 40, 50, 12, 12, 0, 2);
    for (let y = 0; y < 6; y++) for (let x = 0; x < 100; x++) img[y * 100 + x] = 25; // dark eyelashes at the top
    const f = fitPupil(img, 80, 100);
    assert.ok(Math.abs(f.area - Math.PI * 144) / (Math.PI * 144) < 0.05, `area ${f.area}`);
    assert.ok(Math.hypot(f.cy - 40, f.cx - 50) < 0.5, `centre ${f.cy}, ${f.cx}`);
  });

  it('median filter (31 frames) removes single-frame outliers', () => {
    const x = Float32Array.from({ length: 100 }, (_, i) => (i === 50 ? 1000 : i / 10));
    const m = medianFilter(x, 31);
    assert.ok(Math.abs(m[50] - 5) < 0.2);
    assert.throws(() => medianFilter(x, 30));
  });

  it('pupil and blink ROIs in MotionSVD: traces in frame coordinates; blink rises as the lid closes', async () => {
    const Ly = 96;
    const Lx = 120;
    const n = 12;
    const frames = new Uint8Array(n * Ly * Lx);
    const radius = (t: number) => 8 + t / 2;
    for (let t = 0; t < n; t++) {
      const e = eye(80, 100, 40, 50, radius(t), radius(t), 0, 10 + t, t < 6 ? 0 : 8 * (t - 5));
      for (let y = 0; y < 80; y++) for (let x = 0; x < 100; x++) frames[(t * Ly + y + 10) * Lx + x + 12] = Math.round(e[y * 100 + x]);
    }
    const box = { x0: 12, x1: 112, y0: 10, y1: 90 };
    const m = await new MotionSVD({ sbin: 4, nComponents: 2, chunkComponents: 2, rois: [{ type: 'pupil', box }, { type: 'blink', box }] }).fit(arraySource([{ frames, Ly, Lx }]));
    const r = await m.transform(arraySource([{ frames, Ly, Lx }]));
    assert.equal(r.pupil.length, 1);
    assert.equal(r.blink.length, 1);
    for (let t = 0; t < 6; t++) {
      const area = Math.PI * radius(t) ** 2;
      assert.ok(Math.abs(r.pupil[0].area[t] - area) / area < 0.05, `frame ${t}: ${r.pupil[0].area[t]} vs ${area}`);
      assert.ok(Math.abs(r.pupil[0].com[2 * t] - 50) < 0.5 && Math.abs(r.pupil[0].com[2 * t + 1] - 62) < 0.5);
    }
    for (let t = 6; t < n; t++) assert.ok(r.blink[0][t] > r.blink[0][t - 1], `blink ${Array.from(r.blink[0])}`);
    assert.ok(Math.abs(blinkValue([1, 2, 3]) - 2) < 1e-12);
  });
});
