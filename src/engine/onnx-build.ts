/**
 * Building ONNX models in code with `onnx-proto` (protobufjs classes of onnx.proto), for the small
 * compute graphs that the engine runs on ONNX Runtime (matmul, later exported tfjs models).
 *
 * Dimensions given as strings become symbolic (`dim_param`), so that one session serves every
 * shape: ONNX Runtime resolves them at each run.
 */
import { onnx } from 'onnx-proto';
import { ParamError } from '../errors';

/** A dimension: a fixed size, or a name for a size that is known only at run time. */
export type Dim = number | string;

/** Attribute values that the builders support. */
export type AttributeValue = number | number[] | string;

/** Default opset of the default ('ai.onnx') domain. ONNX Runtime 1.30 supports up to 23. */
export const DEFAULT_OPSET = 17;
/** IR version 8 goes with opset 17 (ONNX 1.12). */
export const DEFAULT_IR_VERSION = 8;

/** A graph input or output: name, element type (float32 by default) and dimensions. */
export function valueInfo(
  name: string,
  dims: readonly Dim[],
  elemType: number = onnx.TensorProto.DataType.FLOAT,
): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
}

/**
 * One node. Integer attributes are written as INT (whole numbers) or FLOAT (others); arrays of
 * numbers as INTS; strings as STRING.
 */
export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: Readonly<Record<string, AttributeValue>> = {},
  name?: string,
): onnx.NodeProto {
  const T = onnx.AttributeProto.AttributeType;
  const attribute = Object.entries(attributes).map(([key, v]) => {
    if (typeof v === 'string') return { name: key, type: T.STRING, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) {
      if (!v.every(Number.isInteger)) throw new ParamError(`${opType}.${key}`, v, 'integers');
      return { name: key, type: T.INTS, ints: v };
    }
    return Number.isInteger(v) ? { name: key, type: T.INT, i: v } : { name: key, type: T.FLOAT, f: v };
  });
  return onnx.NodeProto.create({ opType, input: [...inputs], output: [...outputs], attribute, name: name ?? '' });
}

/** What `buildModel` needs. */
export interface ModelSpec {
  name: string;
  nodes: readonly onnx.INodeProto[];
  inputs: readonly onnx.IValueInfoProto[];
  outputs: readonly onnx.IValueInfoProto[];
  initializers?: readonly onnx.ITensorProto[];
  opset?: number;
  irVersion?: number;
  /** Key-value metadata stored in the model (ModelProto.metadata_props). */
  metadata?: Readonly<Record<string, string>>;
  /** Free text describing the model (ModelProto.doc_string). */
  docString?: string;
}

/** Serialized ModelProto bytes, ready for `createSession`. */
export function buildModel(spec: ModelSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: spec.irVersion ?? DEFAULT_IR_VERSION,
    producerName: 'facemap-ts',
    docString: spec.docString ?? '',
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
    opsetImport: [{ domain: '', version: spec.opset ?? DEFAULT_OPSET }],
    graph: {
      name: spec.name,
      node: [...spec.nodes],
      input: [...spec.inputs],
      output: [...spec.outputs],
      initializer: [...(spec.initializers ?? [])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * C = A @ B in float64 (MLAS's DGEMM on CPU) with symbolic dims m, k, n; inputs 'A', 'B', output 'C'.
 */
export function matmul64Model(): Uint8Array {
  const D = onnx.TensorProto.DataType.DOUBLE;
  return buildModel({
    name: 'matmul64',
    nodes: [node('MatMul', ['A', 'B'], ['C'])],
    inputs: [valueInfo('A', ['m', 'k'], D), valueInfo('B', ['k', 'n'], D)],
    outputs: [valueInfo('C', ['m', 'n'], D)],
  });
}

/**
 * C = op(A) @ op(B) with symbolic dims m, k, n; inputs 'A', 'B', output 'C' (float32).
 * Shapes: A is m x k (k x m when transposeA), B is k x n (n x k when transposeB), C is m x n.
 * No transpose: one MatMul node. Otherwise one Gemm node with transA/transB, which MLAS runs
 * without materializing the transpose.
 */
export function matmulModel(transposeA = false, transposeB = false): Uint8Array {
  const shapeA = transposeA ? ['k', 'm'] : ['m', 'k'];
  const shapeB = transposeB ? ['n', 'k'] : ['k', 'n'];
  const nd =
    transposeA || transposeB
      ? node('Gemm', ['A', 'B'], ['C'], { transA: transposeA ? 1 : 0, transB: transposeB ? 1 : 0 })
      : node('MatMul', ['A', 'B'], ['C']);
  return buildModel({
    name: `matmul${transposeA ? '_tA' : ''}${transposeB ? '_tB' : ''}`,
    nodes: [nd],
    inputs: [valueInfo('A', shapeA), valueInfo('B', shapeB)],
    outputs: [valueInfo('C', ['m', 'n'])],
  });
}
