/** Tolerances: target sums to 1e-4; losses at the target below 1e-3 (float32, eps 1e-4 in the normalisation). */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { HEATMAP_SUM, decodeKeypoints, fmnetLoss, makeTargets, targetsToTensors } from '../../src/pose';
import type { FMnetOutput, PoseTargetTensors } from '../../src/pose';
import { useWasm } from './setup';

const asPrediction = (t: PoseTargetTensors): FMnetOutput => ({ heatmap: t.heatmap, rowOffset: t.rowOffset, colOffset: t.colOffset });

describe('pose/targets and loss', () => {
  before(useWasm);

  it('heatmaps sum to 10, peak at the keypoint; offsets point back to it; NaN labels are empty', () => {
    const kp = Float32Array.from([100, 60, NaN, NaN, 3, 250]);
    const t = makeTargets(kp, 1, 3, 64);
    const K = 3;
    const sums = [0, 0, 0];
    let peak = 0;
    let peakAt = 0;
    let masked = 0;
    for (let p = 0; p < 64 * 64; p++) {
      for (let k = 0; k < K; k++) sums[k] += t.heatmap[p * K + k];
      if (t.heatmap[p * K] > peak) [peak, peakAt] = [t.heatmap[p * K], p];
      masked += t.offsetMask[p * K];
    }
    assert.ok(Math.abs(sums[0] - HEATMAP_SUM) < 1e-4 && Math.abs(sums[2] - HEATMAP_SUM) < 1e-4);
    assert.equal(sums[1], 0);
    assert.deepEqual(Array.from(t.visible), [1, 0, 1]);
    assert.equal(peakAt, 15 * 64 + 25); // (y, x) / 4
    assert.equal(masked, 29); // cells within 3 of an on-grid point
    const at = (r: number, c: number): number => (r * 64 + c) * K;
    assert.ok(Math.abs(t.colOffset[at(15, 28)] - 0.5) < 1e-6); // 3 cells right of x/4 = 25, in units of 6
    assert.ok(Math.abs(t.rowOffset[at(12, 25)] + 0.5) < 1e-6);
  });

  it('decode(targets(p)) == p to sub-pixel precision', () => {
    const kp = Float32Array.from([101.3, 57.8, 0.4, 255.2, 128, 128, 77.77, 12.01]);
    const t = targetsToTensors(makeTargets(kp, 2, 2, 64));
    const before = tf.memory().numTensors;
    const d = decodeKeypoints(asPrediction(t));
    assert.equal(tf.memory().numTensors, before);
    for (let i = 0; i < 4; i++) {
      assert.ok(Math.abs(d.x[i] - kp[2 * i]) < 1e-3, `x ${d.x[i]} vs ${kp[2 * i]}`);
      assert.ok(Math.abs(d.y[i] - kp[2 * i + 1]) < 1e-3, `y ${d.y[i]} vs ${kp[2 * i + 1]}`);
      assert.ok(d.likelihood[i] > 0.5 && d.likelihood[i] < 1);
    }
    tf.dispose(Object.values(t));
  });

  it('loss is ~0 at the target, positive elsewhere, and masked keypoints contribute nothing', () => {
    const kp = Float32Array.from([40, 40, NaN, 20]);
    const t = targetsToTensors(makeTargets(kp, 1, 2, 16));
    const before = tf.memory().numTensors;
    for (const normalizeHeatmap of [false, true]) {
      const l = fmnetLoss(asPrediction(t), t, { normalizeHeatmap });
      assert.ok(Math.abs(l.dataSync()[0]) < 1e-3, `loss at target ${l.dataSync()[0]}`);
      l.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
    // Garbage in the masked keypoint's maps changes nothing; an error in the visible one does.
    const [hmN, roN, coN] = tf.tidy(() => {
      const mask = tf.tensor([0, 1]).reshape([1, 1, 1, 2]);
      const junk = tf.randomUniform([1, 16, 16, 2], 0, 5, 'float32', 1).mul(mask);
      return [t.heatmap.add(junk), t.rowOffset.add(junk), t.colOffset.sub(junk)] as tf.Tensor4D[];
    });
    const l1 = fmnetLoss({ heatmap: hmN, rowOffset: roN, colOffset: coN }, t, { normalizeHeatmap: false });
    assert.ok(l1.dataSync()[0] < 1e-3);
    const roShift = t.rowOffset.add(0.1) as tf.Tensor4D;
    const l2 = fmnetLoss({ ...asPrediction(t), rowOffset: roShift }, t, { normalizeHeatmap: false });
    // 29 masked cells x 0.1 x 0.5, one visible keypoint.
    assert.ok(Math.abs(l2.dataSync()[0] - 29 * 0.1 * 0.5) < 1e-3, `${l2.dataSync()[0]}`);
    tf.dispose([l1, l2, roShift, hmN, roN, coN, ...Object.values(t)]);
  });

  it('gradients flow to all three maps and are finite at the target', () => {
    const kp = Float32Array.from([30, 20]);
    const t = targetsToTensors(makeTargets(kp, 1, 1, 16));
    const before = tf.memory().numTensors;
    const grads = tf.tidy(() => {
      const g = tf.grads((hm: tf.Tensor, ro: tf.Tensor, co: tf.Tensor) =>
        fmnetLoss({ heatmap: hm, rowOffset: ro, colOffset: co } as FMnetOutput, t),
      );
      const atTarget = g([t.heatmap, t.rowOffset, t.colOffset]);
      const off = tf.tidy(() => [t.heatmap.mul(0.5), t.rowOffset.add(0.2), t.colOffset]);
      const away = g(off);
      return [...atTarget, ...away];
    });
    const vals = grads.map((g) => g.dataSync());
    assert.ok(vals.every((v) => v.every(Number.isFinite)));
    for (const i of [3, 4]) assert.ok(vals[i].some((v) => v !== 0), `gradient ${i} is zero`);
    tf.dispose(grads);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose(Object.values(t));
  });
});
