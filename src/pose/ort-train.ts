/**
 * The whole FMnet training step (forward in training mode, loss, backward) as ONE ONNX Runtime
 * session, NCHW throughout, so that every part of it runs multi-threaded in MLAS without a copy
 * between tfjs and ORT per layer. `OrtFMnetStep` builds the graph from a tfjs FMnet (createFMnet
 * or a loaded model folder), once per batch size, and returns the loss, every gradient and the
 * BatchNorm batch statistics; the AdamW update (optim.ts) and the running-statistic update stay in
 * tfjs, with the same semantics as the tfjs step (train-step.ts).
 *
 * Graph inputs:  'image' [N, S, S, 1] (the tfjs batch; with one channel NHWC is NCHW);
 *                'p<i>' the i-th trainable weight in model.trainableWeights order, in its tfjs
 *                layout (conv kernels [KH, KW, Ci, Co], transposed to [Co, Ci, KH, KW] in the graph);
 *                't_heatmap', 't_row', 't_col', 't_mask' [N, G, G, K] and 't_visible' [N, K]
 *                (targets.ts, NHWC as makeTargets writes them; transposed in the graph).
 * Graph outputs: 'loss' (scalar), 'g<i>' (gradient of p<i>, same layout), 'bn_mean<j>' and
 *                'bn_var<j>' [C] (batch mean and biased variance of the j-th batch norm).
 *
 * Backward in plain ONNX ops (opset 17):
 *  - conv dx (stride 1): Conv of dy with the in/out-swapped, spatially flipped kernel (Transpose +
 *    Slice with step -1), padding K-1-pad: the fast (NCHWc) convolution path of MLAS;
 *  - conv dW: per kernel tap (kh, kw), the window of the zero-padded input (Slice) as [N, Ci, P]
 *    times dyᵀ [N, P, Co] (MatMul with a transposed operand, which ORT fuses into FusedMatMul),
 *    summed over the batch; the K*K [Ci, Co] products stacked are the [KH, KW, Ci, Co] kernel layout;
 *  - conv bias: sum of dy; a fused ReLU: dy * sign(y) (y >= 0, so sign(y) is the step);
 *  - batch norm (batch statistics, biased variance, as FastBatchNorm): with xc = x - mean,
 *    s = gamma / sqrt(var + eps): dbeta = Σ dy, dgamma = Σ dy xc / sqrt(var + eps),
 *    dx = s (dy - Σdy / M - xc Σ(dy xc) / ((var + eps) M)), M = N H W;
 *  - max-pool (k3 s2 p1): MaxPool's Indices output, gradient scattered back with ScatterElements
 *    (reduction 'add': overlapping windows that share a maximum add up, as in tfjs and PyTorch);
 *  - nearest upsampling: forward Unsqueeze + Expand + Reshape, backward Reshape + ReduceSum;
 *  - concat: Split; tensors read by several layers sum their gradients;
 *  - the loss (loss.ts) differentiated by hand, including tfjs's conventions where the derivative
 *    is not defined: d|x|/dx = 1 for x > 0 else -1, max(q, 1e-12) passes the gradient when q >= 1e-12.
 * Differences from the tfjs step are float32 rounding only (a test compares loss, every gradient and
 * a few AdamW steps on a small model).
 *
 * Layers supported: those of FMnet, as fmnet-graph.ts walks them (shared with the ONNX export), and
 * three outputs (heatmap, row offset, column offset); anything else is a ParamError, which
 * `ortStepSupport` reports so that training falls back to tfjs.
 */
import * as tf from '@tensorflow/tfjs';
import { onnx } from 'onnx-proto';
import { createSession, float32Tensor, ortAvailable, type OrtSession } from '../engine/onnx';
import { buildModel, node, valueInfo, type AttributeValue } from '../engine/onnx-build';
import { EngineError, ParamError, ShapeError } from '../errors';
import { fmnetGraph } from './fmnet-graph';
import { OFFSET_WEIGHT } from './loss';
import type { AdamW } from './optim';
import { HEATMAP_STRIDE, HEATMAP_SUM, type PoseTargets } from './targets';

const DT = onnx.TensorProto.DataType;
/** max(q, MIN_SQ) under the offset norm, as in loss.ts. */
const MIN_SQ = 1e-12;

type Op =
  | { kind: 'conv'; input: string; output: string; w: number; b: number | null; k: number; pad: number; relu: boolean; ci: number; co: number }
  | { kind: 'bn'; input: string; output: string; gamma: number; beta: number; eps: number; bn: number; c: number }
  | { kind: 'relu'; input: string; output: string }
  | { kind: 'maxpool'; input: string; output: string }
  | { kind: 'upsample'; input: string; output: string; factor: number }
  | { kind: 'concat'; inputs: string[]; output: string; sizes: number[] };

type BnLayer = tf.layers.Layer & { momentum: number; movingMean: tf.LayerVariable; movingVariance: tf.LayerVariable };

interface Lowered {
  ops: Op[];
  input: string;
  outputs: string[];
  /** Channels and side of every tensor. */
  shape: Map<string, { c: number; h: number }>;
  bnLayers: BnLayer[];
  inputSize: number;
  nKeypoints: number;
}

function lower(model: tf.LayersModel): Lowered {
  if (model.outputs.length !== 3) throw new ParamError('model', model.name, 'three outputs (heatmap, row offset, column offset)');
  const g = fmnetGraph(model);
  const trainable = model.trainableWeights;
  const index = (w: tf.LayerVariable, what: string, layer: string): number => {
    const i = trainable.indexOf(w);
    if (i < 0) throw new ParamError(`layer ${layer}`, what, 'a trainable weight (frozen layers are not supported by the ONNX Runtime step)');
    return i;
  };
  const bnLayers: BnLayer[] = [];
  const ops = g.layers.map((l): Op => {
    const name = l.layer.name;
    switch (l.kind) {
      case 'conv':
        return { kind: 'conv', input: l.input, output: l.output, w: index(l.kernel, 'kernel', name), b: l.bias ? index(l.bias, 'bias', name) : null, k: l.k, pad: l.pad, relu: l.relu, ci: l.ci, co: l.co };
      case 'bn':
        bnLayers.push(l.layer as BnLayer);
        return { kind: 'bn', input: l.input, output: l.output, gamma: index(l.gamma, 'gamma', name), beta: index(l.beta, 'beta', name), eps: l.eps, bn: bnLayers.length - 1, c: l.c };
      case 'upsample':
        return { kind: 'upsample', input: l.input, output: l.output, factor: l.factor };
      case 'concat':
        return { kind: 'concat', inputs: l.inputs, output: l.output, sizes: l.sizes };
      default:
        return { kind: l.kind, input: l.input, output: l.output };
    }
  });
  const { input, outputs, shape, inputSize } = g;
  const o0 = shape.get(outputs[0])!;
  const grid = inputSize / HEATMAP_STRIDE;
  for (const o of outputs) {
    const so = shape.get(o)!;
    if (so.h !== grid || so.c !== o0.c) throw new ShapeError(`model output ${o} is ${so.c} maps of ${so.h} px; expected ${o0.c} of ${grid}`);
  }
  return { ops, input, outputs, shape, bnLayers, inputSize, nKeypoints: o0.c };
}

/** Whether the ONNX Runtime step can train `model` here; the reason when not. */
export function ortStepSupport(model: tf.LayersModel): { ok: true } | { ok: false; reason: string } {
  if (!ortAvailable()) return { ok: false, reason: 'ONNX Runtime is not available' };
  try {
    lower(model);
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/** Accumulates nodes and constant initializers. */
class G {
  readonly nodes: onnx.NodeProto[] = [];
  readonly inits: onnx.ITensorProto[] = [];
  private count = 0;
  private readonly consts = new Map<string, string>();

  op(type: string, inputs: readonly string[], attrs: Record<string, AttributeValue> = {}, nOut = 1): string[] {
    const outs = Array.from({ length: nOut }, () => `${type.toLowerCase()}_${++this.count}`);
    this.nodes.push(node(type, inputs, outs, attrs));
    return outs;
  }

  one(type: string, inputs: readonly string[], attrs: Record<string, AttributeValue> = {}): string {
    return this.op(type, inputs, attrs)[0];
  }

  /** Names a graph output: an Identity from `value`. */
  output(name: string, value: string): void {
    this.nodes.push(node('Identity', [value], [name]));
  }

  ints(values: readonly number[]): string {
    const key = `i${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = `c_${key.replace(/[^0-9a-z]/gi, '_')}_${this.consts.size}`;
      this.inits.push(onnx.TensorProto.create({ name, dims: [values.length], dataType: DT.INT64, int64Data: [...values] }));
      this.consts.set(key, name);
    }
    return name;
  }

  scalar(v: number): string {
    const key = `f${v}`;
    let name = this.consts.get(key);
    if (!name) {
      name = `c_f_${this.consts.size}`;
      this.inits.push(onnx.TensorProto.create({ name, dims: [], dataType: DT.FLOAT, floatData: [v] }));
      this.consts.set(key, name);
    }
    return name;
  }
}

/** What the forward pass keeps for the backward pass of one op. */
type Saved =
  | { kind: 'conv'; x: string; wHwio: string; y: string }
  | { kind: 'bn'; xc: string; scale: string; invstd: string; m: number }
  | { kind: 'relu'; y: string }
  | { kind: 'maxpool'; idx: string }
  | { kind: 'upsample' }
  | { kind: 'concat' };

/** Builds the training graph for batch size n (see the module comment). */
export function buildFMnetTrainGraph(model: tf.LayersModel, n: number): { bytes: Uint8Array; lowered: Lowered } {
  if (!Number.isInteger(n) || n < 1) throw new ParamError('batch size', n, 'an integer >= 1');
  const L = lower(model);
  const g = new G();
  const S = L.inputSize;
  const K = L.nKeypoints;
  const grid = S / HEATMAP_STRIDE;
  const params = model.trainableWeights.map((w, i) => ({ name: `p${i}`, shape: w.shape as number[] }));
  const axesNHW = [0, 2, 3];

  // ------------------------------------------------------------------ forward
  const x0 = g.one('Reshape', ['image', g.ints([n, 1, S, S])]);
  const name = new Map<string, string>([[L.input, x0]]);
  const saved: Saved[] = [];
  for (const op of L.ops) {
    switch (op.kind) {
      case 'conv': {
        const x = name.get(op.input)!;
        const wHwio = `p${op.w}`;
        const w = g.one('Transpose', [wHwio], { perm: [3, 2, 0, 1] });
        const inputs = op.b === null ? [x, w] : [x, w, `p${op.b}`];
        let y = g.one('Conv', inputs, { pads: [op.pad, op.pad, op.pad, op.pad], kernel_shape: [op.k, op.k] });
        if (op.relu) y = g.one('Relu', [y]);
        name.set(op.output, y);
        saved.push({ kind: 'conv', x, wHwio, y });
        break;
      }
      case 'bn': {
        const x = name.get(op.input)!;
        const { c, h } = L.shape.get(op.input)!;
        let mean: string;
        let xc: string;
        let variance: string;
        if (op.input === L.input) {
          // The image's batch norm (one channel, cheap): statistics in float64, like FastBatchNorm's
          // kernel, since the mean of a normalised image is a sum that cancels.
          const x64 = g.one('Cast', [x], { to: DT.DOUBLE });
          const m64 = g.one('ReduceMean', [x64], { axes: axesNHW, keepdims: 1 });
          const xc64 = g.one('Sub', [x64, m64]);
          mean = g.one('Cast', [m64], { to: DT.FLOAT });
          xc = g.one('Cast', [xc64], { to: DT.FLOAT });
          variance = g.one('Cast', [g.one('ReduceMean', [g.one('Mul', [xc64, xc64])], { axes: axesNHW, keepdims: 1 })], { to: DT.FLOAT });
        } else {
          mean = g.one('ReduceMean', [x], { axes: axesNHW, keepdims: 1 });
          xc = g.one('Sub', [x, mean]);
          variance = g.one('Div', [g.one('ReduceSumSquare', [xc], { axes: axesNHW, keepdims: 1 }), g.scalar(n * h * h)]);
        }
        const invstd = g.one('Reciprocal', [g.one('Sqrt', [g.one('Add', [variance, g.scalar(op.eps)])])]);
        const gamma = g.one('Reshape', [`p${op.gamma}`, g.ints([1, c, 1, 1])]);
        const beta = g.one('Reshape', [`p${op.beta}`, g.ints([1, c, 1, 1])]);
        const scale = g.one('Mul', [gamma, invstd]);
        const y = g.one('Add', [g.one('Mul', [xc, scale]), beta]);
        g.output(`bn_mean${op.bn}`, g.one('Reshape', [mean, g.ints([c])]));
        g.output(`bn_var${op.bn}`, g.one('Reshape', [variance, g.ints([c])]));
        name.set(op.output, y);
        saved.push({ kind: 'bn', xc, scale, invstd, m: n * h * h });
        break;
      }
      case 'relu': {
        const y = g.one('Relu', [name.get(op.input)!]);
        name.set(op.output, y);
        saved.push({ kind: 'relu', y });
        break;
      }
      case 'maxpool': {
        const [y, idx] = g.op('MaxPool', [name.get(op.input)!], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 2);
        name.set(op.output, y);
        saved.push({ kind: 'maxpool', idx });
        break;
      }
      case 'upsample': {
        const { c, h } = L.shape.get(op.input)!;
        const f = op.factor;
        const u = g.one('Unsqueeze', [name.get(op.input)!, g.ints([3, 5])]);
        const e = g.one('Expand', [u, g.ints([1, 1, 1, f, 1, f])]);
        name.set(op.output, g.one('Reshape', [e, g.ints([n, c, h * f, h * f])]));
        saved.push({ kind: 'upsample' });
        break;
      }
      case 'concat':
        name.set(op.output, g.one('Concat', op.inputs.map((i) => name.get(i)!), { axis: 1 }));
        saved.push({ kind: 'concat' });
        break;
    }
  }

  // ------------------------------------------------------------------ loss
  const [hm, row, col] = L.outputs.map((o) => name.get(o)!);
  const nchw = (t: string): string => g.one('Transpose', [t], { perm: [0, 3, 1, 2] });
  const tHm = nchw('t_heatmap');
  const tRow = nchw('t_row');
  const tCol = nchw('t_col');
  const tMask = nchw('t_mask');
  const hw = g.ints([2, 3]);
  const den = g.one('Add', [g.one('ReduceSum', [hm, hw], { keepdims: 1 }), g.scalar(1e-4)]);
  const hm10 = g.one('Mul', [hm, g.scalar(HEATMAP_SUM)]);
  const hmn = g.one('Div', [hm10, den]);
  const xd = g.one('Sub', [tHm, hmn]);
  const hmErr = g.one('ReduceSum', [g.one('Abs', [xd]), hw], { keepdims: 0 });
  const dr = g.one('Sub', [row, tRow]);
  const dc = g.one('Sub', [col, tCol]);
  const q = g.one('Add', [g.one('Mul', [dr, dr]), g.one('Mul', [dc, dc])]);
  const dist = g.one('Sqrt', [g.one('Max', [q, g.scalar(MIN_SQ)])]);
  const offErr = g.one('ReduceSum', [g.one('Mul', [dist, tMask]), hw], { keepdims: 0 });
  const per = g.one('Mul', [g.one('Add', [hmErr, g.one('Mul', [offErr, g.scalar(OFFSET_WEIGHT)])]), 't_visible']);
  const V = g.one('Max', [g.one('ReduceSum', ['t_visible'], { keepdims: 0 }), g.scalar(1)]);
  g.output('loss', g.one('Div', [g.one('ReduceSum', [per], { keepdims: 0 }), V]));

  // d loss / d per = visible / V, as [N, K, 1, 1]
  const cw = g.one('Unsqueeze', [g.one('Div', ['t_visible', V]), hw]);
  const sgn = g.one('Where', [g.one('Greater', [xd, g.scalar(0)]), g.scalar(-1), g.scalar(1)]);
  const dHmn = g.one('Mul', [sgn, cw]);
  const dDen = g.one('Neg', [g.one('Div', [g.one('ReduceSum', [g.one('Mul', [dHmn, hm10]), hw], { keepdims: 1 }), g.one('Mul', [den, den])])]);
  const dHm = g.one('Add', [g.one('Mul', [g.one('Div', [dHmn, den]), g.scalar(HEATMAP_SUM)]), dDen]);
  const dDist = g.one('Mul', [tMask, g.one('Mul', [cw, g.scalar(OFFSET_WEIGHT)])]);
  const dQm = g.one('Div', [dDist, g.one('Mul', [dist, g.scalar(2)])]);
  const dQ = g.one('Where', [g.one('GreaterOrEqual', [q, g.scalar(MIN_SQ)]), dQm, g.scalar(0)]);
  const dRow = g.one('Mul', [g.one('Mul', [dr, g.scalar(2)]), dQ]);
  const dCol = g.one('Mul', [g.one('Mul', [dc, g.scalar(2)]), dQ]);

  // ------------------------------------------------------------------ backward
  const grad = new Map<string, string>();
  const addGrad = (t: string, d: string): void => {
    const prev = grad.get(t);
    grad.set(t, prev ? g.one('Add', [prev, d]) : d);
  };
  addGrad(L.outputs[0], dHm);
  addGrad(L.outputs[1], dRow);
  addGrad(L.outputs[2], dCol);
  const paramGrad = new Map<number, string>();
  const needs = (t: string): boolean => t !== L.input;

  for (let i = L.ops.length - 1; i >= 0; i--) {
    const op = L.ops[i];
    const sv = saved[i];
    const dy0 = grad.get(op.output);
    if (!dy0) continue;
    switch (op.kind) {
      case 'conv': {
        const s = sv as Extract<Saved, { kind: 'conv' }>;
        const dy = op.relu ? g.one('Mul', [dy0, g.one('Sign', [s.y])]) : dy0;
        const { h: hOut } = L.shape.get(op.output)!;
        if (op.b !== null) paramGrad.set(op.b, g.one('ReduceSum', [dy, g.ints(axesNHW)], { keepdims: 0 }));
        // dW: one batched MatMul per tap.
        const P = hOut * hOut;
        const dyT = g.one('Transpose', [g.one('Reshape', [dy, g.ints([n, op.co, P])])], { perm: [0, 2, 1] });
        const xp = op.pad > 0 ? g.one('Pad', [s.x, g.ints([0, 0, op.pad, op.pad, 0, 0, op.pad, op.pad])]) : s.x;
        const taps: string[] = [];
        for (let kh = 0; kh < op.k; kh++) {
          for (let kw = 0; kw < op.k; kw++) {
            const win =
              op.k === 1 && op.pad === 0
                ? s.x
                : g.one('Slice', [xp, g.ints([kh, kw]), g.ints([kh + hOut, kw + hOut]), hw]);
            const prod = g.one('MatMul', [g.one('Reshape', [win, g.ints([n, op.ci, P])]), dyT]);
            taps.push(g.one('ReduceSum', [prod, g.ints([0])], { keepdims: 1 }));
          }
        }
        const stacked = taps.length === 1 ? taps[0] : g.one('Concat', taps, { axis: 0 });
        paramGrad.set(op.w, g.one('Reshape', [stacked, g.ints([op.k, op.k, op.ci, op.co])]));
        if (needs(op.input)) {
          // dx: Conv of dy with the flipped, in/out-swapped kernel.
          const wT = g.one('Transpose', [s.wHwio], { perm: [2, 3, 0, 1] });
          const wF = g.one('Slice', [wT, g.ints([-1, -1]), g.ints([-1e9, -1e9]), hw, g.ints([-1, -1])]);
          const p = op.k - 1 - op.pad;
          const dx = g.one('Conv', [dy, wF], { pads: [p, p, p, p], kernel_shape: [op.k, op.k] });
          addGrad(op.input, dx);
        }
        break;
      }
      case 'bn': {
        const s = sv as Extract<Saved, { kind: 'bn' }>;
        const dy = dy0;
        let sumDy: string;
        let sumDyXc: string;
        if (op.input === L.input) {
          // The raw image's batch norm: its one gamma's gradient is a sum that cancels almost
          // entirely (|sum| ~ 1e-6 of the sum of |terms|), so float32 sums lose it; float64 here
          // costs little (one channel).
          const d64 = g.one('Cast', [dy], { to: DT.DOUBLE });
          const x64 = g.one('Cast', [s.xc], { to: DT.DOUBLE });
          sumDy = g.one('Cast', [g.one('ReduceSum', [d64, g.ints(axesNHW)], { keepdims: 1 })], { to: DT.FLOAT });
          sumDyXc = g.one('Cast', [g.one('ReduceSum', [g.one('Mul', [d64, x64]), g.ints(axesNHW)], { keepdims: 1 })], { to: DT.FLOAT });
        } else {
          sumDy = g.one('ReduceSum', [dy, g.ints(axesNHW)], { keepdims: 1 });
          sumDyXc = g.one('ReduceSum', [g.one('Mul', [dy, s.xc]), g.ints(axesNHW)], { keepdims: 1 });
        }
        paramGrad.set(op.beta, g.one('Reshape', [sumDy, g.ints([op.c])]));
        paramGrad.set(op.gamma, g.one('Reshape', [g.one('Mul', [sumDyXc, s.invstd]), g.ints([op.c])]));
        if (needs(op.input)) {
          const a = g.one('Div', [sumDy, g.scalar(s.m)]);
          const b = g.one('Div', [g.one('Mul', [sumDyXc, g.one('Mul', [s.invstd, s.invstd])]), g.scalar(s.m)]);
          const inner = g.one('Sub', [g.one('Sub', [dy, a]), g.one('Mul', [s.xc, b])]);
          addGrad(op.input, g.one('Mul', [inner, s.scale]));
        }
        break;
      }
      case 'relu': {
        const s = sv as Extract<Saved, { kind: 'relu' }>;
        if (needs(op.input)) addGrad(op.input, g.one('Mul', [dy0, g.one('Sign', [s.y])]));
        break;
      }
      case 'maxpool': {
        const s = sv as Extract<Saved, { kind: 'maxpool' }>;
        if (!needs(op.input)) break;
        const { c, h } = L.shape.get(op.input)!;
        const zeros = g.one('ConstantOfShape', [g.ints([n * c * h * h])]);
        const flatIdx = g.one('Reshape', [s.idx, g.ints([-1])]);
        const flatDy = g.one('Reshape', [dy0, g.ints([-1])]);
        const scattered = g.one('ScatterElements', [zeros, flatIdx, flatDy], { axis: 0, reduction: 'add' });
        addGrad(op.input, g.one('Reshape', [scattered, g.ints([n, c, h, h])]));
        break;
      }
      case 'upsample': {
        if (!needs(op.input)) break;
        const { c, h } = L.shape.get(op.input)!;
        const f = op.factor;
        const r = g.one('Reshape', [dy0, g.ints([n, c, h, f, h, f])]);
        addGrad(op.input, g.one('ReduceSum', [r, g.ints([3, 5])], { keepdims: 0 }));
        break;
      }
      case 'concat': {
        const parts = g.op('Split', [dy0, g.ints(op.sizes)], { axis: 1 }, op.sizes.length);
        op.inputs.forEach((inp, j) => {
          if (needs(inp)) addGrad(inp, parts[j]);
        });
        break;
      }
    }
  }

  params.forEach((_, i) => {
    const d = paramGrad.get(i);
    if (!d) throw new ParamError('model', model.trainableWeights[i].name, 'trainable weights that all reach the loss');
    g.output(`g${i}`, d);
  });

  const inputs = [
    valueInfo('image', [n, S, S, 1]),
    ...params.map((p) => valueInfo(p.name, p.shape)),
    ...['t_heatmap', 't_row', 't_col', 't_mask'].map((t) => valueInfo(t, [n, grid, grid, K])),
    valueInfo('t_visible', [n, K]),
  ];
  const outputs = [
    valueInfo('loss', []),
    ...params.map((p, i) => valueInfo(`g${i}`, p.shape)),
    ...L.bnLayers.flatMap((_, j) => {
      const c = (L.ops.find((o) => o.kind === 'bn' && o.bn === j) as Extract<Op, { kind: 'bn' }>).c;
      return [valueInfo(`bn_mean${j}`, [c]), valueInfo(`bn_var${j}`, [c])];
    }),
  ];
  const bytes = buildModel({ name: 'fmnet_train_step', nodes: g.nodes, inputs, outputs, initializers: g.inits });
  return { bytes, lowered: L };
}

/** Loss, gradients and batch statistics of one forward/backward pass. */
export interface OrtStepResult {
  loss: number;
  /** One per trainable weight (model.trainableWeights order), in the weight's tfjs layout. */
  grads: Float32Array[];
  /** Per batch norm (layer order): batch mean and biased variance. */
  bnMean: Float32Array[];
  bnVar: Float32Array[];
}

/**
 * FMnet's training step on ONNX Runtime, for one model (its weights are read at every call, so
 * the tfjs variables stay the source of truth: AdamW, checkpoints and saving work unchanged).
 */
export class OrtFMnetStep {
  private readonly sessions = new Map<number, { session: OrtSession; lowered: Lowered }>();
  private readonly shapes: number[][];

  constructor(
    readonly model: tf.LayersModel,
    private readonly options: { threads?: number } = {},
  ) {
    if (!ortAvailable()) throw new EngineError('ONNX Runtime is not available: the ONNX Runtime training step cannot run');
    lower(model); // validates now (ParamError for an unsupported layer)
    this.shapes = model.trainableWeights.map((w) => w.shape as number[]);
  }

  private session(n: number): { session: OrtSession; lowered: Lowered } {
    let s = this.sessions.get(n);
    if (!s) {
      const { bytes, lowered } = buildFMnetTrainGraph(this.model, n);
      s = { session: createSession(bytes, { threads: this.options.threads, providers: ['cpu'] }), lowered };
      this.sessions.set(n, s);
    }
    return s;
  }

  /**
   * Forward + loss + backward for `n` images (pixels [n*S*S], the tfjs NHWC batch) and their
   * targets (makeTargets). Does not change the model.
   */
  run(images: Float32Array, targets: PoseTargets, n: number): OrtStepResult {
    const { session, lowered } = this.session(n);
    const S = lowered.inputSize;
    const K = lowered.nKeypoints;
    const G = S / HEATMAP_STRIDE;
    if (images.length !== n * S * S) throw new ShapeError(`images has ${images.length} values; expected ${n}*${S}*${S}`);
    if (targets.n !== n || targets.nKeypoints !== K || targets.grid !== G) {
      throw new ShapeError(`targets are for ${targets.n} images, ${targets.nKeypoints} keypoints, grid ${targets.grid}; expected ${n}, ${K}, ${G}`);
    }
    const feeds: Record<string, ReturnType<typeof float32Tensor>> = {
      image: float32Tensor(images, [n, S, S, 1]),
      t_heatmap: float32Tensor(targets.heatmap, [n, G, G, K]),
      t_row: float32Tensor(targets.rowOffset, [n, G, G, K]),
      t_col: float32Tensor(targets.colOffset, [n, G, G, K]),
      t_mask: float32Tensor(targets.offsetMask, [n, G, G, K]),
      t_visible: float32Tensor(targets.visible, [n, K]),
    };
    this.model.trainableWeights.forEach((w, i) => {
      feeds[`p${i}`] = float32Tensor(w.read().dataSync() as Float32Array, this.shapes[i]);
    });
    const out = session.runSync(feeds);
    const f = (k: string): Float32Array => out[k].data as Float32Array;
    return {
      loss: f('loss')[0],
      grads: this.shapes.map((_, i) => f(`g${i}`)),
      bnMean: lowered.bnLayers.map((_, j) => f(`bn_mean${j}`)),
      bnVar: lowered.bnLayers.map((_, j) => f(`bn_var${j}`)),
    };
  }

  /**
   * Updates every batch norm's running statistics from a step's batch statistics, as tfjs's
   * training mode does: moving <- moving - (moving - batch) (1 - momentum).
   */
  updateBatchNormStats(r: OrtStepResult, n: number): void {
    const { lowered } = this.session(n);
    lowered.bnLayers.forEach((layer, j) => {
      const decay = 1 - layer.momentum;
      for (const [variable, value] of [
        [layer.movingMean, r.bnMean[j]],
        [layer.movingVariance, r.bnVar[j]],
      ] as const) {
        tf.tidy(() => {
          const orig = variable.read();
          variable.write(tf.sub(orig, tf.mul(tf.sub(orig, tf.tensor(value, orig.shape)), decay)));
        });
      }
    });
  }

  /** One full step like fmnetTrainStep: forward, backward, running stats, AdamW. Returns the loss. */
  step(optimizer: AdamW, images: Float32Array, targets: PoseTargets, n: number): number {
    const r = this.run(images, targets, n);
    this.updateBatchNormStats(r, n);
    const grads = r.grads.map((d, i) => tf.tensor(d, this.shapes[i]));
    try {
      optimizer.step(grads);
    } finally {
      tf.dispose(grads);
    }
    return r.loss;
  }

  dispose(): void {
    for (const s of this.sessions.values()) s.session.dispose();
    this.sessions.clear();
  }
}
