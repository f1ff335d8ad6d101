/**
 * Training-mode batch normalisation as two kernels, for the wasm and cpu backends.
 *
 * tfjs-layers' BatchNormalization differentiates through tf.moments and tfjs's FusedBatchNorm
 * gradient, which materialise full-size tiles of per-channel vectors and transpose NHWC tensors to
 * reduce over N,H,W: on wasm that cost more than FMnet's convolutions and ran out of memory at
 * batch 8 x 256 x 256. Here both directions are plain loops over channel-last memory (per pixel,
 * an inner loop over channels) with float64 per-channel accumulators and no intermediates:
 *
 *  - `FacemapBatchNormTrain` (x [.., C], gamma [C], beta [C]; attr epsilon) -> [y, mean, variance]:
 *    mean and biased variance over every axis but the last (one pass, float64 sums shifted by the
 *    first pixel), then
 *    y = (x - mean) / sqrt(variance + epsilon) * gamma + beta.
 *  - `FacemapBatchNormTrainGrad` (dy, x, gamma, mean, variance; attr epsilon) -> [dx, dgamma, dbeta]:
 *    with x^ = (x - mean) / sigma over P = N*H*W pixels per channel,
 *    dbeta = sum dy, dgamma = sum dy x^, dx = gamma / sigma * (dy - mean(dy) - x^ mean(dy x^)).
 *
 * The gradient registered for `FacemapBatchNormTrain` back-propagates through y only: its mean and
 * variance outputs feed the running statistics, which are written to variables, not to the loss.
 * Kernel registration is idempotent and done on import; the backends need not be registered yet.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const BN_TRAIN_KERNEL = 'FacemapBatchNormTrain';
export const BN_TRAIN_GRAD_KERNEL = 'FacemapBatchNormTrainGrad';

type Info = tf.TensorInfo;
type NamedInfos = Record<string, Info>;
interface BnAttrs {
  epsilon: number;
}

/** Forward on plain arrays: x is [P, C] row-major. Writes y, mean, variance. */
export function batchNormTrainValues(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  c: number,
  epsilon: number,
  y: Float32Array,
  meanOut: Float32Array,
  varOut: Float32Array,
): void {
  const p = c > 0 ? x.length / c : 0;
  // One pass for both moments, shifted by the first pixel's values so that the float64 sums do
  // not cancel (|mean - shift| is of the order of the standard deviation).
  const shift = new Float64Array(c);
  for (let ch = 0; ch < c && p > 0; ch++) shift[ch] = x[ch];
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  for (let i = 0, base = 0; i < p; i++, base += c) {
    for (let ch = 0; ch < c; ch++) {
      const d = x[base + ch] - shift[ch];
      s1[ch] += d;
      s2[ch] += d * d;
    }
  }
  const mean = new Float64Array(c);
  const acc = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    const m1 = p > 0 ? s1[ch] / p : 0;
    mean[ch] = shift[ch] + m1;
    acc[ch] = Math.max(0, s2[ch] - s1[ch] * m1);
  }
  const scale = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    const v = p > 0 ? acc[ch] / p : 0;
    meanOut[ch] = mean[ch];
    varOut[ch] = v;
    scale[ch] = gamma[ch] / Math.sqrt(v + epsilon);
  }
  for (let i = 0, base = 0; i < p; i++, base += c) {
    for (let ch = 0; ch < c; ch++) y[base + ch] = (x[base + ch] - mean[ch]) * scale[ch] + beta[ch];
  }
}

/** Gradient on plain arrays: dy, x are [P, C]. Writes dx, dgamma, dbeta. */
export function batchNormTrainGradValues(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  c: number,
  epsilon: number,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
): void {
  const p = c > 0 ? x.length / c : 0;
  const sdy = new Float64Array(c);
  const sdyx = new Float64Array(c);
  const m = Float64Array.from(mean);
  for (let i = 0, base = 0; i < p; i++, base += c) {
    for (let ch = 0; ch < c; ch++) {
      const g = dy[base + ch];
      sdy[ch] += g;
      sdyx[ch] += g * (x[base + ch] - m[ch]);
    }
  }
  const a = new Float64Array(c);
  const b = new Float64Array(c);
  const k = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    const inv = 1 / Math.sqrt(variance[ch] + epsilon);
    const dg = sdyx[ch] * inv;
    dbeta[ch] = sdy[ch];
    dgamma[ch] = dg;
    a[ch] = gamma[ch] * inv;
    b[ch] = p > 0 ? sdy[ch] / p : 0;
    k[ch] = p > 0 ? (inv * dg) / p : 0;
  }
  for (let i = 0, base = 0; i < p; i++, base += c) {
    for (let ch = 0; ch < c; ch++) {
      dx[base + ch] = a[ch] * (dy[base + ch] - b[ch] - (x[base + ch] - m[ch]) * k[ch]);
    }
  }
}

const channelsOf = (x: Info): number => x.shape[x.shape.length - 1];

function forwardWasm(args: { inputs: NamedInfos; backend: unknown; attrs: unknown }): Info[] {
  const backend = args.backend as BackendWasm;
  const { x, gamma, beta } = args.inputs;
  const { epsilon } = args.attrs as BnAttrs;
  const c = channelsOf(x);
  const y = backend.makeOutput(x.shape, 'float32');
  const mean = backend.makeOutput([c], 'float32');
  const variance = backend.makeOutput([c], 'float32');
  // Heap views go stale when the heap grows: take them after the last allocation.
  const f = (t: Info): Float32Array => backend.typedArrayFromHeap(t) as Float32Array;
  batchNormTrainValues(f(x), f(gamma), f(beta), c, epsilon, f(y), f(mean), f(variance));
  return [y, mean, variance];
}

function gradWasm(args: { inputs: NamedInfos; backend: unknown; attrs: unknown }): Info[] {
  const backend = args.backend as BackendWasm;
  const { dy, x, gamma, mean, variance } = args.inputs;
  const { epsilon } = args.attrs as BnAttrs;
  const c = channelsOf(x);
  const dx = backend.makeOutput(x.shape, 'float32');
  const dgamma = backend.makeOutput([c], 'float32');
  const dbeta = backend.makeOutput([c], 'float32');
  const f = (t: Info): Float32Array => backend.typedArrayFromHeap(t) as Float32Array;
  batchNormTrainGradValues(f(dy), f(x), f(gamma), f(mean), f(variance), c, epsilon, f(dx), f(dgamma), f(dbeta));
  return [dx, dgamma, dbeta];
}

interface CpuBackendLike {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): Info;
}

function forwardCpu(args: { inputs: NamedInfos; backend: unknown; attrs: unknown }): Info[] {
  const backend = args.backend as CpuBackendLike;
  const { x, gamma, beta } = args.inputs;
  const { epsilon } = args.attrs as BnAttrs;
  const c = channelsOf(x);
  const v = (t: Info): Float32Array => backend.data.get(t.dataId).values as Float32Array;
  const xv = v(x);
  const y = new Float32Array(xv.length);
  const mean = new Float32Array(c);
  const variance = new Float32Array(c);
  batchNormTrainValues(xv, v(gamma), v(beta), c, epsilon, y, mean, variance);
  return [backend.makeTensorInfo(x.shape, 'float32', y), backend.makeTensorInfo([c], 'float32', mean), backend.makeTensorInfo([c], 'float32', variance)];
}

function gradCpu(args: { inputs: NamedInfos; backend: unknown; attrs: unknown }): Info[] {
  const backend = args.backend as CpuBackendLike;
  const { dy, x, gamma, mean, variance } = args.inputs;
  const { epsilon } = args.attrs as BnAttrs;
  const c = channelsOf(x);
  const v = (t: Info): Float32Array => backend.data.get(t.dataId).values as Float32Array;
  const xv = v(x);
  const dx = new Float32Array(xv.length);
  const dgamma = new Float32Array(c);
  const dbeta = new Float32Array(c);
  batchNormTrainGradValues(v(dy), xv, v(gamma), v(mean), v(variance), c, epsilon, dx, dgamma, dbeta);
  return [backend.makeTensorInfo(x.shape, 'float32', dx), backend.makeTensorInfo([c], 'float32', dgamma), backend.makeTensorInfo([c], 'float32', dbeta)];
}

const IMPLS: Record<string, Record<string, (args: { inputs: NamedInfos; backend: unknown; attrs: unknown }) => Info[]>> = {
  wasm: { [BN_TRAIN_KERNEL]: forwardWasm, [BN_TRAIN_GRAD_KERNEL]: gradWasm },
  cpu: { [BN_TRAIN_KERNEL]: forwardCpu, [BN_TRAIN_GRAD_KERNEL]: gradCpu },
};

/** Registers both kernels on wasm and cpu and the forward kernel's gradient (idempotent). */
export function installBatchNormKernels(): void {
  for (const [backendName, kernels] of Object.entries(IMPLS)) {
    for (const [kernelName, impl] of Object.entries(kernels)) {
      const current = tf.getKernel(kernelName, backendName);
      if (current?.kernelFunc === impl) continue;
      if (current) tf.unregisterKernel(kernelName, backendName);
      tf.registerKernel({ kernelName, backendName, kernelFunc: impl as unknown as tf.KernelFunc });
    }
  }
  if (!tf.getGradient(BN_TRAIN_KERNEL)) {
    tf.registerGradient({
      kernelName: BN_TRAIN_KERNEL,
      inputsToSave: ['x', 'gamma'],
      outputsToSave: [false, true, true],
      gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
        const [x, gamma, mean, variance] = saved;
        const dyAll = Array.isArray(dys) ? dys : [dys];
        // Only y reaches the loss; a null dy for y (y unused) means zero gradients.
        const dy = dyAll[0] ?? tf.zerosLike(x);
        const [dx, dgamma, dbeta] = tf.engine().runKernel(
          BN_TRAIN_GRAD_KERNEL,
          { dy, x, gamma, mean, variance },
          { epsilon: (attrs as unknown as BnAttrs).epsilon },
        ) as tf.Tensor[];
        return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
      },
    });
  }
}

/** Whether `FacemapBatchNormTrain` runs on the active backend. */
export function batchNormKernelsAvailable(backendName: string = tf.getBackend()): boolean {
  return tf.getKernel(BN_TRAIN_KERNEL, backendName) != null && tf.getKernel(BN_TRAIN_GRAD_KERNEL, backendName) != null;
}

/**
 * Training-mode batch norm over every axis but the last: returns [y, mean, variance] (mean and
 * biased variance per channel). Differentiable in y with respect to x, gamma and beta.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  installBatchNormKernels();
  const out = tf.engine().runKernel(BN_TRAIN_KERNEL, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
  return [out[0], out[1] as tf.Tensor1D, out[2] as tf.Tensor1D];
}

installBatchNormKernels();
