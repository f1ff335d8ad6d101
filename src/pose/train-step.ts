/**
 * One optimisation step of FMnet: forward in training mode, loss, gradients of the optimiser's
 * variables, AdamW update. BatchNorm running stats update as a side effect.
 */
import * as tf from '@tensorflow/tfjs';
import { fmnetForward } from './fmnet';
import { fmnetLoss } from './loss';
import type { AdamW } from './optim';
import type { PoseTargetTensors } from './targets';

/**
 * images [N, S, S, 1] (preprocessed), targets on the S/4 grid. Returns the loss before the update.
 * Leaks no tensors; the caller keeps ownership of images and targets.
 */
export function fmnetTrainStep(model: tf.LayersModel, optimizer: AdamW, images: tf.Tensor4D, targets: PoseTargetTensors): number {
  const { value, grads } = tf.variableGrads(
    () => fmnetLoss(fmnetForward(model, images, { training: true }), targets, { normalizeHeatmap: true }),
    optimizer.variables,
  );
  try {
    optimizer.step(grads);
    return value.dataSync()[0];
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
}
