/** Tolerance: 1e-6 relative to hand-computed float64 values (float32 arithmetic). */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ParamError } from '../../src/errors';
import { AdamW, facemapLearningRate } from '../../src/pose';
import { useWasm } from './setup';

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

describe('pose/optim: AdamW', () => {
  before(useWasm);

  it('matches a hand-computed two-step AdamW update with decoupled weight decay', () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const before = tf.memory().numTensors;
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.5, clipNorm: Infinity });
    const afterCtor = tf.memory().numTensors;
    const g1 = tf.tensor1d([0.5, -1]);
    opt.step([g1]);
    // Step 1: m = 0.1 g, v = 0.001 g^2; mhat = g, vhat = g^2: update = lr * g/(|g| + eps) = lr * sign(g).
    const w1 = [1 * (1 - 0.1 * 0.5) - 0.1 * (0.5 / (0.5 + 1e-8)), -2 * (1 - 0.05) + 0.1 * (1 / (1 + 1e-8))];
    const got1 = p.dataSync();
    close(got1[0], w1[0], 'step 1 p0');
    close(got1[1], w1[1], 'step 1 p1');
    const g2 = tf.tensor1d([1, 0]);
    opt.step([g2]);
    const m = [0.9 * 0.05 + 0.1 * 1, 0.9 * -0.1 + 0];
    const v = [0.999 * 0.00025 + 0.001 * 1, 0.999 * 0.001 + 0];
    const bc1 = 1 - 0.9 ** 2;
    const bc2 = 1 - 0.999 ** 2;
    const w2 = w1.map((w, i) => w * (1 - 0.05) - (0.1 * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + 1e-8));
    const got2 = p.dataSync();
    close(got2[0], w2[0], 'step 2 p0');
    close(got2[1], w2[1], 'step 2 p1');
    tf.dispose([g1, g2]);
    assert.equal(tf.memory().numTensors, afterCtor, 'step leaked tensors');
    opt.dispose();
    assert.equal(tf.memory().numTensors, before, 'dispose left moments behind');
    p.dispose();
  });

  it('clips the global gradient norm to 50 (PyTorch clip_grad_norm_)', () => {
    const a = tf.variable(tf.zeros([3]));
    const b = tf.variable(tf.zeros([1]));
    const opt = new AdamW([a, b], { lr: 1 });
    const ga = tf.tensor1d([300, 0, 0]);
    const gb = tf.tensor1d([400]);
    opt.step({ [a.name]: ga, [b.name]: gb });
    close(opt.lastGradNorm, 500, 'norm');
    // Adam's first step is lr * sign(g) whatever the scale, so check the moments through a second
    // step with a zero gradient: m = 0.9 * 0.1 * g_clipped, v = 0.999 * 0.001 * g_clipped^2.
    const zeros = [tf.zerosLike(ga), tf.zerosLike(gb)];
    const p1 = a.dataSync()[0];
    opt.step(zeros);
    const gc = 300 * (50 / (500 + 1e-6));
    const m = 0.9 * 0.1 * gc;
    const v = 0.999 * 0.001 * gc * gc;
    close(a.dataSync()[0], p1 - m / (1 - 0.81) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8), 'step 2');
    tf.dispose([ga, gb, ...zeros, a, b]);
    opt.dispose();
  });

  it('follows Facemap\'s schedule: /10 for epochs [-6, -3), /25 for the last 3', () => {
    const lrs = Array.from({ length: 10 }, (_, e) => facemapLearningRate(e, 10, 1e-3));
    assert.deepEqual(lrs.map((l) => +(1e-3 / l).toFixed(6)), [1, 1, 1, 1, 10, 10, 10, 25, 25, 25]);
    assert.throws(() => facemapLearningRate(-1, 10, 1), ParamError);
    assert.throws(() => new AdamW([], { lr: 0 }), ParamError);
  });
});
