/** Tolerance: the dot's brightest pixel lies within 1 px of the transformed keypoint (bilinear blur). */
import * as assert from 'node:assert/strict';
import { ParamError } from '../../src/errors';
import { augmentSample } from '../../src/pose';
import { Rng } from '../../src/util/random';

const [W, H] = [90, 70];

/** A frame with a Gaussian dot (sigma 1.5 px) at each (x, y). */
function dots(points: [number, number][]): Float32Array {
  const f = new Float32Array(W * H);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      for (const [x, y] of points) f[r * W + c] += Math.exp(-((c - x) ** 2 + (r - y) ** 2) / (2 * 1.5 ** 2));
    }
  }
  return f;
}

function brightestNear(img: Float32Array, S: number, x: number, y: number, radius = 6): [number, number] {
  let best = -Infinity;
  let at: [number, number] = [NaN, NaN];
  for (let r = Math.max(0, Math.round(y) - radius); r <= Math.min(S - 1, Math.round(y) + radius); r++) {
    for (let c = Math.max(0, Math.round(x) - radius); c <= Math.min(S - 1, Math.round(x) + radius); c++) {
      if (img[r * S + c] > best) [best, at] = [img[r * S + c], [c, r]];
    }
  }
  return at;
}

describe('pose/augment', () => {
  const box = { x0: 15, x1: 75, y0: 10, y1: 60 };
  const points: [number, number][] = [
    [30, 25],
    [58, 44],
  ];
  const frame = dots(points);
  const kp = Float32Array.from(points.flat());

  it('keeps each bright dot at its transformed keypoint (expansion, flip, rotation, scale)', () => {
    let flips = 0;
    for (let seed = 0; seed < 8; seed++) {
      const s = augmentSample(frame, W, H, box, kp, new Rng(seed), { outSize: 64, rotationDeg: 30, scale: [0.8, 1.2] });
      if (s.params.flipped) flips++;
      for (let k = 0; k < 2; k++) {
        const [x, y] = [s.keypoints[2 * k], s.keypoints[2 * k + 1]];
        const [c, r] = brightestNear(s.image, 64, x, y);
        assert.ok(Math.hypot(c - x, r - y) <= 1, `seed ${seed} keypoint ${k}: dot at (${c}, ${r}), keypoint (${x.toFixed(2)}, ${y.toFixed(2)})`);
      }
      assert.ok(s.params.box.x0 <= box.x0 && s.params.box.x1 >= box.x1 && s.params.box.y0 <= box.y0 && s.params.box.y1 >= box.y1);
    }
    assert.ok(flips > 0 && flips < 8, `${flips} flips in 8 draws`);
  });

  it('is reproducible from the seed, and a flip with a swap map exchanges keypoints', () => {
    const a = augmentSample(frame, W, H, box, kp, new Rng(3), { outSize: 32, noiseStd: 0.1 });
    const b = augmentSample(frame, W, H, box, kp, new Rng(3), { outSize: 32, noiseStd: 0.1 });
    assert.deepEqual(a, b);
    const plain = augmentSample(frame, W, H, box, kp, new Rng(1), { outSize: 32, flipProb: 1 });
    const swapped = augmentSample(frame, W, H, box, kp, new Rng(1), { outSize: 32, flipProb: 1, flipSwap: [1, 0] });
    assert.deepEqual(Array.from(swapped.keypoints), [...plain.keypoints.slice(2), ...plain.keypoints.slice(0, 2)]);
  });

  it('brightness and contrast act on the normalised image; NaN labels stay NaN', () => {
    const kpNaN = Float32Array.from([NaN, NaN, 58, 44]);
    const s = augmentSample(frame, W, H, box, kpNaN, new Rng(2), { outSize: 32, flipProb: 0, expand: [0.2, 0.2], brightness: 0, contrast: [2, 2] });
    const ref = augmentSample(frame, W, H, box, kpNaN, new Rng(2), { outSize: 32, flipProb: 0, expand: [0.2, 0.2], brightness: 0, contrast: [1, 1] });
    s.image.forEach((v, i) => assert.ok(Math.abs(v - 2 * ref.image[i]) < 1e-5));
    assert.ok(Number.isNaN(s.keypoints[0]) && Number.isNaN(s.keypoints[1]));
    assert.ok(Number.isFinite(s.keypoints[2]));
  });

  it('rejects bad ranges and non-permutation swap maps', () => {
    assert.throws(() => augmentSample(frame, W, H, box, kp, new Rng(0), { contrast: [1.3, 0.7] }), ParamError);
    assert.throws(() => augmentSample(frame, W, H, box, kp, new Rng(0), { flipSwap: [0, 0] }), ParamError);
  });
});
