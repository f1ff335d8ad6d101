/** Shared setup of the pose specs: the wasm backend with facemap-ts's gradient kernels. */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';

/** Makes wasm the active backend (other specs may have switched to cpu). */
export async function useWasm(): Promise<void> {
  await initBackend({ backend: 'wasm' });
  await tf.setBackend('wasm');
}

/** Runs fn and asserts it left tf.memory().numTensors unchanged once its result is disposed by `cleanup`. */
export function noLeak<T>(what: string, fn: () => T, cleanup: (r: T) => void = () => {}): T {
  const before = tf.memory().numTensors;
  const r = fn();
  cleanup(r);
  assert.equal(tf.memory().numTensors, before, `${what} leaked tensors`);
  return r;
}
