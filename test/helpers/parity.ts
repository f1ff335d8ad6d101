/** Shared helpers for kernel parity tests: seeded inputs, relative error, leak-checked runs. */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';

/** Tolerance of every kernel parity test: max |a - b| / max |b|. */
export const PARITY_TOL = 1e-5;

export type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

/** One convolution configuration of a parity test. */
export interface ConvCase {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number | [number, number];
  pad: Pad;
  /** Runs fully on ONNX Runtime (FMnet's configurations); others may fall back for some kernel. */
  fmnet?: boolean;
}

/** Seeded standard-normal values of `shape` (backend-independent: generated in JS by tfjs). */
export function randn(shape: number[], seed: number): Float32Array {
  return tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync() as Float32Array);
}

/** max |a - b| / max |b| (b the reference). */
export function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return diff / (ref || 1);
}

/** Runs `fn` on a backend and returns its outputs as plain arrays; asserts nothing leaks. */
export async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const dataIdsBefore = tf.engine().backend.numDataIds();
  const outs = tf.tidy(fn);
  const vals = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  assert.equal(tf.engine().backend.numDataIds(), dataIdsBefore, `${backend}: backend buffers leaked`);
  return vals;
}

/**
 * Gradients of every input of a small FMnet-shaped block (BatchNorm -> conv -> ReLU -> max-pool
 * 3/2/pad 1 -> conv -> nearest x2 upsample -> concat -> conv -> 1x1 head with bias -> sigmoid),
 * as a function to run on each backend with {@link on}. Eight gradients: x, three convs, the head
 * weights and bias, BN gamma and beta.
 */
export function fmnetBlockGrads(): () => tf.Tensor[] {
  const xShape: [number, number, number, number] = [2, 16, 16, 1];
  const shapes: number[][] = [
    [3, 3, 1, 8], // conv at 16 px
    [3, 3, 8, 12], // conv at 8 px after pool
    [3, 3, 20, 8], // decoder conv after upsample + concat
    [1, 1, 8, 3], // head
    [3], // head bias
    [1], // BN gamma (first unit: BatchNorm(1) -> conv)
    [1], // BN beta
  ];
  const xv = randn(xShape, 10);
  const params = shapes.map((s, i) => randn(s, 20 + i));
  const loss = (inputs: tf.Tensor[]) => {
    const [x, w1, w2, w3, wh, bh, gamma, beta] = inputs;
    const m = tf.moments(x, [0, 1, 2]);
    const xn = tf.batchNorm(x, m.mean, m.variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-5);
    const a1 = tf.conv2d(xn as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same');
    const p = tf.maxPool(tf.relu(a1), 3, 2, 1, 'floor');
    const a2 = tf.relu(tf.conv2d(p, w2 as tf.Tensor4D, 1, 'same'));
    const up = tf.image.resizeNearestNeighbor(a2, [16, 16]);
    const cat = tf.concat([up, a1], 3);
    const a3 = tf.relu(tf.conv2d(cat, w3 as tf.Tensor4D, 1, 'same'));
    const head = tf.add(tf.conv2d(a3, wh as tf.Tensor4D, 1, 'valid'), bh);
    return tf.sum(tf.mul(tf.sigmoid(head), tf.linspace(0.5, 1.5, 3))) as tf.Scalar;
  };
  return () => {
    const inputs = [tf.tensor4d(xv, xShape), ...params.map((p, i) => tf.tensor(p, shapes[i]))];
    return tf.grads((...args: tf.Tensor[]) => loss(args))(inputs);
  };
}
