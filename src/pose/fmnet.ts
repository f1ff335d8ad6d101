/**
 * FMnet, Facemap's keypoint network, as a tfjs `LayersModel` (facemap.md section 1).
 *
 * Shapes (defaults: input 256, channels [32, 64, 128, 128, 200], K keypoints):
 *   input  [N, 256, 256, 1] grey, NHWC, per-frame percentile-normalised (see preprocess.ts)
 *   encoder level i (i = 0..4) at 256/2^i px with channels[i]; each level is a block of two units
 *     BatchNorm -> ReLU -> conv3x3 (pad 1, no bias); the very first unit is BatchNorm -> conv3x3
 *     (no ReLU on the raw image). Levels are joined by max-pool k3 s2 p1 (PyTorch semantics).
 *   decoder: up x2 (nearest) -> concat encoder level 3 -> block(328 -> 128 -> 128) at 32 px,
 *            up x2 (nearest) -> concat encoder level 2 -> block(256 -> 128 -> 128) at 64 px.
 *   heads (1x1 conv with bias): heatmap [N,64,64,K] (ReLU), rowOffset [N,64,64,K], colOffset [N,64,64,K]
 *
 * Parameter count for 15 keypoints (trainable = conv kernels, head biases, BN gamma/beta):
 *   encoder 1,173,106 + decoder 969,360 + heads 5,805 = 2,148,271, exactly Facemap's.
 *   (Encoder levels: 9,570 / 55,488 / 221,568 / 295,424 / 591,056; decoder blocks 526,224 and
 *   443,136; heads 3 x (128*15 + 15).) Only the decoder sizes above reproduce that count, which is
 *   how the decoder's concatenated levels (32 and 64 px, not 128/256) and widths (128) were fixed.
 *
 * Why a LayersModel rather than a functional model with explicit weights: it gives tf.io save/load
 * (weights + topology) for free, its layer list is a plain graph to walk for ONNX export, and
 * custom training still works: `model.apply(x, {training: true})` inside `tf.variableGrads` over
 * `fmnetTrainableVariables(model)` (BatchNorm updates its running stats as a side effect, like
 * PyTorch's train mode). The one non-stock layer is the PyTorch-style max-pool (tf.layers offers
 * only 'valid'/'same', and 'same' pads bottom/right only), registered for deserialisation.
 *
 * Initialisation, seeded (each layer gets seed + its index): PyTorch's defaults, so that training
 * from scratch behaves like Facemap's: conv kernels and head biases U(-1/sqrt(fanIn), 1/sqrt(fanIn))
 * (kaiming_uniform with a = sqrt(5)); BatchNorm gamma 1, beta 0, running mean 0, variance 1.
 * BatchNorm layers are {@link FastBatchNorm} (src/pose/fast-batchnorm.ts): tf.layers.batchNormalization
 * with dedicated training-mode kernels and an analytic gradient (stock tfjs's tile-heavy gradient
 * cost more than the convolutions on wasm); same weights and config, registered as 'FastBatchNorm'.
 * Models saved with the stock layer ('BatchNormalization') load as before.
 * BatchNorm uses PyTorch's momentum 0.1 (tfjs momentum 0.9) and epsilon 1e-5; tfjs updates the
 * running variance with the biased batch variance (PyTorch: unbiased), a difference of a factor
 * n/(n-1) with n = N*H*W >= 256 pixels, negligible.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamError, ShapeError } from '../errors';
import { FastBatchNorm } from './fast-batchnorm';

/** Facemap's encoder widths, one per level (256, 128, 64, 32, 16 px). */
export const FMNET_CHANNELS: readonly number[] = [32, 64, 128, 128, 200];

/**
 * Width of both decoder blocks and of the decoder output: 128 for Facemap's channels (fixed by its
 * parameter count); for custom channels, the encoder width at the output resolution (level 2).
 */
const DECODER_CHANNELS_OF = (channels: readonly number[]): number => channels[2];

export interface FMnetConfig {
  /** Number of keypoints K (>= 1): maps per head. */
  nKeypoints: number;
  /** Encoder channels, 5 levels. Default {@link FMNET_CHANNELS}. */
  channels?: readonly number[];
  /** Input side in pixels; a multiple of 16 and >= 32. Default 256 (heatmaps are inputSize/4). */
  inputSize?: number;
  /** Seed of the initialisation (integer). Default 0. */
  seed?: number;
  /**
   * BatchNorm layer class: 'fast' (default), {@link FastBatchNorm}, whose training mode runs
   * dedicated kernels with the analytic gradient; 'stock', tf.layers.batchNormalization (for
   * comparisons). Same weights, config and results either way.
   */
  batchNorm?: 'fast' | 'stock';
}

/** PyTorch's MaxPool2d(kernel 3, stride 2, padding 1): pads with -inf on every side, floors. */
export class TorchMaxPool2d extends tf.layers.Layer {
  static readonly className = 'TorchMaxPool2d';

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = inputShape as tf.Shape;
    const out = (d: number | null): number | null => (d == null ? null : Math.floor((d + 2 - 3) / 2) + 1);
    return [s[0], out(s[1]), out(s[2]), s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    return tf.maxPool(x, 3, 2, 1, 'floor');
  }
}
tf.serialization.registerClass(TorchMaxPool2d);

/** Validates the config and fills defaults; throws ParamError naming the field. */
export function resolveFMnetConfig(config: FMnetConfig): Required<FMnetConfig> {
  const { nKeypoints } = config;
  if (!Number.isInteger(nKeypoints) || nKeypoints < 1) throw new ParamError('nKeypoints', nKeypoints, 'an integer >= 1');
  const channels = config.channels ?? FMNET_CHANNELS;
  if (channels.length !== 5 || !channels.every((c) => Number.isInteger(c) && c >= 1)) {
    throw new ParamError('channels', channels, '5 positive integers (one per encoder level)');
  }
  const inputSize = config.inputSize ?? 256;
  if (!Number.isInteger(inputSize) || inputSize < 32 || inputSize % 16 !== 0) {
    throw new ParamError('inputSize', inputSize, 'an integer multiple of 16, >= 32');
  }
  const seed = config.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ParamError('seed', seed, 'an integer');
  const batchNorm = config.batchNorm ?? 'fast';
  if (batchNorm !== 'fast' && batchNorm !== 'stock') throw new ParamError('batchNorm', batchNorm, "'fast' or 'stock'");
  return { nKeypoints, channels: [...channels], inputSize, seed, batchNorm };
}

/**
 * Builds FMnet with seeded PyTorch-default initialisation. Outputs, in order:
 * heatmap [N,S/4,S/4,K] (after ReLU), rowOffset [N,S/4,S/4,K], colOffset [N,S/4,S/4,K].
 */
export function createFMnet(config: FMnetConfig): tf.LayersModel {
  const { nKeypoints, channels, inputSize, seed, batchNorm } = resolveFMnetConfig(config);
  let layerIndex = 0;
  const nextSeed = (): number => seed + 1009 * ++layerIndex;
  const torchUniform = () =>
    tf.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed: nextSeed() });

  const bn = (x: tf.SymbolicTensor, name: string): tf.SymbolicTensor => {
    const args = { axis: -1, momentum: 0.9, epsilon: 1e-5, name };
    const layer = batchNorm === 'fast' ? new FastBatchNorm(args) : tf.layers.batchNormalization(args);
    return layer.apply(x) as tf.SymbolicTensor;
  };
  const conv3 = (x: tf.SymbolicTensor, filters: number, name: string): tf.SymbolicTensor =>
    tf.layers
      .conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: torchUniform(), name })
      .apply(x) as tf.SymbolicTensor;
  const unit = (x: tf.SymbolicTensor, filters: number, name: string, relu = true): tf.SymbolicTensor => {
    let y = bn(x, `${name}_bn`);
    if (relu) y = tf.layers.reLU({ name: `${name}_relu` }).apply(y) as tf.SymbolicTensor;
    return conv3(y, filters, `${name}_conv`);
  };
  const block = (x: tf.SymbolicTensor, filters: number, name: string, firstRelu = true): tf.SymbolicTensor =>
    unit(unit(x, filters, `${name}_0`, firstRelu), filters, `${name}_1`);

  const input = tf.input({ shape: [inputSize, inputSize, 1], name: 'image' });
  const levels: tf.SymbolicTensor[] = [];
  let x: tf.SymbolicTensor = input;
  for (let i = 0; i < 5; i++) {
    if (i > 0) x = new TorchMaxPool2d({ name: `enc${i}_pool` }).apply(x) as tf.SymbolicTensor;
    x = block(x, channels[i], `enc${i}`, i > 0);
    levels.push(x);
  }
  const width = DECODER_CHANNELS_OF(channels);
  for (const [step, skip] of [
    [0, 3],
    [1, 2],
  ] as const) {
    const up = tf.layers.upSampling2d({ size: [2, 2], interpolation: 'nearest', name: `dec${step}_up` }).apply(x) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate({ axis: -1, name: `dec${step}_cat` }).apply([up, levels[skip]]) as tf.SymbolicTensor;
    x = block(cat, width, `dec${step}`);
  }
  const head = (name: string, activation?: 'relu'): tf.SymbolicTensor => {
    const bound = 1 / Math.sqrt(width);
    return tf.layers
      .conv2d({
        filters: nKeypoints,
        kernelSize: 1,
        useBias: true,
        activation,
        kernelInitializer: torchUniform(),
        biasInitializer: tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: nextSeed() }),
        name,
      })
      .apply(x) as tf.SymbolicTensor;
  };
  const outputs = [head('heatmap', 'relu'), head('row_offset'), head('col_offset')];
  return tf.model({ inputs: input, outputs, name: 'FMnet' });
}

/** FMnet's three output maps, each [N, S/4, S/4, K] (S = input side). */
export interface FMnetOutput {
  /** Heatmap after ReLU (not normalised). */
  heatmap: tf.Tensor4D;
  /** Row offset in units of 6 grid cells: true row = row - 6 * rowOffset. */
  rowOffset: tf.Tensor4D;
  /** Column offset, same convention. */
  colOffset: tf.Tensor4D;
}

/**
 * Runs FMnet on x [N, S, S, 1]. `training: true` uses batch statistics in BatchNorm and updates
 * its running stats (call inside tf.variableGrads to train). The caller owns the three outputs.
 */
export function fmnetForward(model: tf.LayersModel, x: tf.Tensor4D, options: { training?: boolean } = {}): FMnetOutput {
  const inShape = model.inputs[0].shape;
  if (x.rank !== 4 || x.shape[1] !== inShape[1] || x.shape[2] !== inShape[2] || x.shape[3] !== 1) {
    throw new ShapeError(`FMnet input has shape [${x.shape}]; expected [N, ${inShape[1]}, ${inShape[2]}, 1]`);
  }
  const [heatmap, rowOffset, colOffset] = model.apply(x, { training: options.training ?? false }) as tf.Tensor4D[];
  return { heatmap, rowOffset, colOffset };
}

/** The tf.Variables that training updates (conv kernels, head biases, BN gamma/beta), in layer order. */
export function fmnetTrainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** Number of trainable scalars (BatchNorm running stats excluded). */
export function countTrainableParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

/** Number of keypoints K of a model built by {@link createFMnet}. */
export function fmnetKeypoints(model: tf.LayersModel): number {
  return model.outputs[0].shape[3] as number;
}
