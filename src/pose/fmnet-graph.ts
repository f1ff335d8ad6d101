/**
 * An FMnet tfjs model as a validated list of layers on named tensors, with each tensor's channels
 * and side: what both ONNX lowerings start from (onnx-export.ts for inference, ort-train.ts for
 * the training step), so that the layer set, its checks and its errors live in one place.
 *
 * Layers supported: Conv2D (odd square kernel, stride 1, no dilation, linear or ReLU activation,
 * 'same' or 'valid' padding), BatchNormalization / FastBatchNorm on the channel axis with gamma
 * and beta, ReLU without a cap, TorchMaxPool2d (kernel 3, stride 2, padding 1), UpSampling2D
 * (nearest, one integer factor), Concatenate on channels; one square grey input [N, S, S, 1].
 * Anything else is a ParamError naming the layer; mismatched channels or map sizes a ShapeError.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamError, ShapeError } from '../errors';

/** Channels and side (height = width) of a tensor. */
export interface MapShape {
  c: number;
  h: number;
}

interface Base {
  /** The tfjs layer. */
  layer: tf.layers.Layer;
  input: string;
  output: string;
}

/** One layer of {@link FMnetGraph}; weights are the layer's variables (read them, or find them in trainableWeights). */
export type FMnetLayer =
  | (Base & { kind: 'conv'; kernel: tf.LayerVariable; bias: tf.LayerVariable | null; k: number; ci: number; co: number; pad: number; relu: boolean })
  | (Base & { kind: 'bn'; gamma: tf.LayerVariable; beta: tf.LayerVariable; movingMean: tf.LayerVariable; movingVariance: tf.LayerVariable; eps: number; c: number })
  | (Base & { kind: 'relu' })
  | (Base & { kind: 'maxpool' })
  | (Base & { kind: 'upsample'; factor: number })
  | (Omit<Base, 'input'> & { kind: 'concat'; inputs: string[]; sizes: number[] });

export interface FMnetGraph {
  layers: FMnetLayer[];
  input: string;
  outputs: string[];
  /** Input side S. */
  inputSize: number;
  /** Channels and side of every tensor, the input included. */
  shape: Map<string, MapShape>;
}

const SUPPORTED = 'a layer FMnet uses (Conv2D, BatchNormalization, ReLU, TorchMaxPool2d, UpSampling2D, Concatenate)';

function channelAxis(layer: tf.layers.Layer, cfg: Record<string, unknown>): void {
  const axis = cfg.axis as number;
  if (axis !== -1 && axis !== 3) throw new ParamError(`layer ${layer.name}.axis`, axis, 'the channel axis (-1 or 3)');
}

/** Walks the model's layers in order (module doc); throws on anything the lowerings cannot express. */
export function fmnetGraph(model: tf.LayersModel): FMnetGraph {
  if (model.inputs.length !== 1) throw new ParamError('model', model.name, 'one input');
  const input = model.inputs[0].name;
  const s = model.inputs[0].shape;
  if (s.length !== 4 || s[3] !== 1 || s[1] !== s[2] || typeof s[1] !== 'number') {
    throw new ParamError('model input shape', s, '[N, S, S, 1] (one grey channel, square)');
  }
  const inputSize = s[1];
  const shape = new Map<string, MapShape>([[input, { c: 1, h: inputSize }]]);
  const layers: FMnetLayer[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') continue;
    if (layer.inboundNodes.length !== 1) throw new ParamError('model', layer.name, 'layers applied exactly once (a plain functional graph)');
    const ins = layer.inboundNodes[0].inputTensors.map((t) => t.name);
    const outs = layer.inboundNodes[0].outputTensors;
    if (outs.length !== 1) throw new ParamError('model', layer.name, 'layers with one output');
    const output = outs[0].name;
    const inShapes = ins.map((n) => shape.get(n));
    if (inShapes.some((x) => !x)) throw new ParamError('model', layer.name, 'layers in topological order');
    const s0 = inShapes[0]!;
    const cfg = layer.getConfig() as Record<string, unknown>;
    const base = { layer, input: ins[0], output };
    switch (cls) {
      case 'Conv2D': {
        const [kernel, bias] = layer.weights as tf.LayerVariable[];
        const [kh, kw, ci, co] = kernel.shape as number[];
        const strides = cfg.strides as number[];
        const dil = [cfg.dilationRate as number[] | number].flat();
        if (kh !== kw || kh % 2 !== 1 || strides.some((v) => v !== 1) || dil.some((d) => d !== 1)) {
          throw new ParamError(`layer ${layer.name}`, `${kh}x${kw} kernel, strides ${strides}`, 'odd square kernels with stride 1 and no dilation');
        }
        const activation = cfg.activation as string;
        if (activation !== 'linear' && activation !== 'relu') throw new ParamError(`layer ${layer.name}.activation`, activation, "'linear' or 'relu'");
        if (ci !== s0.c) throw new ShapeError(`layer ${layer.name}: kernel has ${ci} input channels, its input ${s0.c}`);
        const pad = cfg.padding === 'same' ? (kh - 1) / 2 : 0;
        layers.push({ ...base, kind: 'conv', kernel, bias: cfg.useBias ? bias : null, k: kh, ci, co, pad, relu: activation === 'relu' });
        shape.set(output, { c: co, h: s0.h + 2 * pad - kh + 1 });
        break;
      }
      case 'BatchNormalization':
      case 'FastBatchNorm': {
        channelAxis(layer, cfg);
        if (cfg.center === false || cfg.scale === false) throw new ParamError(`layer ${layer.name}`, 'center/scale off', 'batch norms with gamma and beta');
        const [gamma, beta, movingMean, movingVariance] = layer.weights as tf.LayerVariable[];
        layers.push({ ...base, kind: 'bn', gamma, beta, movingMean, movingVariance, eps: cfg.epsilon as number, c: s0.c });
        shape.set(output, s0);
        break;
      }
      case 'ReLU':
        if (cfg.maxValue != null) throw new ParamError(`layer ${layer.name}.maxValue`, cfg.maxValue, 'none (plain ReLU)');
        layers.push({ ...base, kind: 'relu' });
        shape.set(output, s0);
        break;
      case 'TorchMaxPool2d':
        layers.push({ ...base, kind: 'maxpool' });
        shape.set(output, { c: s0.c, h: Math.floor((s0.h + 2 - 3) / 2) + 1 });
        break;
      case 'UpSampling2D': {
        const size = cfg.size as number[];
        if (cfg.interpolation !== 'nearest' || size[0] !== size[1] || !Number.isInteger(size[0])) {
          throw new ParamError(`layer ${layer.name}`, `${cfg.interpolation} x${size}`, 'nearest upsampling by one integer factor');
        }
        layers.push({ ...base, kind: 'upsample', factor: size[0] });
        shape.set(output, { c: s0.c, h: s0.h * size[0] });
        break;
      }
      case 'Concatenate': {
        channelAxis(layer, cfg);
        if (inShapes.some((x) => x!.h !== s0.h)) throw new ShapeError(`layer ${layer.name}: concatenated maps differ in size`);
        const sizes = inShapes.map((x) => x!.c);
        layers.push({ layer, output, kind: 'concat', inputs: ins, sizes });
        shape.set(output, { c: sizes.reduce((a, b) => a + b, 0), h: s0.h });
        break;
      }
      default:
        throw new ParamError(`layer ${layer.name}`, cls, SUPPORTED);
    }
  }
  return { layers, input, outputs: model.outputs.map((o) => o.name), inputSize, shape };
}
