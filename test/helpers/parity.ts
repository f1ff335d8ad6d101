/** Shared helpers for kernel parity tests: seeded inputs, relative error, leak-checked runs. */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';

/** Tolerance of every kernel parity test: max |a - b| / max |b|. */
export const PARITY_TOL = 1e-5;

export type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

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
