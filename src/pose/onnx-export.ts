/**
 * FMnet (a tfjs LayersModel from createFMnet or a model folder) to ONNX, for fast inference on
 * ONNX Runtime.
 *
 * The exported graph:
 *   input  'image'      [N, 1, S, S] float32: the preprocessed frames. With one channel, NCHW and
 *                        tfjs's NHWC [N, S, S, 1] are the same bytes, so a batch built for tfjs feeds
 *                        it unchanged.
 *   output 'heatmap'    [N, K, S/4, S/4] (after ReLU), 'row_offset', 'col_offset' likewise: NCHW,
 *                        so each keypoint's map is contiguous (tfjs gives [N, S/4, S/4, K]).
 * N is symbolic: one model serves every batch size.
 *
 * Inference-mode batch norm is a per-channel affine map y = a x + c (a = gamma / sqrt(var + eps),
 * c = beta - mean a). It is folded away wherever that is exact, i.e. wherever it can be pushed back
 * into the convolution that produced its input, whose kernel and bias then absorb it
 * (W'[o] = a[o] W[o], b'[o] = a[o] b[o] + c[o]):
 *  - conv -> BN, when the conv's output feeds nothing else (inside every block);
 *  - conv -> max-pool -> BN, when every a > 0 (max commutes with an increasing affine map; the
 *    pool's -inf padding is unaffected), and the conv feeds only the pool;
 *  - conv -> nearest upsample -> BN (upsampling copies values), likewise;
 *  - concat -> BN: channel by channel, each concatenated input on its own by the rules above.
 * Where it is not exact, the batch norm stays (as an ONNX BatchNormalization with the layer's own
 * statistics): the input image's (a conv's zero padding does not commute with it), and those after
 * the encoder levels that also feed the decoder (levels 2 and 3: one conv output, two different
 * batch norms). A ReLU that follows a max-pool is moved before it (max and ReLU commute) so that
 * ONNX Runtime can fuse it into the convolution (Conv + Relu -> FusedConv); the optimiser's NCHWc
 * layout transform then runs the whole network in MLAS's blocked layout.
 *
 * Layers supported: InputLayer, Conv2D (stride 1, 'same' or 'valid', odd square kernels, linear or
 * ReLU activation, with or without bias), BatchNormalization / FastBatchNorm (channel axis last),
 * ReLU, TorchMaxPool2d, UpSampling2D (nearest, integer factors), Concatenate (channel axis). Any
 * other layer is a ParamError naming it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { onnx } from 'onnx-proto';
import { buildModel, node, valueInfo } from '../engine/onnx-build';
import { FormatError, ParamError } from '../errors';
import { writeFileAtomicSync } from '../util/fsx';
import { fmnetGraph } from './fmnet-graph';
import { facemapTsVersion, loadModel, modelFolderFingerprint, type ModelCard } from './model-io';

/** Options of {@link fmnetToOnnx}. */
export interface OnnxExportOptions {
  /** Fold batch norms into convolutions where exact (default true); false keeps every one. */
  foldBatchNorm?: boolean;
  /** Extra metadata stored in the model (ModelProto.metadata_props). */
  metadata?: Readonly<Record<string, string>>;
}

/** What {@link fmnetToOnnx} made. */
export interface OnnxExport {
  /** Serialized ModelProto. */
  bytes: Uint8Array;
  /** Batch norms folded into convolutions, wholly or (after a concat) in part. */
  foldedBatchNorms: number;
  /** BatchNormalization nodes in the graph (whole batch norms kept, or the unfolded parts). */
  keptBatchNorms: number;
  /** ONNX nodes by type, e.g. { Conv: 29, Relu: 27, ... }. */
  nodeCounts: Record<string, number>;
}

/** Metadata keys written into every export. */
export const ONNX_META = {
  /** {@link modelFolderFingerprint} of the model folder exported (set by exportOnnx). */
  fingerprint: 'facemap-ts.source_sha256',
  keypoints: 'facemap-ts.keypoints',
  inputSize: 'facemap-ts.input_size',
  layout: 'facemap-ts.layout',
  version: 'facemap-ts.version',
} as const;

type Affine = { a: Float64Array; c: Float64Array };
type BnParams = { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number };

/** The network as a list of simple ops on named NCHW tensors, before emission. */
type Op =
  | { kind: 'conv'; input: string; output: string; weight: Float32Array; bias: Float64Array | null; co: number; ci: number; k: number; pad: number; relu: boolean }
  | { kind: 'bn'; input: string; output: string; bn: BnParams }
  | { kind: 'relu'; input: string; output: string }
  | { kind: 'maxpool'; input: string; output: string }
  | { kind: 'upsample'; input: string; output: string; factor: number }
  | { kind: 'concat'; inputs: string[]; output: string };

function bnAffine(bn: BnParams, lo = 0, hi = bn.gamma.length): Affine {
  const n = hi - lo;
  const a = new Float64Array(n);
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = bn.gamma[lo + i] / Math.sqrt(bn.variance[lo + i] + bn.epsilon);
    c[i] = bn.beta[lo + i] - bn.mean[lo + i] * a[i];
  }
  return { a, c };
}

function sliceBn(bn: BnParams, lo: number, hi: number): BnParams {
  return {
    gamma: bn.gamma.slice(lo, hi),
    beta: bn.beta.slice(lo, hi),
    mean: bn.mean.slice(lo, hi),
    variance: bn.variance.slice(lo, hi),
    epsilon: bn.epsilon,
  };
}

/** tfjs kernel [KH, KW, Ci, Co] -> ONNX [Co, Ci, KH, KW]. */
function toOIHW(kernel: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < ci; i++) {
        const src = ((y * kw + x) * ci + i) * co;
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = kernel[src + o];
      }
    }
  }
  return out;
}

/** The model's layers as ops (weights read), plus input/output names and per-tensor channel counts. */
function lower(model: tf.LayersModel): { ops: Op[]; input: string; outputs: string[]; channels: Map<string, number> } {
  const g = fmnetGraph(model);
  const read = (v: tf.LayerVariable) => v.read().dataSync() as Float32Array;
  const ops = g.layers.map((l): Op => {
    switch (l.kind) {
      case 'conv':
        return {
          kind: 'conv',
          input: l.input,
          output: l.output,
          weight: toOIHW(read(l.kernel), l.k, l.k, l.ci, l.co),
          bias: l.bias ? Float64Array.from(read(l.bias)) : null,
          co: l.co,
          ci: l.ci,
          k: l.k,
          pad: l.pad,
          relu: l.relu,
        };
      case 'bn':
        return { kind: 'bn', input: l.input, output: l.output, bn: { gamma: read(l.gamma), beta: read(l.beta), mean: read(l.movingMean), variance: read(l.movingVariance), epsilon: l.eps } };
      case 'upsample':
        return { kind: 'upsample', input: l.input, output: l.output, factor: l.factor };
      case 'concat':
        return { kind: 'concat', inputs: l.inputs, output: l.output };
      default:
        return { kind: l.kind, input: l.input, output: l.output };
    }
  });
  return { ops, input: g.input, outputs: g.outputs, channels: new Map([...g.shape].map(([name, sh]) => [name, sh.c])) };
}

class Graph {
  constructor(
    public ops: Op[],
    readonly outputs: string[],
  ) {}

  producer(t: string): Op | undefined {
    return this.ops.find((o) => o.output === t);
  }

  consumers(t: string): number {
    let n = this.outputs.filter((o) => o === t).length;
    for (const o of this.ops) n += (o.kind === 'concat' ? o.inputs : [o.input]).filter((i) => i === t).length;
    return n;
  }

  /** Renames every use of tensor `from` to `to`. */
  rewire(from: string, to: string): void {
    for (const o of this.ops) {
      if (o.kind === 'concat') o.inputs = o.inputs.map((i) => (i === from ? to : i));
      else if (o.input === from) o.input = to;
    }
    for (let i = 0; i < this.outputs.length; i++) if (this.outputs[i] === from) this.outputs[i] = to;
  }

  /**
   * The conv that an affine map on tensor `t` can be pushed into exactly (see the module comment),
   * or null. `positive`: whether every scale of the map is > 0.
   */
  foldTarget(t: string, positive: boolean): (Op & { kind: 'conv' }) | null {
    if (this.consumers(t) !== 1) return null;
    const p = this.producer(t);
    if (!p) return null;
    if (p.kind === 'conv') return p.relu ? null : p;
    if (p.kind === 'upsample' || (p.kind === 'maxpool' && positive)) return this.foldTarget(p.input, positive);
    return null;
  }
}

function absorb(conv: Op & { kind: 'conv' }, { a, c }: Affine): void {
  const per = conv.ci * conv.k * conv.k;
  const bias = conv.bias ?? new Float64Array(conv.co);
  for (let o = 0; o < conv.co; o++) {
    for (let j = 0; j < per; j++) conv.weight[o * per + j] = Math.fround(conv.weight[o * per + j] * a[o]);
    bias[o] = bias[o] * a[o] + c[o];
  }
  conv.bias = bias;
}

let renameCounter = 0;

/** Folds batch norms (see the module comment); returns how many were folded and kept. */
function foldBatchNorms(g: Graph, channels: Map<string, number>): { folded: number; kept: number } {
  let folded = 0;
  let kept = 0;
  for (const op of [...g.ops]) {
    if (op.kind !== 'bn') continue;
    const affine = bnAffine(op.bn);
    const positive = affine.a.every((v) => v > 0);
    const direct = g.foldTarget(op.input, positive);
    if (direct) {
      absorb(direct, affine);
      g.ops = g.ops.filter((o) => o !== op);
      g.rewire(op.output, op.input);
      folded++;
      continue;
    }
    const p = g.producer(op.input);
    if (p?.kind === 'concat' && g.consumers(op.input) === 1) {
      // Part by part: each concatenated input absorbs its channels' affine map, or gets its own BN.
      let lo = 0;
      let anyFolded = false;
      const inserted: Op[] = [];
      p.inputs = p.inputs.map((inp) => {
        const n = channels.get(inp) as number;
        const part = bnAffine(op.bn, lo, lo + n);
        const target = g.foldTarget(inp, part.a.every((v) => v > 0));
        let name = inp;
        if (target) {
          absorb(target, part);
          anyFolded = true;
        } else {
          name = `${inp}__bn${++renameCounter}`;
          inserted.push({ kind: 'bn', input: inp, output: name, bn: sliceBn(op.bn, lo, lo + n) });
          channels.set(name, n);
        }
        lo += n;
        return name;
      });
      g.ops.splice(g.ops.indexOf(p), 0, ...inserted);
      g.ops = g.ops.filter((o) => o !== op);
      g.rewire(op.output, op.input);
      if (anyFolded) folded++;
      kept += inserted.length;
      continue;
    }
    kept++;
  }
  return { folded, kept };
}

/** maxpool -> relu becomes relu -> maxpool when the pool's input feeds only the pool (exact). */
function reluBeforePool(g: Graph): void {
  for (const relu of [...g.ops]) {
    if (relu.kind !== 'relu') continue;
    const pool = g.producer(relu.input);
    if (!pool || pool.kind !== 'maxpool' || g.consumers(pool.output) !== 1 || g.consumers(pool.input) !== 1) continue;
    // x -pool-> p -relu-> r   becomes   x -relu-> m -pool-> r  (p disappears; r keeps its readers).
    const x = pool.input;
    const r = relu.output;
    const m = `${x}__relu${++renameCounter}`;
    relu.input = x;
    relu.output = m;
    pool.input = m;
    pool.output = r;
    g.ops = g.ops.filter((o) => o !== relu);
    g.ops.splice(g.ops.indexOf(pool), 0, relu);
  }
}

/** Conv followed by its only consumer, a relu, becomes one conv with relu (what ORT fuses anyway). */
function fuseConvRelu(g: Graph): void {
  for (const relu of [...g.ops]) {
    if (relu.kind !== 'relu') continue;
    const conv = g.producer(relu.input);
    if (!conv || conv.kind !== 'conv' || conv.relu || g.consumers(conv.output) !== 1) continue;
    conv.relu = true;
    g.ops = g.ops.filter((o) => o !== relu);
    g.rewire(relu.output, conv.output);
  }
}

function f32Initializer(name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  const data = Float32Array.from(values);
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

/**
 * FMnet (or any model of the layers above, one input [N,S,S,1]) as ONNX bytes. `card` (optional)
 * puts the keypoint names into the model's metadata. Leaks no tensors.
 */
export function fmnetToOnnx(model: tf.LayersModel, options: OnnxExportOptions & { card?: Pick<ModelCard, 'keypoints'> } = {}): OnnxExport {
  const { ops, input, outputs, channels } = lower(model);
  const g = new Graph(ops, [...outputs]);
  const fold = options.foldBatchNorm ?? true;
  let counts = { folded: 0, kept: ops.filter((o) => o.kind === 'bn').length };
  if (fold) {
    counts = foldBatchNorms(g, channels);
    reluBeforePool(g);
    fuseConvRelu(g);
  }
  const S = model.inputs[0].shape[1] as number;
  const outNames = ['heatmap', 'row_offset', 'col_offset'];
  if (outputs.length !== 3) throw new ParamError('model outputs', outputs.length, '3 (heatmap, row offset, column offset)');
  // Graph tensor names are the tfjs symbolic names, except the interface ones.
  const rename = new Map<string, string>([[input, 'image'], ...g.outputs.map((o, i): [string, string] => [o, outNames[i]])]);
  const nm = (t: string): string => rename.get(t) ?? t;
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  let id = 0;
  for (const op of g.ops) {
    const tag = `${op.kind}${id++}`;
    switch (op.kind) {
      case 'conv': {
        const w = `${tag}.w`;
        inits.push(f32Initializer(w, [op.co, op.ci, op.k, op.k], op.weight));
        const inputs = [nm(op.input), w];
        if (op.bias) {
          inits.push(f32Initializer(`${tag}.b`, [op.co], op.bias));
          inputs.push(`${tag}.b`);
        }
        const convOut = op.relu ? `${tag}.pre` : nm(op.output);
        nodes.push(node('Conv', inputs, [convOut], { kernel_shape: [op.k, op.k], pads: [op.pad, op.pad, op.pad, op.pad], strides: [1, 1] }, tag));
        if (op.relu) nodes.push(node('Relu', [convOut], [nm(op.output)], {}, `${tag}.relu`));
        break;
      }
      case 'bn': {
        const n = op.bn.gamma.length;
        const names = ['scale', 'bias', 'mean', 'var'].map((s) => `${tag}.${s}`);
        [op.bn.gamma, op.bn.beta, op.bn.mean, op.bn.variance].forEach((v, i) => inits.push(f32Initializer(names[i], [n], v)));
        nodes.push(node('BatchNormalization', [nm(op.input), ...names], [nm(op.output)], { epsilon: op.bn.epsilon }, tag));
        break;
      }
      case 'relu':
        nodes.push(node('Relu', [nm(op.input)], [nm(op.output)], {}, tag));
        break;
      case 'maxpool':
        nodes.push(node('MaxPool', [nm(op.input)], [nm(op.output)], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, tag));
        break;
      case 'upsample': {
        inits.push(f32Initializer(`${tag}.scales`, [4], [1, 1, op.factor, op.factor]));
        nodes.push(
          node('Resize', [nm(op.input), '', `${tag}.scales`], [nm(op.output)], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, tag),
        );
        break;
      }
      case 'concat':
        nodes.push(node('Concat', op.inputs.map(nm), [nm(op.output)], { axis: 1 }, tag));
        break;
    }
  }
  const K = channels.get(outputs[0]) as number;
  const G = S / 4;
  const metadata: Record<string, string> = {
    [ONNX_META.inputSize]: String(S),
    [ONNX_META.layout]: 'NCHW',
    [ONNX_META.version]: facemapTsVersion(),
    ...(options.card ? { [ONNX_META.keypoints]: JSON.stringify(options.card.keypoints) } : {}),
    ...(options.metadata ?? {}),
  };
  const bytes = buildModel({
    name: model.name || 'FMnet',
    nodes,
    inputs: [valueInfo('image', ['N', 1, S, S])],
    outputs: outNames.map((o) => valueInfo(o, ['N', K, G, G])),
    initializers: inits,
    metadata,
    docString: 'FMnet exported by facemap-ts: input [N,1,S,S] preprocessed grey frames; outputs NCHW heatmap (ReLU), row and column offsets',
  });
  const nodeCounts: Record<string, number> = {};
  for (const n of nodes) nodeCounts[n.opType as string] = (nodeCounts[n.opType as string] ?? 0) + 1;
  return { bytes, foldedBatchNorms: counts.folded, keptBatchNorms: counts.kept, nodeCounts };
}

/** The metadata (ModelProto.metadata_props) of an ONNX model. */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const m = onnx.ModelProto.decode(bytes);
  return Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
}

/** An ONNX file's bytes and metadata; FormatError naming the file when it is not readable ONNX. */
export function readOnnxFile(file: string): { bytes: Uint8Array; meta: Record<string, string> } {
  const bytes = new Uint8Array(fs.readFileSync(file));
  try {
    return { bytes, meta: onnxMetadata(bytes) };
  } catch (e) {
    throw new FormatError(file, `not a readable ONNX model: ${(e as Error).message}`);
  }
}

/** File name of the ONNX model inside a model folder. */
export const ONNX_FILE = 'model.onnx';

/** What {@link exportOnnx} wrote. */
export interface OnnxExportResult extends Omit<OnnxExport, 'bytes'> {
  file: string;
  bytes: number;
  /** {@link modelFolderFingerprint} of the folder, stored in the model's metadata. */
  fingerprint: string;
}

/**
 * Writes `MODEL_DIR/model.onnx` (atomically) from the folder's tfjs model; the folder's fingerprint
 * goes into the ONNX metadata so that a stale export (weights changed since) is recognised.
 */
export async function exportOnnx(modelDir: string, options: OnnxExportOptions = {}): Promise<OnnxExportResult> {
  const fingerprint = modelFolderFingerprint(modelDir);
  const { model, card } = await loadModel(modelDir);
  try {
    const ex = fmnetToOnnx(model, { ...options, card, metadata: { ...options.metadata, [ONNX_META.fingerprint]: fingerprint } });
    const file = path.join(modelDir, ONNX_FILE);
    writeFileAtomicSync(file, ex.bytes);
    const { bytes, ...rest } = ex;
    return { ...rest, file, bytes: bytes.byteLength, fingerprint };
  } finally {
    model.dispose();
  }
}

/** The ONNX model of a model folder, from {@link onnxForFolder}. */
export interface FolderOnnx {
  bytes: Uint8Array;
  /** 'file': the folder's model.onnx; 'memory': exported now from the tfjs model. */
  source: 'file' | 'memory';
  /** Why model.onnx was not used, when it exists but is stale or foreign; else null. */
  stale: string | null;
  /** {@link modelFolderFingerprint} of the folder. */
  fingerprint: string;
}

/**
 * The ONNX model for a model folder: its `model.onnx` when that was exported from the folder's
 * current weights (fingerprint in the metadata), else a fresh export in memory (which loads the
 * tfjs model: the active tfjs backend must be initialised).
 */
export async function onnxForFolder(modelDir: string): Promise<FolderOnnx> {
  const fingerprint = modelFolderFingerprint(modelDir);
  const file = path.join(modelDir, ONNX_FILE);
  let stale: string | null = null;
  if (fs.existsSync(file)) {
    const { bytes, meta } = readOnnxFile(file);
    if (meta[ONNX_META.fingerprint] === fingerprint) return { bytes, source: 'file', stale: null, fingerprint };
    stale = meta[ONNX_META.fingerprint]
      ? `${file} is older than the model's weights (re-run export-onnx); exported again in memory`
      : `${file} was not exported by facemap-ts export-onnx; exported the tfjs model in memory instead`;
  }
  const { model, card } = await loadModel(modelDir);
  try {
    return { bytes: fmnetToOnnx(model, { card }).bytes, source: 'memory', stale, fingerprint };
  } finally {
    model.dispose();
  }
}
