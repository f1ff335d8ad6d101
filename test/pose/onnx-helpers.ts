/** Helpers of the export and tracking specs: FMnets whose batch norms are not the identity, and model folders. */
import * as tf from '@tensorflow/tfjs';
import { createFMnet, saveModel, type FMnetConfig } from '../../src/pose';
import { isBatchNormLayer } from '../../src/pose/fast-batchnorm';
import { Rng } from '../../src/util/random';

/**
 * Gives every batch norm seeded random statistics (gamma of both signs when `negative`, beta, mean,
 * variance): a fresh FMnet's batch norms are the identity, which would hide folding errors.
 */
export function randomizeBatchNorms(model: tf.LayersModel, seed: number, negative = true): void {
  const rng = new Rng(seed);
  for (const layer of model.layers) {
    if (!isBatchNormLayer(layer)) continue;
    const n = layer.getWeights()[0].shape[0] as number;
    const vec = (f: () => number) => tf.tensor1d(Float32Array.from({ length: n }, f));
    const ws = [
      vec(() => (negative && rng.uniform() < 0.25 ? -1 : 1) * (0.5 + rng.uniform())),
      vec(() => 0.4 * (rng.uniform() - 0.5)),
      vec(() => 0.4 * (rng.uniform() - 0.5)),
      vec(() => 0.5 + rng.uniform()),
    ];
    layer.setWeights(ws);
    tf.dispose(ws);
  }
}

/** A small FMnet (input 64, channels [4, 8, 8, 8, 12]) with random batch norms. */
export function smallFMnet(nKeypoints: number, seed = 1, config: Partial<FMnetConfig> = {}): tf.LayersModel {
  const model = createFMnet({ nKeypoints, channels: [4, 8, 8, 8, 12], inputSize: 64, seed, ...config });
  randomizeBatchNorms(model, seed + 100);
  return model;
}

/** Saves `model` as a model folder with keypoints named kp0, kp1, ... */
export async function saveTestModel(dir: string, model: tf.LayersModel, box: { x0: number; x1: number; y0: number; y1: number } | null = null): Promise<string[]> {
  const K = model.outputs[0].shape[3] as number;
  const keypoints = Array.from({ length: K }, (_, k) => `kp${k}`);
  const cfg = model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => (l.getConfig() as { filters: number }).filters);
  await saveModel(dir, model, { keypoints, channels: [cfg[1], cfg[3], cfg[5], cfg[7], cfg[9]], inputSize: model.inputs[0].shape[1] as number, box });
  return keypoints;
}
