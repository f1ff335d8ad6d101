/**
 * `FastBatchNorm`: tf.layers.batchNormalization with a fast training mode.
 *
 * A subclass of tfjs-layers' BatchNormalization: same config, same weights (gamma, beta,
 * moving_mean, moving_variance, in that order, same shapes and initialisers), same inference path
 * (moving statistics) and the same running-stat update (moving = moving - (moving - batch) *
 * (1 - momentum), batch variance biased). Only training mode with the channel axis last differs:
 * it runs the `FacemapBatchNormTrain` kernel (src/engine/batchnorm-kernels.ts), whose gradient is
 * the analytic one computed in a single pass over the data, instead of differentiating through
 * tf.moments and FusedBatchNorm's tile-heavy gradient. On a backend without the kernels (webgl,
 * tfjs-node) or with another axis it falls back to the stock computation.
 *
 * Registered for (de)serialisation as 'FastBatchNorm'. Models saved with the stock
 * 'BatchNormalization' layer still load (as the stock layer, numerically the same);
 * rebuilding them with createFMnet and copying the weights makes them train fast.
 */
import * as tf from '@tensorflow/tfjs';
import { batchNormKernelsAvailable, batchNormTrain } from '../engine/batchnorm-kernels';

type BatchNormArgs = Parameters<typeof tf.layers.batchNormalization>[0];

interface BatchNormFields {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

type BatchNormInstance = tf.layers.Layer & BatchNormFields;

/** tfjs-layers does not export the BatchNormalization class itself; take it from an instance. */
const StockBatchNormalization = Object.getPrototypeOf(tf.layers.batchNormalization({})).constructor as new (
  args?: BatchNormArgs,
) => BatchNormInstance;

// Declaration merging gives the subclass the stock layer's fields for the type checker.
export interface FastBatchNorm extends BatchNormFields {}

export class FastBatchNorm extends StockBatchNormalization {
  static readonly className = 'FastBatchNorm';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const training = (kwargs?.['training'] as boolean | undefined) ?? false;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const axis = this.axis >= 0 ? this.axis : this.axis + x.rank;
    if (!training || axis !== x.rank - 1 || !this.center || !this.scale || x.dtype !== 'float32' || !batchNormKernelsAvailable()) {
      return super.call(inputs, kwargs);
    }
    return tf.tidy(() => {
      const [y, mean, variance] = batchNormTrain(x, this.gamma.read() as tf.Tensor1D, this.beta.read() as tf.Tensor1D, this.epsilon);
      const decay = 1 - this.momentum;
      for (const [variable, value] of [
        [this.movingMean, mean],
        [this.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const orig = variable.read();
          variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), decay)));
        });
      }
      return y;
    });
  }
}
// fromConfig is inherited (static) from Layer at runtime; the base constructor type above omits it.
tf.serialization.registerClass(FastBatchNorm as unknown as Parameters<typeof tf.serialization.registerClass>[0]);

/** Same arguments as tf.layers.batchNormalization. */
export function fastBatchNorm(args: BatchNormArgs): FastBatchNorm {
  return new FastBatchNorm(args);
}

/** Whether a layer is a batch norm, stock or fast. */
export function isBatchNormLayer(layer: tf.layers.Layer): boolean {
  const name = layer.getClassName();
  return name === 'BatchNormalization' || name === FastBatchNorm.className;
}
