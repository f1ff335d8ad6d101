/**
 * The ONNX Runtime training step (src/pose/ort-train.ts) against the tfjs step on a small FMnet
 * (channels [4, 6, 8, 8, 10], input 64, 3 keypoints, one of them unlabelled in one image): loss,
 * every gradient, the BatchNorm running statistics, and the weights after a few AdamW steps.
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ortAvailable } from '../../src/engine/onnx';
import { AdamW, createFMnet, fmnetForward, fmnetLoss, fmnetTrainStep, fmnetTrainableVariables, makeTargets, targetsToTensors } from '../../src/pose';
import { buildFMnetTrainGraph, OrtFMnetStep, ortStepSupport } from '../../src/pose/ort-train';
import { ParamError } from '../../src/errors';
import { Rng } from '../../src/util/random';
import { relErr } from '../helpers/parity';
import { useWasm } from './setup';

const CHANNELS = [4, 6, 8, 8, 10];
const S = 64;
const K = 3;

function batch(n: number, seed: number): { images: Float32Array; kp: Float32Array } {
  const rng = new Rng(seed);
  const images = Float32Array.from({ length: n * S * S }, () => rng.normal());
  const kp = Float32Array.from({ length: n * K * 2 }, () => 4 + (S - 8) * rng.uniform());
  kp[2] = NaN; // image 0, keypoint 1: unlabelled
  kp[3] = NaN;
  return { images, kp };
}

describe('pose/ort-train: FMnet training step on ONNX Runtime', function () {
  before(async function () {
    if (!ortAvailable()) this.skip();
    await useWasm();
  });

  /** Loss and gradients of the tfjs step of `model` on the current backend. */
  function tfjsGrads(model: tf.LayersModel, images: Float32Array, targets: ReturnType<typeof makeTargets>, n: number): { loss: number; grads: Float32Array[] } {
    const vars = fmnetTrainableVariables(model);
    const tt = targetsToTensors(targets);
    const x = tf.tensor4d(images, [n, S, S, 1]);
    const { value, grads } = tf.variableGrads(() => fmnetLoss(fmnetForward(model, x, { training: true }), tt, { normalizeHeatmap: true }), vars);
    const out = { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync() as Float32Array) };
    tf.dispose([value, x, ...Object.values(grads), ...Object.values(tt)]);
    return out;
  }

  it('gives the loss, every gradient and the batch statistics of the tfjs step (rel. 1e-4)', async () => {
    const n = 3;
    const { images, kp } = batch(n, 5);
    const targets = makeTargets(kp, n, K, S / 4);
    const a = createFMnet({ nKeypoints: K, channels: CHANNELS, inputSize: S, seed: 3 });
    const b = createFMnet({ nKeypoints: K, channels: CHANNELS, inputSize: S, seed: 3 });
    const ort = new OrtFMnetStep(b);
    try {
      const vars = fmnetTrainableVariables(a);
      const { loss: refLoss, grads: ref } = tfjsGrads(a, images, targets, n);
      // The same on tfjs's cpu backend (float32 kernels, other summation orders): where the two tfjs
      // backends themselves differ by more than 1e-4 (the image batch norm's gamma, a sum that
      // cancels almost entirely), the tolerance is 4x their difference.
      await tf.setBackend('cpu');
      const c = createFMnet({ nKeypoints: K, channels: CHANNELS, inputSize: S, seed: 3 });
      const cpu = tfjsGrads(c, images, targets, n).grads;
      c.dispose();
      await useWasm();

      const r = ort.run(images, targets, n);
      assert.ok(Math.abs(r.loss - refLoss) <= 1e-4 * Math.abs(refLoss), `loss ${r.loss} vs tfjs ${refLoss}`);
      assert.equal(r.grads.length, ref.length);
      let loose = 0;
      r.grads.forEach((gr, i) => {
        const e = relErr(gr, ref[i]);
        const tol = Math.max(1e-4, 4 * relErr(cpu[i], ref[i]));
        if (tol > 1e-4) loose++;
        assert.ok(e < tol, `gradient of ${vars[i].name}: relative error ${e} (tolerance ${tol})`);
        assert.ok(ref[i].some((v) => v !== 0), `gradient of ${vars[i].name} is all zero: the test would not see it`);
      });
      assert.ok(loose <= 2, `${loose} gradients needed a tolerance above 1e-4`);
      // Running statistics: the tfjs forward updated a's; apply the ORT batch statistics to b's.
      ort.updateBatchNormStats(r, n);
      const wa = a.getWeights().map((w) => w.dataSync() as Float32Array);
      const wb = b.getWeights().map((w) => w.dataSync() as Float32Array);
      wa.forEach((w, i) => assert.ok(relErr(wb[i], w) < 1e-4, `weight ${a.weights[i].name}: relative error ${relErr(wb[i], w)}`));
    } finally {
      ort.dispose();
      a.dispose();
      b.dispose();
    }
  });

  it('a few AdamW steps end at the weights of the tfjs steps', () => {
    const n = 2;
    // Fixed seeds on purpose: where a ReLU's input lies within rounding of 0, the two engines
    // (float64 batch statistics in FastBatchNorm, float32 in ONNX Runtime) can disagree on its
    // sign, so that pixel's gradient flips from dy to 0; it happens for some seeds (model seed 8
    // here: one beta component off by 1%, then the runs drift apart), not for these.
    const a = createFMnet({ nKeypoints: K, channels: CHANNELS, inputSize: S, seed: 3 });
    const b = createFMnet({ nKeypoints: K, channels: CHANNELS, inputSize: S, seed: 3 });
    // eps 0.1: Adam's first steps move every weight by about lr * sign(g) whatever |g|, so a
    // gradient that is ~0 (rounding noise in both engines) would flip a weight by 2 lr at random;
    // with a large eps small gradients move weights in proportion, and the comparison tests the
    // step (gradients, running statistics, weights read back each step), not that amplification.
    const oa = new AdamW(fmnetTrainableVariables(a), { lr: 1e-3, weightDecay: 1e-4, eps: 0.1 });
    const ob = new AdamW(fmnetTrainableVariables(b), { lr: 1e-3, weightDecay: 1e-4, eps: 0.1 });
    const ort = new OrtFMnetStep(b);
    try {
      const lossA: number[] = [];
      const lossB: number[] = [];
      for (let step = 0; step < 4; step++) {
        const { images, kp } = batch(n, 100 + step);
        const targets = makeTargets(kp, n, K, S / 4);
        const tt = targetsToTensors(targets);
        const x = tf.tensor4d(images, [n, S, S, 1]);
        lossA.push(fmnetTrainStep(a, oa, x, tt));
        tf.dispose([x, ...Object.values(tt)]);
        lossB.push(ort.step(ob, images, targets, n));
      }
      lossA.forEach((l, i) => assert.ok(Math.abs(lossB[i] - l) <= 1e-4 * Math.abs(l), `step ${i}: loss ${lossB[i]} vs tfjs ${l}`));
      const wa = a.getWeights().map((w) => w.dataSync() as Float32Array);
      const wb = b.getWeights().map((w) => w.dataSync() as Float32Array);
      let worst = 0;
      wa.forEach((w, i) => {
        const e = relErr(wb[i], w);
        worst = Math.max(worst, e);
        assert.ok(e < 1e-4, `weight ${a.weights[i].name} after 4 steps: relative error ${e}`);
      });
      const fresh = createFMnet({ nKeypoints: K, channels: CHANNELS, inputSize: S, seed: 3 });
      const moved = Math.max(...fresh.getWeights().map((w, i) => relErr(wa[i], w.dataSync() as Float32Array)));
      fresh.dispose();
      assert.ok(moved > 100 * worst, `training moved the weights by ${moved} only (engines differ by ${worst})`);
      console.log(`      (worst weight error after 4 steps: ${worst.toExponential(2)})`);
    } finally {
      ort.dispose();
      oa.dispose();
      ob.dispose();
      a.dispose();
      b.dispose();
    }
  });

  it('reports layers it cannot train, and rejects a bad batch size', () => {
    const m = createFMnet({ nKeypoints: K, channels: CHANNELS, inputSize: S, seed: 1 });
    try {
      assert.deepEqual(ortStepSupport(m), { ok: true });
      assert.throws(() => buildFMnetTrainGraph(m, 0), ParamError);
      const input = tf.input({ shape: [S, S, 1] });
      const odd = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor });
      const s = ortStepSupport(odd);
      assert.equal(s.ok, false);
      odd.dispose();
    } finally {
      m.dispose();
    }
  });
});
