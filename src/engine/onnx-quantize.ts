/**
 * Static int8 quantisation of a float ONNX convolution network, in ONNX's QDQ form, for ONNX
 * Runtime's int8 kernels (MLAS U8S8: AVX2, AVX-512 VNNI, AMX on x86; dot-product on ARM).
 *
 * What is quantised: every Conv except those chosen to stay float (by default the network's
 * heads: convs whose output reaches a graph output directly or through one Relu), with
 *  - weights int8, symmetric, per output channel (scale max|w| / 127, zero point 0);
 *  - bias int32 with scale x_scale * w_scale[o] and zero point 0 (as QLinearConv requires);
 *  - activations uint8, per tensor, with ranges calibrated on real inputs: the input of each
 *    quantised conv and its output (after its Relu when a Relu is its only reader, so that a Relu
 *    costs nothing: uint8 with zero point 0 clamps at 0).
 * Each quantised activation T becomes T -> QuantizeLinear -> DequantizeLinear -> readers, and each
 * quantised weight a DequantizeLinear of an int8 initializer. ONNX Runtime's graph optimiser
 * (level 'extended' or 'all') turns DQ -> Conv -> (Relu ->) Q into QLinearConv and a MaxPool
 * between Q/DQ pairs of the same parameters into a uint8 MaxPool (the output of a MaxPool whose
 * input is quantised reuses the input's parameters for that reason). Everything else (batch norms
 * that were not folded, Resize, Concat, the heads) runs in float on dequantised values.
 *
 * Calibration: {@link calibrationModel} adds every tensor that needs a range as a graph output;
 * {@link RangeCollector} gathers their ranges over calibration batches (min/max, or a central
 * percentile of a strided sample of the values, which ignores rare outliers).
 */
import { onnx } from 'onnx-proto';
import { ParamError, ShapeError } from '../errors';
import { node } from './onnx-build';

const DT = onnx.TensorProto.DataType;

/** Range of one activation tensor. */
export interface TensorRange {
  min: number;
  max: number;
}

/** Options of {@link quantizeQdq} and {@link quantizationPlan}. */
export interface QdqOptions {
  /** Names of Conv nodes to keep in float, instead of the default (the heads). */
  keepFloat?: readonly string[];
}

/** Which tensors get quantised, and which convs. */
export interface QuantizationPlan {
  /** Conv node names quantised. */
  convs: string[];
  /** Conv node names kept in float. */
  floatConvs: string[];
  /** Activation tensors that need a calibrated range. */
  calibrate: string[];
  /** Tensors that take another tensor's parameters (MaxPool output -> its input). */
  sameAs: Record<string, string>;
}

interface GraphView {
  model: onnx.ModelProto;
  graph: onnx.GraphProto;
  nodes: onnx.INodeProto[];
  producer: Map<string, onnx.INodeProto>;
  readers: Map<string, onnx.INodeProto[]>;
  inits: Map<string, onnx.ITensorProto>;
  outputs: Set<string>;
}

function view(bytes: Uint8Array): GraphView {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph as onnx.GraphProto;
  if (!graph) throw new ShapeError('the ONNX model has no graph');
  const nodes = graph.node ?? [];
  nodes.forEach((n, i) => {
    if (!n.name) n.name = `${n.opType}_${i}`;
  });
  const producer = new Map<string, onnx.INodeProto>();
  const readers = new Map<string, onnx.INodeProto[]>();
  for (const n of nodes) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  }
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name as string, t]));
  const outputs = new Set((graph.output ?? []).map((o) => o.name as string));
  return { model, graph, nodes, producer, readers, inits, outputs };
}

function attrInt(n: onnx.INodeProto, name: string, dflt: number): number {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? Number(a.i) : dflt;
}

/** Convs whose output is a graph output, directly or through a single Relu. */
function headConvs(g: GraphView): Set<string> {
  const heads = new Set<string>();
  for (const n of g.nodes) {
    if (n.opType !== 'Conv') continue;
    const out = (n.output as string[])[0];
    if (g.outputs.has(out)) heads.add(n.name as string);
    const r = g.readers.get(out) ?? [];
    if (r.length === 1 && r[0].opType === 'Relu' && g.outputs.has((r[0].output as string[])[0])) heads.add(n.name as string);
  }
  return heads;
}

/** The tensor a quantised conv's output is quantised at: after its Relu when that is the only reader. */
function convOutputTensor(g: GraphView, conv: onnx.INodeProto): string {
  const out = (conv.output as string[])[0];
  const r = g.readers.get(out) ?? [];
  if (r.length === 1 && r[0].opType === 'Relu' && !g.outputs.has(out)) return (r[0].output as string[])[0];
  return out;
}

function planOf(g: GraphView, options: QdqOptions): QuantizationPlan {
  const keep = options.keepFloat ? new Set(options.keepFloat) : headConvs(g);
  const convs = g.nodes.filter((n) => n.opType === 'Conv' && !keep.has(n.name as string));
  const floatConvs = g.nodes.filter((n) => n.opType === 'Conv' && keep.has(n.name as string)).map((n) => n.name as string);
  for (const c of convs) {
    if (attrInt(c, 'group', 1) !== 1) throw new ParamError('conv', c.name, 'ungrouped convolutions (group = 1)');
    const w = g.inits.get((c.input as string[])[1]);
    if (!w) throw new ParamError(`conv ${c.name}`, (c.input as string[])[1], 'a weight stored as an initializer');
    const b = (c.input as string[])[2];
    if (b && !g.inits.has(b)) throw new ParamError(`conv ${c.name}`, b, 'a bias stored as an initializer');
  }
  const tensors = new Set<string>();
  for (const c of convs) {
    tensors.add((c.input as string[])[0]);
    tensors.add(convOutputTensor(g, c));
  }
  const sameAs: Record<string, string> = {};
  for (const t of tensors) {
    const p = g.producer.get(t);
    if (p?.opType === 'MaxPool' && tensors.has((p.input as string[])[0])) sameAs[t] = (p.input as string[])[0];
  }
  const calibrate = [...tensors].filter((t) => !(t in sameAs));
  return { convs: convs.map((c) => c.name as string), floatConvs, calibrate, sameAs };
}

/** What would be quantised in a float model (no changes made). */
export function quantizationPlan(bytes: Uint8Array, options: QdqOptions = {}): QuantizationPlan {
  return planOf(view(bytes), options);
}

/** The model with `tensors` added as float graph outputs (shape left open), for calibration. */
export function calibrationModel(bytes: Uint8Array, tensors: readonly string[]): Uint8Array {
  const g = view(bytes);
  for (const t of tensors) {
    if (!g.producer.has(t)) throw new ParamError('tensor', t, 'a tensor produced by a node of the model');
    if (g.outputs.has(t)) continue;
    g.graph.output.push(onnx.ValueInfoProto.create({ name: t, type: { tensorType: { elemType: DT.FLOAT } } }));
  }
  return onnx.ModelProto.encode(g.model).finish();
}

/**
 * Gathers activation ranges over calibration batches. `percentile` (default 100: min/max) clips
 * each tensor's range to the central quantiles of a strided sample of its values (at most
 * `samplesPerBatch` values per tensor and batch).
 */
export class RangeCollector {
  private readonly min = new Map<string, number>();
  private readonly max = new Map<string, number>();
  private readonly samples = new Map<string, Float32Array[]>();

  constructor(
    readonly percentile = 100,
    readonly samplesPerBatch = 200_000,
  ) {
    if (!(percentile > 50 && percentile <= 100)) throw new ParamError('percentile', percentile, 'a number in (50, 100]');
  }

  add(name: string, values: Float32Array): void {
    let lo = this.min.get(name) ?? Infinity;
    let hi = this.max.get(name) ?? -Infinity;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min.set(name, lo);
    this.max.set(name, hi);
    if (this.percentile < 100) {
      const step = Math.max(1, Math.floor(values.length / this.samplesPerBatch));
      const s = new Float32Array(Math.ceil(values.length / step));
      for (let i = 0, j = 0; i < values.length; i += step, j++) s[j] = values[i];
      this.samples.set(name, [...(this.samples.get(name) ?? []), s]);
    }
  }

  /** Ranges so far (each widened to contain 0, as uint8 quantisation needs). */
  ranges(): Map<string, TensorRange> {
    const out = new Map<string, TensorRange>();
    for (const [name, lo] of this.min) {
      let min = lo;
      let max = this.max.get(name) as number;
      if (this.percentile < 100) {
        const parts = this.samples.get(name) as Float32Array[];
        const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
        let o = 0;
        for (const p of parts) {
          all.set(p, o);
          o += p.length;
        }
        all.sort();
        const q = (f: number): number => all[Math.min(all.length - 1, Math.max(0, Math.round(f * (all.length - 1))))];
        min = q(1 - this.percentile / 100);
        max = q(this.percentile / 100);
      }
      out.set(name, { min: Math.min(0, min), max: Math.max(0, max) });
    }
    return out;
  }
}

/** uint8 scale and zero point of a range containing 0. */
export function uint8Params(r: TensorRange): { scale: number; zeroPoint: number } {
  const span = r.max - r.min;
  if (!(span > 0)) return { scale: 1, zeroPoint: 0 };
  const scale = span / 255;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-r.min / scale)));
  return { scale, zeroPoint };
}

function floatData(t: onnx.ITensorProto): Float32Array {
  if (t.dataType !== DT.FLOAT) throw new ParamError(`initializer ${t.name}`, t.dataType, 'float32');
  if (t.rawData && t.rawData.length) {
    const raw = t.rawData;
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  }
  return Float32Array.from(t.floatData ?? []);
}

function tensor(name: string, dataType: number, dims: number[], bytes: ArrayBufferView): onnx.TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims, rawData: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
}

/** Summary of {@link quantizeQdq}. */
export interface QdqResult {
  bytes: Uint8Array;
  plan: QuantizationPlan;
  /** Per quantised tensor, its uint8 scale and zero point. */
  params: Record<string, { scale: number; zeroPoint: number }>;
}

/**
 * The QDQ int8 model of a float model, given calibrated ranges of every tensor in the plan's
 * `calibrate` list (see the module comment). The input and output interface is unchanged.
 */
export function quantizeQdq(bytes: Uint8Array, ranges: ReadonlyMap<string, TensorRange>, options: QdqOptions = {}): QdqResult {
  const g = view(bytes);
  const plan = planOf(g, options);
  const params: Record<string, { scale: number; zeroPoint: number }> = {};
  for (const t of plan.calibrate) {
    const r = ranges.get(t);
    if (!r || !Number.isFinite(r.min) || !Number.isFinite(r.max)) throw new ParamError('ranges', t, 'a calibrated range for every tensor of the plan');
    params[t] = uint8Params(r);
  }
  for (const [t, src] of Object.entries(plan.sameAs)) params[t] = params[src];

  const newInits: onnx.ITensorProto[] = [];
  const dropInits = new Set<string>();
  const qdqNodes = new Map<string, onnx.INodeProto[]>(); // inserted after the producer of the tensor
  const dq = new Map<string, string>();
  // Activations: T -> Q -> DQ; every reader of T reads the DQ output instead.
  for (const [t, p] of Object.entries(params)) {
    const s = `${t}__scale`;
    const z = `${t}__zp`;
    newInits.push(tensor(s, DT.FLOAT, [], Float32Array.of(p.scale)), tensor(z, DT.UINT8, [], Uint8Array.of(p.zeroPoint)));
    const q = `${t}__q`;
    const d = `${t}__dq`;
    qdqNodes.set(t, [node('QuantizeLinear', [t, s, z], [q], {}, `${t}__Q`), node('DequantizeLinear', [q, s, z], [d], {}, `${t}__DQ`)]);
    dq.set(t, d);
  }
  for (const n of g.nodes) n.input = (n.input ?? []).map((i) => dq.get(i) ?? i);
  // Weights and biases of the quantised convs.
  const convSet = new Set(plan.convs);
  const weightNodes: onnx.INodeProto[] = [];
  for (const c of g.nodes) {
    if (!convSet.has(c.name as string)) continue;
    const inputs = c.input as string[];
    const xName = inputs[0].endsWith('__dq') ? inputs[0].slice(0, -4) : inputs[0];
    const xScale = params[xName].scale;
    const wInit = g.inits.get(inputs[1]) as onnx.ITensorProto;
    const dims = (wInit.dims ?? []).map(Number);
    const w = floatData(wInit);
    const co = dims[0];
    const per = w.length / co;
    const wq = new Int8Array(w.length);
    const ws = new Float32Array(co);
    for (let o = 0; o < co; o++) {
      let m = 0;
      for (let j = 0; j < per; j++) m = Math.max(m, Math.abs(w[o * per + j]));
      ws[o] = m > 0 ? m / 127 : 1;
      for (let j = 0; j < per; j++) wq[o * per + j] = Math.max(-127, Math.min(127, Math.round(w[o * per + j] / ws[o])));
    }
    const tag = c.name as string;
    newInits.push(tensor(`${tag}.wq`, DT.INT8, dims, wq), tensor(`${tag}.ws`, DT.FLOAT, [co], ws), tensor(`${tag}.wz`, DT.INT8, [co], new Int8Array(co)));
    weightNodes.push(node('DequantizeLinear', [`${tag}.wq`, `${tag}.ws`, `${tag}.wz`], [`${tag}.wdq`], { axis: 0 }, `${tag}.W_DQ`));
    dropInits.add(inputs[1]);
    const newInputs = [inputs[0], `${tag}.wdq`];
    if (inputs[2]) {
      const b = floatData(g.inits.get(inputs[2]) as onnx.ITensorProto);
      const bq = new Int32Array(co);
      const bs = new Float32Array(co);
      for (let o = 0; o < co; o++) {
        bs[o] = xScale * ws[o];
        bq[o] = Math.round(b[o] / bs[o]);
      }
      newInits.push(tensor(`${tag}.bq`, DT.INT32, [co], bq), tensor(`${tag}.bs`, DT.FLOAT, [co], bs), tensor(`${tag}.bz`, DT.INT32, [co], new Int32Array(co)));
      weightNodes.push(node('DequantizeLinear', [`${tag}.bq`, `${tag}.bs`, `${tag}.bz`], [`${tag}.bdq`], { axis: 0 }, `${tag}.B_DQ`));
      dropInits.add(inputs[2]);
      newInputs.push(`${tag}.bdq`);
    }
    c.input = newInputs;
  }
  // Order: weight DQs first, then each node followed by the Q/DQ of its outputs (graph inputs' Q/DQ up front).
  const ordered: onnx.INodeProto[] = [...weightNodes];
  for (const [t, nodes] of qdqNodes) if (!g.producer.has(t)) ordered.push(...nodes);
  for (const n of g.nodes) {
    ordered.push(n);
    for (const o of n.output ?? []) ordered.push(...(qdqNodes.get(o) ?? []));
  }
  // An initializer still read elsewhere (shared weights) is kept.
  const stillRead = new Set(ordered.flatMap((n) => n.input ?? []));
  g.graph.node = ordered as onnx.NodeProto[];
  g.graph.initializer = [...(g.graph.initializer ?? []).filter((t) => !dropInits.has(t.name as string) || stillRead.has(t.name as string)), ...newInits] as onnx.TensorProto[];
  // QDQ with per-axis DequantizeLinear needs opset >= 13.
  for (const o of g.model.opsetImport ?? []) if ((o.domain ?? '') === '' && Number(o.version) < 13) o.version = 13;
  return { bytes: onnx.ModelProto.encode(g.model).finish(), plan, params };
}
