import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ParamError, ShapeError } from '../../src/errors';
import { countTrainableParams, createFMnet, fmnetForward, fmnetKeypoints } from '../../src/pose';
import { isBatchNormLayer } from '../../src/pose/fast-batchnorm';
import { useWasm } from './setup';

describe('pose/fmnet', () => {
  before(useWasm);

  it('has exactly Facemap\'s 2,148,271 trainable parameters for 15 keypoints', () => {
    const before = tf.memory().numTensors;
    const model = createFMnet({ nKeypoints: 15, seed: 0 });
    assert.equal(countTrainableParams(model), 2_148_271);
    // Running mean/variance are not trainable: 2 per BatchNorm channel.
    const bnChannels = model.layers.filter((l) => isBatchNormLayer(l)).reduce((s, l) => s + (l.getWeights()[0].shape[0] as number), 0);
    assert.equal(model.countParams(), 2_148_271 + 2 * bnChannels);
    assert.deepEqual(model.outputs.map((o) => o.shape), [
      [null, 64, 64, 15],
      [null, 64, 64, 15],
      [null, 64, 64, 15],
    ]);
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('resizes its heads to any keypoint count', () => {
    for (const k of [1, 7, 22]) {
      const model = createFMnet({ nKeypoints: k, seed: 0 });
      assert.equal(fmnetKeypoints(model), k);
      assert.equal(countTrainableParams(model), 2_148_271 - 3 * 129 * 15 + 3 * 129 * k);
      model.dispose();
    }
  });

  it('runs a small variant on 64x64 input: maps [N,16,16,K], ReLU heatmap, no leaks', () => {
    const model = createFMnet({ nKeypoints: 3, channels: [4, 8, 8, 8, 8], inputSize: 64, seed: 1 });
    const x = tf.randomNormal([2, 64, 64, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    for (const training of [false, true]) {
      const out = fmnetForward(model, x, { training });
      for (const t of Object.values(out)) assert.deepEqual(t.shape, [2, 16, 16, 3]);
      assert.ok(Math.min(...out.heatmap.dataSync()) >= 0);
      tf.dispose(Object.values(out));
      assert.equal(tf.memory().numTensors, before, `training=${training}: tensors leaked`);
    }
    assert.throws(() => fmnetForward(model, tf.zeros([1, 32, 32, 1]) as tf.Tensor4D), ShapeError);
    x.dispose();
    model.dispose();
  });

  it('is deterministic in its seed and initialised like PyTorch (U(+-1/sqrt(fanIn)))', () => {
    const cfg = { nKeypoints: 2, channels: [4, 8, 8, 8, 8], inputSize: 32 };
    const a = createFMnet({ ...cfg, seed: 5 });
    const b = createFMnet({ ...cfg, seed: 5 });
    const c = createFMnet({ ...cfg, seed: 6 });
    const wa = a.getWeights().map((w) => Array.from(w.dataSync()));
    const wb = b.getWeights().map((w) => Array.from(w.dataSync()));
    const wc = c.getWeights().map((w) => Array.from(w.dataSync()));
    assert.deepEqual(wa, wb);
    assert.notDeepEqual(wa, wc);
    const conv = a.getLayer('enc1_0_conv').getWeights()[0]; // 3x3x4x8: fanIn 36
    const vals = conv.dataSync();
    const bound = 1 / Math.sqrt(36);
    assert.ok(vals.every((v) => Math.abs(v) <= bound));
    assert.ok(Math.max(...vals.map(Math.abs)) > 0.8 * bound);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('saves and loads through tf.io with identical predictions', async () => {
    const model = createFMnet({ nKeypoints: 2, channels: [4, 8, 8, 8, 8], inputSize: 32, seed: 2 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    const x = tf.randomNormal([1, 32, 32, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const p = fmnetForward(model, x);
    const q = fmnetForward(loaded, x);
    assert.deepEqual(Array.from(p.rowOffset.dataSync()), Array.from(q.rowOffset.dataSync()));
    tf.dispose([x, ...Object.values(p), ...Object.values(q)]);
    model.dispose();
    loaded.dispose();
  });

  it('rejects bad configs with ParamError', () => {
    assert.throws(() => createFMnet({ nKeypoints: 0 }), ParamError);
    assert.throws(() => createFMnet({ nKeypoints: 2, channels: [1, 2, 3] }), ParamError);
    assert.throws(() => createFMnet({ nKeypoints: 2, inputSize: 100 }), ParamError);
  });
});
