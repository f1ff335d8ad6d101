/**
 * Gradient kernels for the tfjs wasm backend, built on its own XNNPACK convolution and matmul,
 * and one correctness fix for the cpu backend.
 *
 * As shipped, the wasm backend cannot train a conv net: `Conv2DBackpropFilter` is not registered
 * and `Conv2DBackpropInput` is a scalar loop. Both are rewritten here in terms of kernels that
 * XNNPACK runs fast:
 *  - dx = valid conv2d of the stride-dilated, re-padded dy with the flipped, in/out-swapped filter;
 *  - dW[kh,kw] = (input window at offset kh,kw, channels first) · dy, one plain matmul per filter
 *    tap: the input is transposed once, and dy is the same operand of every tap's matmul, so
 *    XNNPACK packs it once; every matmul takes its fast (non-transposed) path.
 * Configurations XNNPACK cannot help with (NCHW) fall back to the stock kernel for dx and raise a
 * clear error for dW. Two stock gradients are wrong and replaced: wasm's MaxPoolGrad (batch and
 * channels both > 1 with explicit padding, as FMnet pools) and ResizeNearestNeighborGrad (wasm: with
 * halfPixelCenters; cpu: whenever the batch holds more than one image).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { EngineError } from '../errors';

type Info = tf.TensorInfo;
type NamedInfos = Record<string, Info>;
type KernelImpl = (args: { inputs: NamedInfos; backend: unknown; attrs: unknown }) => Info;
type Conv2DInfo = tf.backend_util.Conv2DInfo;
type PadAttr = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

interface BackpropFilterAttrs {
  strides: [number, number] | number;
  pad: PadAttr;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

interface BackpropInputAttrs {
  strides: [number, number] | number;
  pad: PadAttr;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

interface MaxPoolGradAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: PadAttr;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Names of the kernels this module registers for the wasm backend. */
export const WASM_GRADIENT_KERNELS = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'MaxPoolGrad',
  'ResizeNearestNeighborGrad',
] as const;

let stockKernels: tf.KernelConfig[] = [];
let stockBackpropInput: tf.KernelConfig | undefined;
let installed = false;

/** Runs another wasm kernel directly (no tape, no engine bookkeeping); caller disposes the result. */
function run(backend: BackendWasm, name: string, inputs: NamedInfos, attrs: object = {}): Info {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new EngineError(`wasm backend has no ${name} kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as Info;
}

function free(backend: BackendWasm, ...infos: Info[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Window of a channels-first [C,N,H,W] tensor at offset `begin` with `size` outputs and `strides`. */
function sliceWindowChannelsFirst(
  backend: BackendWasm,
  x: Info,
  begin: [number, number],
  size: [number, number],
  strides: [number, number],
): Info {
  const [c, n] = x.shape;
  if (strides[0] === 1 && strides[1] === 1) {
    return run(backend, 'Slice', { x }, { begin: [0, 0, begin[0], begin[1]], size: [c, n, size[0], size[1]] });
  }
  const end = [c, n, begin[0] + (size[0] - 1) * strides[0] + 1, begin[1] + (size[1] - 1) * strides[1] + 1];
  return run(
    backend,
    'StridedSlice',
    { x },
    {
      begin: [0, 0, begin[0], begin[1]],
      end,
      strides: [1, 1, strides[0], strides[1]],
      beginMask: 0,
      endMask: 0,
      ellipsisMask: 0,
      newAxisMask: 0,
      shrinkAxisMask: 0,
    },
  );
}

/**
 * Padding of the input for dW: the forward pass's top/left padding, and bottom/right just large
 * enough that every filter tap's strided window of Ho x Wo outputs lies inside the padded input.
 */
export function backpropFilterPadding(
  conv: Conv2DInfo,
  h: number,
  w: number,
): { top: number; left: number; bottom: number; right: number } {
  const { top, left } = conv.padInfo;
  const bottom = Math.max(0, (conv.outHeight - 1) * conv.strideHeight + conv.filterHeight - h - top);
  const right = Math.max(0, (conv.outWidth - 1) * conv.strideWidth + conv.filterWidth - w - left);
  return { top, left, bottom, right };
}

/**
 * dW for a 2-D convolution. x: [N,H,W,Ci], dy: [N,Ho,Wo,Co] -> dW: [KH,KW,Ci,Co] (NHWC only).
 */
function conv2DBackpropFilter(args: { inputs: NamedInfos; backend: unknown; attrs: unknown }): Info {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs;
  const attrs = args.attrs as BackpropFilterAttrs;
  if (attrs.dataFormat === 'NCHW') {
    throw new EngineError('Conv2DBackpropFilter on wasm supports NHWC (channelsLast) only');
  }
  const conv: Conv2DInfo = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = conv;
  const { outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = conv;
  const [n, h, w] = x.shape;
  const { top, left, bottom, right } = backpropFilterPadding(conv, h, w);

  const owned: Info[] = [];
  const xp =
    top || bottom || left || right
      ? run(backend, 'PadV2', { x }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 })
      : x;
  if (xp !== x) owned.push(xp);
  const positions = n * ho * wo;
  // Channels first, once: every tap's window is then a [Ci, N*Ho*Wo] matrix, and dy ([P, Co]) is
  // the same matmul operand for all taps, so XNNPACK packs it once and the product comes out in
  // dW's own [Ci, Co] layout.
  const xpT = run(backend, 'Transpose', { x: xp }, { perm: [3, 0, 1, 2] });
  const dy2 = run(backend, 'Reshape', { x: dy }, { shape: [positions, co] });
  owned.push(xpT, dy2);

  const out = backend.makeOutput([kh, kw, ci, co], 'float32');
  try {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const win = sliceWindowChannelsFirst(backend, xpT, [i, j], [ho, wo], [sh, sw]);
        const win2 = run(backend, 'Reshape', { x: win }, { shape: [ci, positions] });
        const prod = run(backend, 'BatchMatMul', { a: win2, b: dy2 }, { transposeA: false, transposeB: false });
        // Heap views go stale when the wasm heap grows: take both after the last allocation.
        const vals = backend.typedArrayFromHeap(prod) as Float32Array;
        (backend.typedArrayFromHeap(out) as Float32Array).set(vals, (i * kw + j) * ci * co);
        free(backend, win, win2, prod);
      }
    }
  } finally {
    free(backend, ...owned);
  }
  return out;
}

/**
 * dx for a 2-D convolution. dy: [N,Ho,Wo,Co], filter: [KH,KW,Ci,Co] -> dx: inputShape [N,H,W,Ci].
 */
function conv2DBackpropInput(args: { inputs: NamedInfos; backend: unknown; attrs: unknown }): Info {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs;
  const attrs = args.attrs as BackpropInputAttrs;
  if (attrs.dataFormat === 'NCHW') {
    if (!stockBackpropInput) throw new EngineError('no stock Conv2DBackpropInput kernel to fall back on');
    return stockBackpropInput.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as Info;
  }
  const conv: Conv2DInfo = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = conv;
  const { outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = conv;
  const [n, h, w] = attrs.inputShape;
  const owned: Info[] = [];
  try {
    // 1. Spread dy out by the stride (zeros between samples): [N, (Ho-1)*sh+1, (Wo-1)*sw+1, Co].
    let dyd = dy;
    if (sh > 1 || sw > 1) {
      const r = run(backend, 'Reshape', { x: dy }, { shape: [n, ho, 1, wo, 1, co] });
      const p = run(
        backend,
        'PadV2',
        { x: r },
        { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 },
      );
      const r2 = run(backend, 'Reshape', { x: p }, { shape: [n, ho * sh, wo * sw, co] });
      dyd = run(backend, 'Slice', { x: r2 }, { begin: [0, 0, 0, 0], size: [n, (ho - 1) * sh + 1, (wo - 1) * sw + 1, co] });
      owned.push(r, p, r2, dyd);
    }
    const hd = dyd.shape[1];
    const wd = dyd.shape[2];
    // 2. Full-correlation padding; negative amounts (pad > K-1) crop dy instead.
    let pt = kh - 1 - conv.padInfo.top;
    let pl = kw - 1 - conv.padInfo.left;
    let pb = h + kh - 1 - hd - pt;
    let pr = w + kw - 1 - wd - pl;
    if (pt < 0 || pl < 0 || pb < 0 || pr < 0) {
      const cropT = Math.max(0, -pt);
      const cropL = Math.max(0, -pl);
      const cropB = Math.max(0, -pb);
      const cropR = Math.max(0, -pr);
      dyd = run(backend, 'Slice', { x: dyd }, { begin: [0, cropT, cropL, 0], size: [n, hd - cropT - cropB, wd - cropL - cropR, co] });
      owned.push(dyd);
      pt = Math.max(0, pt);
      pl = Math.max(0, pl);
      pb = Math.max(0, pb);
      pr = Math.max(0, pr);
    }
    // 3. Filter flipped in space with in/out channels swapped: [KH,KW,Co,Ci].
    const flipped = backend.makeOutput([kh, kw, co, ci], 'float32');
    owned.push(flipped);
    const src = backend.typedArrayFromHeap(filter) as Float32Array;
    const dst = backend.typedArrayFromHeap(flipped) as Float32Array;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const sBase = ((kh - 1 - i) * kw + (kw - 1 - j)) * ci * co;
        const dBase = (i * kw + j) * co * ci;
        for (let c = 0; c < ci; c++) {
          for (let o = 0; o < co; o++) dst[dBase + o * ci + c] = src[sBase + c * co + o];
        }
      }
    }
    return run(
      backend,
      'Conv2D',
      { x: dyd, filter: flipped },
      { strides: [1, 1], pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]], dataFormat: 'NHWC', dilations: [1, 1] },
    );
  } finally {
    free(backend, ...owned);
  }
}

/**
 * dx for max-pooling. input: [N,H,W,C], dy: [N,Ho,Wo,C] -> dx: [N,H,W,C]. Each output's gradient
 * goes to the first maximum of its window in row-major order, as on the cpu backend. Replaces the
 * stock wasm kernel, which gives wrong gradients with explicit padding when N > 1 and C > 1 (the
 * 3x3/stride-2/pad-1 pooling FMnet uses); a memory-bound loop, cheap next to the convolutions.
 */
function maxPoolGrad(args: { inputs: NamedInfos; backend: unknown; attrs: unknown }): Info {
  const backend = args.backend as BackendWasm;
  const { dy, input } = args.inputs;
  const attrs = args.attrs as MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { top, left } = info.padInfo;
  const dx = backend.makeOutput(input.shape, 'float32');
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const out = backend.typedArrayFromHeap(dx) as Float32Array;
  out.fill(0);
  const best = new Float32Array(c);
  const bestAt = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < ho; r++) {
      const y0 = r * sh - top;
      for (let q = 0; q < wo; q++) {
        const x0 = q * sw - left;
        best.fill(-Infinity);
        bestAt.fill(-1);
        for (let i = Math.max(0, -y0); i < fh && y0 + i < h; i++) {
          for (let j = Math.max(0, -x0); j < fw && x0 + j < w; j++) {
            const base = ((b * h + y0 + i) * w + x0 + j) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = x[base + ch];
              if (v > best[ch] || bestAt[ch] < 0) {
                best[ch] = v;
                bestAt[ch] = base + ch;
              }
            }
          }
        }
        const gBase = ((b * ho + r) * wo + q) * c;
        for (let ch = 0; ch < c; ch++) if (bestAt[ch] >= 0) out[bestAt[ch]] += g[gBase + ch];
      }
    }
  }
  return dx;
}

/** Source index of nearest-neighbour resizing along one axis, exactly as tfjs's forward kernel. */
function nearestSource(out: number, inSize: number, outSize: number, alignCorners: boolean, halfPixel: boolean): number {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const frac = (effIn / effOut) * (halfPixel ? out + 0.5 : out);
  const src = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  return halfPixel ? Math.max(0, src) : src;
}

/**
 * dx for nearest-neighbour resizing (the decoder's upsampling), the exact adjoint of tfjs's forward
 * map: each dy pixel is added to the source pixel the forward pass copied it from.
 * g: dy values [N,Ho,Wo,C] -> dx values [N,H,W,C] (imagesShape).
 */
function resizeNearestGradValues(
  g: Float32Array,
  imagesShape: number[],
  dyShape: number[],
  alignCorners: boolean,
  halfPixelCenters: boolean,
  out: Float32Array,
): Float32Array {
  const [n, h, w, c] = imagesShape;
  const [, ho, wo] = dyShape;
  out.fill(0);
  const srcCol = Int32Array.from({ length: wo }, (_, q) => nearestSource(q, w, wo, alignCorners, halfPixelCenters));
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < ho; r++) {
      const rowBase = (b * h + nearestSource(r, h, ho, alignCorners, halfPixelCenters)) * w;
      for (let q = 0; q < wo; q++) {
        const dst = (rowBase + srcCol[q]) * c;
        const src = ((b * ho + r) * wo + q) * c;
        for (let ch = 0; ch < c; ch++) out[dst + ch] += g[src + ch];
      }
    }
  }
  return out;
}

interface ResizeGradAttrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/** Stock wasm kernel is wrong with halfPixelCenters; this one is exact in every mode. */
function resizeNearestNeighborGradWasm(args: { inputs: NamedInfos; backend: unknown; attrs: unknown }): Info {
  const backend = args.backend as BackendWasm;
  const { images, dy } = args.inputs;
  const { alignCorners, halfPixelCenters } = args.attrs as ResizeGradAttrs;
  const dx = backend.makeOutput(images.shape, 'float32');
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  resizeNearestGradValues(g, images.shape, dy.shape, alignCorners, halfPixelCenters, backend.typedArrayFromHeap(dx) as Float32Array);
  return dx;
}

interface CpuBackendLike {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): Info;
}

/** Stock cpu kernel sums the wrong pixels when the batch has more than one image; this one is exact. */
function resizeNearestNeighborGradCpu(args: { inputs: NamedInfos; backend: unknown; attrs: unknown }): Info {
  const backend = args.backend as CpuBackendLike;
  const { images, dy } = args.inputs;
  const { alignCorners, halfPixelCenters } = args.attrs as ResizeGradAttrs;
  const g = backend.data.get(dy.dataId).values as Float32Array;
  const out = new Float32Array(images.shape.reduce((a, b) => a * b, 1));
  resizeNearestGradValues(g, images.shape, dy.shape, alignCorners, halfPixelCenters, out);
  return backend.makeTensorInfo(images.shape, 'float32', out);
}

/**
 * Registers the fast gradient kernels on the wasm backend (idempotent). Returns the kernel names.
 * The wasm backend must be registered (import '@tensorflow/tfjs-backend-wasm') first.
 */
export function installWasmGradientKernels(): string[] {
  if (installed) return [...WASM_GRADIENT_KERNELS];
  const ours: Record<(typeof WASM_GRADIENT_KERNELS)[number], KernelImpl> = {
    Conv2DBackpropFilter: conv2DBackpropFilter,
    Conv2DBackpropInput: conv2DBackpropInput,
    MaxPoolGrad: maxPoolGrad,
    ResizeNearestNeighborGrad: resizeNearestNeighborGradWasm,
  };
  stockKernels = [];
  for (const name of WASM_GRADIENT_KERNELS) {
    const stock = tf.getKernel(name, 'wasm');
    if (stock) {
      stockKernels.push(stock);
      tf.unregisterKernel(name, 'wasm');
    }
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: ours[name] as tf.KernelFunc });
  }
  stockBackpropInput = stockKernels.find((k) => k.kernelName === 'Conv2DBackpropInput');
  installed = true;
  return [...WASM_GRADIENT_KERNELS];
}

/**
 * Restores the wasm backend's stock kernels (no Conv2DBackpropFilter, loop Conv2DBackpropInput,
 * stock MaxPoolGrad).
 * For benchmarks that compare against the stock backend.
 */
export function uninstallWasmGradientKernels(): void {
  if (!installed) return;
  for (const name of WASM_GRADIENT_KERNELS) tf.unregisterKernel(name, 'wasm');
  for (const stock of stockKernels) tf.registerKernel(stock);
  installed = false;
}

/**
 * Replaces the cpu backend's ResizeNearestNeighborGrad, which is wrong for batches of more than one
 * image, so that training on the cpu fallback is correct and the cpu backend can serve as the
 * parity reference for the wasm kernels. Idempotent, and checks the registry itself rather than a
 * flag: loading another copy of tfjs (danfojs-node brings one) re-registers the stock kernels, and
 * calling this again puts the fix back.
 */
export function installCpuGradientFixes(): string[] {
  const current = tf.getKernel('ResizeNearestNeighborGrad', 'cpu');
  if (current?.kernelFunc !== resizeNearestNeighborGradCpu) {
    if (current) tf.unregisterKernel('ResizeNearestNeighborGrad', 'cpu');
    tf.registerKernel({
      kernelName: 'ResizeNearestNeighborGrad',
      backendName: 'cpu',
      kernelFunc: resizeNearestNeighborGradCpu as tf.KernelFunc,
    });
  }
  return ['ResizeNearestNeighborGrad'];
}

/** Whether the fast gradient kernels are currently registered. */
export function wasmGradientKernelsInstalled(): boolean {
  return installed;
}
