/**
 * Parity of the wasm gradient kernels with tfjs's cpu backend on random inputs.
 * Tolerance: max |wasm - cpu| / max |cpu| < 1e-5 for every gradient (float32 both sides).
 * Nearest-neighbour upsampling is checked against the exact adjoint instead, because tfjs's own cpu
 * kernel for it is wrong for batches > 1 (we replace it; the FMnet block test relies on that).
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { PARITY_TOL, fmnetBlockGrads, on, randn, relErr, type ConvCase } from '../helpers/parity';
import { initBackend } from '../../src/engine/backend';
import {
  installCpuGradientFixes,
  installWasmGradientKernels,
  uninstallWasmGradientKernels,
} from '../../src/engine/gradient-kernels';

const TOL = PARITY_TOL;

const CASES: ConvCase[] = [
  { name: 'FMnet 3x3, stride 1, same', x: [2, 16, 16, 8], w: [3, 3, 8, 12], stride: 1, pad: 'same' },
  { name: 'FMnet first unit, 1 input channel', x: [2, 32, 32, 1], w: [3, 3, 1, 8], stride: 1, pad: 'same' },
  { name: '3x3 explicit pad 1', x: [1, 12, 10, 4], w: [3, 3, 4, 6], stride: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { name: '1x1 head', x: [2, 16, 16, 16], w: [1, 1, 16, 15], stride: 1, pad: 'valid' },
  { name: '3x3 valid', x: [2, 11, 9, 3], w: [3, 3, 3, 5], stride: 1, pad: 'valid' },
  { name: '3x3 stride 2 same (odd size)', x: [2, 15, 13, 4], w: [3, 3, 4, 6], stride: 2, pad: 'same' },
  { name: '3x3 stride 2 valid', x: [1, 14, 14, 3], w: [3, 3, 3, 4], stride: 2, pad: 'valid' },
  { name: '2x2 same (asymmetric padding)', x: [1, 9, 8, 3], w: [2, 2, 3, 4], stride: 1, pad: 'same' },
  { name: '5x5 stride 2 numeric pad 2', x: [1, 13, 11, 2], w: [5, 5, 2, 3], stride: 2, pad: 2 },
  { name: '3x3 stride [2,1] same', x: [1, 13, 11, 2], w: [3, 3, 2, 3], stride: [2, 1], pad: 'same' },
  { name: 'Conv1d encoder: width 201 as 1x201', x: [3, 1, 400, 1], w: [1, 201, 1, 10], stride: 1, pad: 'same' },
];

describe('wasm gradient kernels', function () {
  before(async () => {
    await initBackend({ backend: 'wasm' });
    installWasmGradientKernels();
    installCpuGradientFixes();
  });
  after(async () => {
    await tf.setBackend('wasm');
  });

  for (const c of CASES) {
    it(`dx and dW match cpu: ${c.name}`, async () => {
      const xv = randn(c.x, 1);
      const wv = randn(c.w, 2);
      const y = tf.tidy(() => tf.conv2d(tf.tensor4d(xv, c.x), tf.tensor4d(wv, c.w), c.stride, c.pad));
      const dyv = randn(y.shape, 3);
      const dyShape = y.shape;
      y.dispose();
      const grads = () => {
        const x = tf.tensor4d(xv, c.x);
        const w = tf.tensor4d(wv, c.w);
        const dy = tf.tensor(dyv, dyShape) as tf.Tensor4D;
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad),
        );
        return g([x, w], dy);
      };
      const [dxCpu, dwCpu] = await on('cpu', grads);
      const [dxWasm, dwWasm] = await on('wasm', grads);
      assert.ok(relErr(dxWasm, dxCpu) < TOL, `dx relative error ${relErr(dxWasm, dxCpu)}`);
      assert.ok(relErr(dwWasm, dwCpu) < TOL, `dW relative error ${relErr(dwWasm, dwCpu)}`);
    });
  }

  for (const [pad, label] of [[1, 'pad 1 (FMnet, PyTorch-style)'], ['same', 'same'], ['valid', 'valid']] as const) {
    it(`max-pool 3x3 stride 2 ${label}: dx matches cpu with batch and channels > 1`, async () => {
      const shape: [number, number, number, number] = [2, 16, 15, 3];
      const xv = randn(shape, 7);
      const grads = () =>
        tf.grads((x: tf.Tensor) => {
          const p = tf.maxPool(x as tf.Tensor4D, 3, 2, pad, pad === 1 ? 'floor' : undefined);
          return tf.sum(tf.mul(p, tf.randomNormal(p.shape, 0, 1, 'float32', 8)));
        })([tf.tensor4d(xv, shape)]);
      const [cpu] = await on('cpu', grads);
      const [wasm] = await on('wasm', grads);
      assert.ok(relErr(wasm, cpu) < TOL, `relative error ${relErr(wasm, cpu)}`);
    });
  }

  for (const [alignCorners, halfPixelCenters, size] of [
    [false, false, [16, 16]],
    [false, false, [16, 13]],
    [true, false, [16, 13]],
    [false, true, [16, 13]],
    [false, false, [5, 4]],
  ] as const) {
    it(`nearest resize to ${size} (alignCorners ${alignCorners}, halfPixelCenters ${halfPixelCenters}): dx is the exact adjoint on cpu and wasm`, async () => {
      // The forward map is linear, so <grad, v> must equal L(v) for L(x) = <resize(x), w>.
      const shape: [number, number, number, number] = [2, 8, 8, 3];
      const outShape = [2, size[0], size[1], 3];
      const xv = randn(shape, 9);
      const vv = randn(shape, 10);
      const wv = randn(outShape, 11);
      const loss = (x: tf.Tensor) =>
        tf.sum(tf.mul(tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [size[0], size[1]], alignCorners, halfPixelCenters), tf.tensor(wv, outShape)));
      for (const backend of ['cpu', 'wasm'] as const) {
        const [g] = await on(backend, () => [tf.grad(loss)(tf.tensor4d(xv, shape))]);
        const [lv] = await on(backend, () => [loss(tf.tensor4d(vv, shape))]);
        let dot = 0;
        let scale = 0;
        for (let i = 0; i < g.length; i++) {
          dot += g[i] * vv[i];
          scale += Math.abs(g[i] * vv[i]);
        }
        assert.ok(Math.abs(dot - lv[0]) / scale < TOL, `${backend}: <grad, v> = ${dot} but L(v) = ${lv[0]}`);
      }
    });
  }

  it('tf.conv1d gradients (the encoder layer) match cpu', async () => {
    const xv = randn([2, 300, 1], 4);
    const wv = randn([31, 1, 10], 5);
    const dyv = randn([2, 300, 10], 6);
    const grads = () =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv1d(a as tf.Tensor3D, b as tf.Tensor3D, 1, 'same'))(
        [tf.tensor3d(xv, [2, 300, 1]), tf.tensor3d(wv, [31, 1, 10])],
        tf.tensor3d(dyv, [2, 300, 10]),
      );
    const cpu = await on('cpu', grads);
    const wasm = await on('wasm', grads);
    cpu.forEach((g, i) => assert.ok(relErr(wasm[i], g) < TOL, `grad ${i}: ${relErr(wasm[i], g)}`));
  });

  it('every gradient of an FMnet-shaped block matches cpu (BN, ReLU, max-pool, upsample, concat, heads)', async () => {
    const grads = fmnetBlockGrads();
    const cpu = await on('cpu', grads);
    const wasm = await on('wasm', grads);
    assert.equal(cpu.length, 8);
    const errs = cpu.map((g, i) => relErr(wasm[i], g));
    errs.forEach((e, i) => assert.ok(e < TOL, `gradient ${i}: relative error ${e} (all: ${errs.join(", ")})`));
  });

  it('without the added kernels, stock wasm cannot compute dW (why they exist)', async () => {
    uninstallWasmGradientKernels();
    try {
      await tf.setBackend('wasm');
      assert.throws(
        () =>
          tf.tidy(() =>
            tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')))(
              tf.ones([3, 3, 1, 1]),
            ),
          ),
        /Conv2DBackpropFilter/,
      );
    } finally {
      installWasmGradientKernels();
    }
  });
});
