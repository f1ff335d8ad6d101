/** Tolerances: coordinates round-trip to 1e-9 px (float64 arithmetic); tf vs pure JS images to 1e-4. */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ParamError } from '../../src/errors';
import { FramePreprocessor, cardInferenceExpand, cropPadResize, cropTransform, expandBox, inferenceExpand, normalizeBatch, normalizeFrame, preprocessBatch, preprocessFrame, toFrameCoords, toNetworkCoords } from '../../src/pose';
import { Rng } from '../../src/util/random';
import { useWasm } from './setup';

function randomFrame(w: number, h: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: w * h }, () => 255 * rng.uniform());
}

describe('pose/preprocess', () => {
  before(useWasm);

  it('inverse(forward(point)) == point for wide, tall and square boxes', () => {
    const boxes = [
      { x0: 10, x1: 90, y0: 5, y1: 35 },
      { x0: 0, x1: 17, y0: 3, y1: 60 },
      { x0: 20, x1: 60, y0: 20, y1: 60 },
    ];
    for (const box of boxes) {
      const t = cropTransform(box, 100, 60, 256);
      for (const [x, y] of [[box.x0, box.y0], [box.x1 - 1, box.y1 - 1], [37.25, 21.5]]) {
        const [u, v] = toNetworkCoords(t, x, y);
        const [x2, y2] = toFrameCoords(t, u, v);
        assert.ok(Math.abs(x2 - x) < 1e-9 && Math.abs(y2 - y) < 1e-9, `${x},${y} -> ${x2},${y2}`);
      }
    }
  });

  it('the coordinate map follows the image: a bright pixel lands where toNetworkCoords says', () => {
    const box = { x0: 8, x1: 40, y0: 4, y1: 20 }; // 32x16 -> padded 32, resized x2 to 64
    const t = cropTransform(box, 48, 24, 64);
    const frame = new Float32Array(48 * 24);
    frame[11 * 48 + 23] = 1; // x 23, y 11
    const img = cropPadResize(frame, 48, 24, t);
    let best = 0;
    for (let i = 1; i < img.length; i++) if (img[i] > img[best]) best = i;
    // Upsampling x2 spreads one pixel over a 2x2 block centred on the mapped point.
    const [u, v] = toNetworkCoords(t, 23, 11);
    assert.equal(u, 30.5);
    assert.equal(v, 30.5);
    const r = Math.floor(best / 64);
    const c = best % 64;
    assert.ok(Math.abs(c - u) <= 0.5 && Math.abs(r - v) <= 0.5);
  });

  it('normalises per frame, independently of the batch it is in', () => {
    const a = randomFrame(32, 32, 1);
    const b = randomFrame(32, 32, 2).map((v) => v * 0.1 + 100);
    const na = normalizeFrame(a);
    const sorted = Float32Array.from(na).sort();
    assert.ok(Math.abs(sorted[Math.round(0.01 * 1023)]) < 0.01);
    assert.ok(Math.abs(sorted[Math.round(0.99 * 1023)] - 1) < 0.01);
    const before = tf.memory().numTensors;
    const alone = tf.tensor4d(a, [1, 32, 32, 1]);
    const pair = tf.tensor4d([...a, ...b], [2, 32, 32, 1]);
    const x1 = normalizeBatch(alone);
    const x2 = normalizeBatch(pair);
    const first = x2.slice([0, 0, 0, 0], [1, 32, 32, 1]);
    const d1 = x1.dataSync();
    const d2 = first.dataSync();
    for (let i = 0; i < d1.length; i++) {
      assert.ok(Math.abs(d1[i] - d2[i]) < 1e-6);
      assert.ok(Math.abs(d1[i] - na[i]) < 1e-4, `tf and JS percentiles differ at ${i}: ${d1[i]} vs ${na[i]}`);
    }
    tf.dispose([alone, pair, x1, x2, first]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('a constant frame normalises to zeros, not NaN', () => {
    assert.ok(normalizeFrame(new Float32Array(16).fill(7)).every((v) => v === 0));
  });

  it('preprocessBatch (tf) equals preprocessFrame (pure) and leaks nothing', () => {
    const [w, h] = [50, 30];
    const frames = [randomFrame(w, h, 3), randomFrame(w, h, 4)];
    const t = cropTransform({ x0: 5, x1: 45, y0: 2, y1: 27 }, w, h, 64);
    const before = tf.memory().numTensors;
    const input = tf.tensor3d([...frames[0], ...frames[1]], [2, h, w]);
    const out = preprocessBatch(input, t);
    assert.deepEqual(out.shape, [2, 64, 64, 1]);
    const d = out.dataSync();
    frames.forEach((f, i) => {
      const ref = preprocessFrame(f, w, h, t);
      let err = 0;
      for (let j = 0; j < ref.length; j++) err = Math.max(err, Math.abs(ref[j] - d[i * 4096 + j]));
      assert.ok(err < 1e-4, `frame ${i}: max error ${err}`);
    });
    tf.dispose([input, out]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('FramePreprocessor is bit-identical to preprocessFrame (up- and downscaling, padding, uint8 and float)', () => {
    const cases = [
      { w: 50, h: 30, box: { x0: 5, x1: 45, y0: 2, y1: 27 }, out: 64 }, // wide box, upscale
      { w: 40, h: 90, box: { x0: 0, x1: 40, y0: 0, y1: 90 }, out: 32 }, // tall, downscale
      { w: 33, h: 33, box: { x0: 1, x1: 32, y0: 0, y1: 33 }, out: 256 }, // odd padding, x8
      { w: 396, h: 406, box: { x0: 0, x1: 396, y0: 0, y1: 406 }, out: 256 }, // mirror-mouse frame size
    ];
    cases.forEach(({ w, h, box, out }, i) => {
      const t = cropTransform(box, w, h, out);
      const pre = new FramePreprocessor(w, h, t);
      const rng = new Rng(40 + i);
      const grey = Uint8Array.from({ length: w * h }, () => Math.floor(256 * rng.uniform()));
      // Ties: a run of equal values so that the percentile ranks fall among duplicates.
      grey.fill(7, 0, Math.floor(w * h * 0.05));
      for (const frame of [grey, randomFrame(w, h, 50 + i)]) {
        const ref = preprocessFrame(frame, w, h, t);
        const got = new Float32Array(out * out + 5).fill(-1);
        pre.run(frame, got, 5);
        assert.equal(got[4], -1, 'writes nothing before the offset');
        for (let j = 0; j < ref.length; j++) {
          if (got[5 + j] !== ref[j]) assert.fail(`case ${i} (${frame.constructor.name}) pixel ${j}: ${got[5 + j]} vs ${ref[j]}`);
        }
      }
    });
    assert.throws(() => new FramePreprocessor(10, 10, cropTransform({ x0: 0, x1: 10, y0: 0, y1: 10 }, 10, 10, 8)).run(new Uint8Array(99), new Float32Array(64)), /expected 10x10/);
  });

  it('rejects boxes outside the frame', () => {
    assert.throws(() => cropTransform({ x0: 0, x1: 101, y0: 0, y1: 10 }, 100, 60), ParamError);
    assert.throws(() => cropTransform({ x0: 5, x1: 5, y0: 0, y1: 10 }, 100, 60), ParamError);
  });

  it('expandBox grows each side by its fraction of the box, rounded and clamped to the frame', () => {
    const box = { x0: 40, x1: 140, y0: 20, y1: 70 }; // 100 x 50
    assert.deepEqual(expandBox(box, 1000, 1000, 0.2), { x0: 20, x1: 160, y0: 10, y1: 80 });
    assert.deepEqual(expandBox(box, 1000, 1000, 0.1, 0.3, 0, 0.5), { x0: 30, x1: 170, y0: 20, y1: 95 });
    assert.deepEqual(expandBox(box, 150, 75, 0.5), { x0: 0, x1: 150, y0: 0, y1: 75 });
    assert.deepEqual(expandBox(box, 1000, 1000, 0), box);
  });

  it('the inference expansion is the mean of the training expansion range (0 without augmentation)', () => {
    assert.equal(inferenceExpand({}), 0.2);
    assert.equal(inferenceExpand(undefined), 0.2);
    assert.equal(inferenceExpand({ expand: [0, 0.1] }), 0.05);
    assert.equal(inferenceExpand(false), 0);
    assert.equal(cardInferenceExpand({ inferenceExpand: 0.05, trainingConfig: { augment: false } }), 0.05);
    assert.equal(cardInferenceExpand({ trainingConfig: { augment: false } }), 0);
    assert.equal(cardInferenceExpand({ trainingConfig: { augment: { expand: [0.2, 0.4] } } }), 0.30000000000000004);
    assert.equal(cardInferenceExpand({}), 0.2);
  });
});
