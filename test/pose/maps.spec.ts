import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../../src/errors';
import { decodeKeypoints, decodeMaps } from '../../src/pose';
import { Rng } from '../../src/util/random';
import { useWasm } from './setup';

describe('pose/maps: decodeMaps', () => {
  before(useWasm);

  it('equals decodeKeypoints (tfjs) in both layouts, ties going to the first maximum', () => {
    const [n, g, k] = [3, 16, 4];
    const rng = new Rng(9);
    const nhwc = (scale: number) => Float32Array.from({ length: n * g * g * k }, () => scale * (rng.uniform() - 0.3));
    const hm = nhwc(5).map((v) => Math.max(0, v));
    // Image 2, keypoint 1: an all-zero map (every cell ties): argmax must be cell 0.
    for (let c = 0; c < g * g; c++) hm[(2 * g * g + c) * k + 1] = 0;
    const ro = nhwc(1);
    const co = nhwc(1);
    const t = (a: Float32Array) => tf.tensor4d(a, [n, g, g, k]);
    const maps = { heatmap: t(hm), rowOffset: t(ro), colOffset: t(co) };
    const ref = decodeKeypoints(maps);
    const toNchw = (a: Float32Array) => tf.tidy(() => t(a).transpose([0, 3, 1, 2]).dataSync() as Float32Array);
    const a = decodeMaps({ heatmap: hm, rowOffset: ro, colOffset: co, n, nKeypoints: k, grid: g, layout: 'NHWC' });
    const b = decodeMaps({ heatmap: toNchw(hm), rowOffset: toNchw(ro), colOffset: toNchw(co), n, nKeypoints: k, grid: g, layout: 'NCHW' });
    for (const got of [a, b]) {
      for (const f of ['x', 'y', 'likelihood'] as const) {
        for (let i = 0; i < n * k; i++) assert.ok(Math.abs(got[f][i] - ref[f][i]) < 1e-5, `${f}[${i}]: ${got[f][i]} vs ${ref[f][i]}`);
      }
    }
    assert.equal(a.likelihood[2 * k + 1], 0.5);
    assert.equal(a.x[2 * k + 1], -4 * 6 * co[2 * g * g * k + 1]);
    tf.dispose(Object.values(maps));
    assert.throws(() => decodeMaps({ heatmap: hm.subarray(1), rowOffset: ro, colOffset: co, n, nKeypoints: k, grid: g, layout: 'NHWC' }), ShapeError);
  });
});
