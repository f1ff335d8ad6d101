/** Pose metrics on hand-made predictions: every value checked exactly (tolerance 1e-12). */
import * as assert from 'node:assert/strict';
import { ShapeError } from '../../src/errors';
import { poseMetrics, quantile } from '../../src/pose';

describe('pose/metrics', () => {
  it('mean, median, p95, PCK overall and per keypoint, ignoring missing labels', () => {
    // 3 frames x 2 keypoints; errors (dx only): a: 3, 4, 12; b: 6, missing, 0.
    const truth = { x: [0, 0, 0, NaN, 0, 0], y: [0, 0, 0, 0, 0, 0] };
    const pred = { x: [3, 6, 4, 99, 12, 0], y: [0, 0, 0, 0, 0, 0] };
    const m = poseMetrics(pred, truth, ['a', 'b'], { thresholdsPx: [5, 10], fractions: [0.1], referenceSize: [100, 100, 50] });
    assert.equal(m.n, 5);
    assert.ok(Math.abs(m.mean - 25 / 5) < 1e-12);
    assert.equal(m.median, 4);
    assert.ok(Math.abs(m.p95 - (6 + (12 - 6) * 0.8)) < 1e-12, `${m.p95}`); // pos 3.8
    assert.deepEqual(m.pck, { '5px': 3 / 5, '10px': 4 / 5, '0.1ref': 4 / 5 }); // thresholds 10, 10, 5 px by frame
    assert.equal(m.perKeypoint[0].keypoint, 'a');
    assert.equal(m.perKeypoint[0].n, 3);
    assert.ok(Math.abs(m.perKeypoint[0].mean - 19 / 3) < 1e-12);
    assert.equal(m.perKeypoint[0].median, 4);
    assert.deepEqual(m.perKeypoint[0].pck, { '5px': 2 / 3, '10px': 2 / 3, '0.1ref': 2 / 3 });
    assert.equal(m.perKeypoint[1].n, 2);
    assert.equal(m.perKeypoint[1].median, 3);
    assert.deepEqual(m.perKeypoint[1].pck, { '5px': 1 / 2, '10px': 1, '0.1ref': 1 });
  });

  it('a NaN prediction of a labelled keypoint is a miss; no reference size: no fractional PCK', () => {
    const m = poseMetrics({ x: [NaN, 1], y: [0, 0] }, { x: [0, 0], y: [0, 0] }, ['a', 'b']);
    assert.equal(m.n, 2);
    assert.equal(m.mean, Infinity);
    assert.deepEqual(m.pck, { '5px': 0.5, '10px': 0.5 });
    assert.deepEqual(m.fractions, []);
    assert.throws(() => poseMetrics({ x: [0], y: [0] }, { x: [0, 0], y: [0, 0] }, ['a']), ShapeError);
  });

  it('quantile matches numpy linear interpolation', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.ok(Math.abs(quantile([1, 2, 3, 4], 0.95) - 3.85) < 1e-12);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });
});
