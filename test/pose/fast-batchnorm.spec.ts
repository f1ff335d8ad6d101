/**
 * FastBatchNorm (FacemapBatchNormTrain kernels) against tf.layers.batchNormalization on the cpu
 * backend: forward, dx, dgamma, dbeta, running statistics; max |fast - stock| / max |stock| < 1e-5.
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { BN_TRAIN_KERNEL } from '../../src/engine/batchnorm-kernels';
import { countTrainableParams, createFMnet, fmnetForward } from '../../src/pose';
import { FastBatchNorm } from '../../src/pose/fast-batchnorm';
import { PARITY_TOL, relErr } from '../helpers/parity';

const TOL = PARITY_TOL;

interface Run {
  y: Float32Array;
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
  movingMean: Float32Array;
  movingVariance: Float32Array;
}

/**
 * One training-mode application of a fresh BN layer (fast or stock) with fixed weights to x, loss
 * sum(y * w); gradients of x, gamma, beta; then the running stats. Checks nothing leaks.
 */
async function runBn(backend: 'cpu' | 'wasm', kind: 'fast' | 'stock', shape: number[], seed: number): Promise<Run> {
  await tf.setBackend(backend);
  const c = shape[shape.length - 1];
  const args = { axis: -1, momentum: 0.9, epsilon: 1e-5 };
  const layer = kind === 'fast' ? new FastBatchNorm(args) : tf.layers.batchNormalization(args);
  const xv = tf.tidy(() => tf.randomNormal(shape, 0.7, 2, 'float32', seed).dataSync() as Float32Array);
  const wv = tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed + 1).dataSync() as Float32Array);
  const x = tf.variable(tf.tensor(xv, shape), true, `x_${kind}_${backend}_${seed}`);
  const w = tf.tensor(wv, shape);
  layer.build(shape);
  const weights = [
    tf.randomUniform([c], 0.5, 1.5, 'float32', seed + 2),
    tf.randomNormal([c], 0, 0.5, 'float32', seed + 3),
    tf.randomNormal([c], 0, 0.3, 'float32', seed + 4),
    tf.randomUniform([c], 0.5, 2, 'float32', seed + 5),
  ];
  layer.setWeights(weights);
  tf.dispose(weights);
  const [gamma, beta] = layer.trainableWeights.map((v) => v.read() as tf.Variable);
  const before = tf.memory().numTensors;
  const idsBefore = tf.engine().backend.numDataIds();
  let y: Float32Array = new Float32Array();
  const { value, grads } = tf.variableGrads(() => {
    const out = layer.apply(x, { training: true }) as tf.Tensor;
    y = out.dataSync() as Float32Array;
    return tf.sum(tf.mul(out, w)) as tf.Scalar;
  }, [x, gamma, beta]);
  const run: Run = {
    y,
    dx: grads[x.name].dataSync() as Float32Array,
    dgamma: grads[gamma.name].dataSync() as Float32Array,
    dbeta: grads[beta.name].dataSync() as Float32Array,
    movingMean: layer.getWeights()[2].dataSync() as Float32Array,
    movingVariance: layer.getWeights()[3].dataSync() as Float32Array,
  };
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, before, `${kind} on ${backend}: tensors leaked`);
  assert.equal(tf.engine().backend.numDataIds(), idsBefore, `${kind} on ${backend}: backend buffers leaked`);
  tf.dispose([x, w]);
  layer.weights.forEach((v) => v.dispose());
  return run;
}

describe('pose/fast-batchnorm', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });
  after(async () => {
    await tf.setBackend('wasm');
  });

  const SHAPES: [string, number[]][] = [
    ['1 channel', [2, 9, 7, 1]],
    ['3 channels, batch 1', [1, 6, 5, 3]],
    ['200 channels', [2, 4, 3, 200]],
    ['32 channels, 16x16', [3, 16, 16, 32]],
  ];
  for (const [name, shape] of SHAPES) {
    it(`matches tf.layers.batchNormalization in training (${name}: [${shape}]) on cpu and wasm`, async () => {
      const ref = await runBn('cpu', 'stock', shape, 11);
      for (const backend of ['cpu', 'wasm'] as const) {
        const got = await runBn(backend, 'fast', shape, 11);
        for (const key of Object.keys(ref) as (keyof Run)[]) {
          const e = relErr(got[key], ref[key]);
          assert.ok(e < TOL, `${backend} ${key}: relative error ${e.toExponential(2)}`);
        }
      }
    });
  }

  it('runs its kernel in training only, and uses the moving statistics in inference', async () => {
    await tf.setBackend('wasm');
    const fast = new FastBatchNorm({ axis: -1, momentum: 0.9, epsilon: 1e-5 });
    const stock = tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5 });
    const x = tf.randomNormal([2, 5, 5, 4], 0, 1, 'float32', 3);
    for (const l of [fast, stock]) l.build(x.shape);
    const w = [tf.fill([4], 1.3), tf.fill([4], 0.2), tf.fill([4], 0.1), tf.fill([4], 2)];
    fast.setWeights(w);
    stock.setWeights(w);
    const ran: string[] = [];
    const profile = await tf.profile(() => {
      tf.dispose(fast.apply(x, { training: false }) as tf.Tensor);
    });
    ran.push(...profile.kernels.map((k) => k.name));
    assert.ok(!ran.includes(BN_TRAIN_KERNEL));
    const a = fast.apply(x) as tf.Tensor;
    const b = stock.apply(x) as tf.Tensor;
    assert.ok(relErr(a.dataSync() as Float32Array, b.dataSync() as Float32Array) < TOL);
    const t = await tf.profile(() => {
      tf.dispose(fast.apply(x, { training: true }) as tf.Tensor);
    });
    assert.ok(t.kernels.some((k) => k.name === BN_TRAIN_KERNEL));
    tf.dispose([a, b, x, ...w]);
    for (const l of [fast, stock]) l.weights.forEach((v) => v.dispose());
  });

  it('FMnet with FastBatchNorm: 2,148,271 params, same training outputs as stock, saves and loads', async () => {
    await tf.setBackend('wasm');
    const cfg = { nKeypoints: 15, seed: 0 };
    const fast = createFMnet(cfg);
    assert.equal(countTrainableParams(fast), 2_148_271);
    assert.equal(fast.layers.filter((l) => l.getClassName() === 'FastBatchNorm').length, 14);
    fast.dispose();

    const small = { nKeypoints: 2, channels: [4, 8, 8, 8, 8], inputSize: 32, seed: 2 };
    const a = createFMnet(small);
    const b = createFMnet({ ...small, batchNorm: 'stock' });
    assert.deepEqual(a.weights.map((v) => v.name.replace(/_\d+$/, '')), b.weights.map((v) => v.name.replace(/_\d+$/, '')));
    const x = tf.randomNormal([2, 32, 32, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const pa = fmnetForward(a, x, { training: true });
    const pb = fmnetForward(b, x, { training: true });
    assert.ok(relErr(pa.heatmap.dataSync() as Float32Array, pb.heatmap.dataSync() as Float32Array) < 1e-4);
    const wa = a.getWeights();
    const wb = b.getWeights();
    for (let i = 0; i < wa.length; i++) assert.ok(relErr(wa[i].dataSync() as Float32Array, wb[i].dataSync() as Float32Array) < TOL, `weight ${i}`);

    let artifacts: tf.io.ModelArtifacts | undefined;
    await a.save(
      tf.io.withSaveHandler(async (art) => {
        artifacts = art;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    assert.match(JSON.stringify(artifacts!.modelTopology), /FastBatchNorm/);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    assert.equal(loaded.layers.filter((l) => l.getClassName() === 'FastBatchNorm').length, 14);
    const p = fmnetForward(a, x);
    const q = fmnetForward(loaded, x);
    assert.deepEqual(Array.from(p.rowOffset.dataSync()), Array.from(q.rowOffset.dataSync()));
    tf.dispose([x, ...Object.values(pa), ...Object.values(pb), ...Object.values(p), ...Object.values(q)]);
    [a, b, loaded].forEach((m) => m.dispose());
  });
});
