/**
 * Parity of the ONNX Runtime convolution kernels (installed on the wasm backend) with tfjs's cpu
 * backend on random inputs: max |ort - cpu| / max |cpu| < 1e-5 for forward, dx and dW; no tensors
 * or backend buffers leak; FMnet's configurations really run on ORT (no fallback).
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { PARITY_TOL, fmnetBlockGrads, on, randn, relErr, type ConvCase } from '../helpers/parity';
import { initBackend } from '../../src/engine/backend';
import { installCpuGradientFixes, installWasmGradientKernels } from '../../src/engine/gradient-kernels';
import {
  installOrtConvKernels,
  ortConvKernelsInstalled,
  ortConvStats,
  uninstallOrtConvKernels,
} from '../../src/engine/ort-kernels';
import { ortAvailable } from '../../src/engine/onnx';

const TOL = PARITY_TOL;

const CASES: ConvCase[] = [
  { name: 'FMnet 3x3, stride 1, same', x: [2, 16, 16, 8], w: [3, 3, 8, 12], stride: 1, pad: 'same', fmnet: true },
  { name: 'FMnet first unit, 1 input channel', x: [2, 32, 32, 1], w: [3, 3, 1, 8], stride: 1, pad: 'same', fmnet: true },
  { name: 'FMnet 3x3 pad 1', x: [1, 12, 10, 4], w: [3, 3, 4, 6], stride: 1, pad: 1, fmnet: true },
  { name: '3x3 explicit pad 1', x: [1, 12, 10, 4], w: [3, 3, 4, 6], stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]], fmnet: true },
  { name: 'FMnet 1x1 head', x: [2, 16, 16, 16], w: [1, 1, 16, 15], stride: 1, pad: 'valid', fmnet: true },
  { name: '3x3 valid', x: [2, 11, 9, 3], w: [3, 3, 3, 5], stride: 1, pad: 'valid', fmnet: true },
  { name: '3x3 stride 2 same (odd size)', x: [2, 15, 13, 4], w: [3, 3, 4, 6], stride: 2, pad: 'same' },
  { name: '3x3 stride 2 valid', x: [1, 14, 14, 3], w: [3, 3, 3, 4], stride: 2, pad: 'valid' },
  { name: '2x2 same (asymmetric padding)', x: [1, 9, 8, 3], w: [2, 2, 3, 4], stride: 1, pad: 'same', fmnet: true },
  { name: '5x5 stride 2 numeric pad 2', x: [1, 13, 11, 2], w: [5, 5, 2, 3], stride: 2, pad: 2 },
  { name: '3x3 stride [2,1] same', x: [1, 13, 11, 2], w: [3, 3, 2, 3], stride: [2, 1], pad: 'same' },
  { name: 'Conv1d encoder: width 201 as 1x201', x: [3, 1, 400, 1], w: [1, 201, 1, 10], stride: 1, pad: 'same', fmnet: true },
];

describe('ONNX Runtime conv kernels on wasm', function () {
  before(async function () {
    if (!ortAvailable()) this.skip();
    await initBackend({ backend: 'wasm' });
    installWasmGradientKernels();
    installCpuGradientFixes();
    assert.deepEqual(installOrtConvKernels(), ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']);
  });
  after(async () => {
    uninstallOrtConvKernels();
    await tf.setBackend('wasm');
  });

  for (const c of CASES) {
    it(`forward, dx and dW match cpu: ${c.name}`, async () => {
      const xv = randn(c.x, 1);
      const wv = randn(c.w, 2);
      const y = tf.tidy(() => tf.conv2d(tf.tensor4d(xv, c.x), tf.tensor4d(wv, c.w), c.stride, c.pad));
      const dyv = randn(y.shape, 3);
      const dyShape = y.shape;
      y.dispose();
      const run = () => {
        const x = tf.tensor4d(xv, c.x);
        const w = tf.tensor4d(wv, c.w);
        const dy = tf.tensor(dyv, dyShape) as tf.Tensor4D;
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad);
        return [f(x, w), ...tf.grads(f)([x, w], dy)];
      };
      const cpu = await on('cpu', run);
      const before = { ...ortConvStats };
      const ort = await on('wasm', run);
      const names = ['forward', 'dx', 'dW'];
      cpu.forEach((g, i) => assert.ok(relErr(ort[i], g) < TOL, `${names[i]} relative error ${relErr(ort[i], g)}`));
      if (c.fmnet) {
        assert.equal(ortConvStats.fallback, before.fallback, 'fell back to XNNPACK');
        // tf.grads runs the forward pass again: forward twice, dx, dW.
        assert.equal(ortConvStats.ort - before.ort, 4, 'four ORT calls');
      }
    });
  }

  for (const activation of ['linear', 'relu'] as const) {
    it(`fused conv2d with bias and ${activation} (tfjs-layers' path) and its gradients match cpu`, async () => {
      const xs: [number, number, number, number] = [2, 10, 9, 5];
      const ws: [number, number, number, number] = [3, 3, 5, 7];
      const xv = randn(xs, 4);
      const wv = randn(ws, 5);
      const bv = randn([7], 6);
      const dyv = randn([2, 10, 9, 7], 7);
      const run = () => {
        const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
          tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation });
        const args = [tf.tensor4d(xv, xs), tf.tensor4d(wv, ws), tf.tensor1d(bv)];
        return [f(args[0], args[1], args[2]), ...tf.grads(f)(args, tf.tensor4d(dyv, [2, 10, 9, 7]))];
      };
      const cpu = await on('cpu', run);
      const before = { ...ortConvStats };
      const ort = await on('wasm', run);
      cpu.forEach((g, i) => assert.ok(relErr(ort[i], g) < TOL, `output ${i} relative error ${relErr(ort[i], g)}`));
      assert.equal(ortConvStats.fallback, before.fallback, 'fell back to XNNPACK');
    });
  }

  it('a tfjs-layers conv2d layer with bias runs on ORT and matches cpu', async () => {
    const xv = randn([2, 12, 12, 3], 8);
    const run = () => {
      const layer = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: true, biasInitializer: 'randomNormal', kernelInitializer: tf.initializers.randomNormal({ seed: 9 }) });
      const x = tf.tensor4d(xv, [2, 12, 12, 3]);
      layer.build(x.shape);
      const wv = randn([3, 3, 3, 6], 10);
      const bvals = randn([6], 11);
      layer.setWeights([tf.tensor4d(wv, [3, 3, 3, 6]), tf.tensor1d(bvals)]);
      const y = layer.apply(x) as tf.Tensor;
      const out = [y.clone()];
      for (const v of layer.weights) v.dispose();
      return out;
    };
    const cpu = await on('cpu', run);
    const before = ortConvStats.ort;
    const ort = await on('wasm', run);
    assert.ok(relErr(ort[0], cpu[0]) < TOL, `relative error ${relErr(ort[0], cpu[0])}`);
    assert.ok(ortConvStats.ort > before, 'ran on ORT');
  });

  it('every gradient of an FMnet-shaped block matches cpu (BN, ReLU, max-pool, upsample, concat, heads)', async () => {
    const grads = fmnetBlockGrads();
    const cpu = await on('cpu', grads);
    const before = { ...ortConvStats };
    const ort = await on('wasm', grads);
    const errs = cpu.map((g, i) => relErr(ort[i], g));
    errs.forEach((e, i) => assert.ok(e < TOL, `gradient ${i}: relative error ${e} (all: ${errs.join(', ')})`));
    assert.equal(ortConvStats.fallback, before.fallback, 'fell back to XNNPACK');
  });

  it('an activation the ORT kernels do not fuse (relu6) falls back and still matches cpu', async () => {
    const xv = randn([1, 8, 8, 3], 12);
    const wv = randn([3, 3, 3, 4], 13);
    const bv = randn([4], 14);
    const run = () => [
      tf.fused.conv2d({
        x: tf.tensor4d(xv, [1, 8, 8, 3]),
        filter: tf.tensor4d(wv, [3, 3, 3, 4]),
        strides: 1,
        pad: 'same',
        bias: tf.tensor1d(bv),
        activation: 'relu6',
      }),
    ];
    const cpu = await on('cpu', run);
    const before = ortConvStats.fallback;
    const ort = await on('wasm', run);
    assert.ok(relErr(ort[0], cpu[0]) < TOL);
    assert.equal(ortConvStats.fallback, before + 1);
  });

  it('uninstall restores the XNNPACK kernels; install is idempotent', async () => {
    await tf.setBackend('wasm');
    const ours = tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc;
    installOrtConvKernels();
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc, ours);
    uninstallOrtConvKernels();
    assert.equal(ortConvKernelsInstalled(), false);
    assert.notEqual(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc, ours);
    const before = ortConvStats.ort;
    tf.tidy(() => tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')))(tf.ones([3, 3, 1, 1])).dataSync());
    assert.equal(ortConvStats.ort, before, 'XNNPACK kernels ran');
    installOrtConvKernels();
    assert.equal(ortConvKernelsInstalled(), true);
  });
});
