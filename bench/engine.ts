/**
 * `npm run bench:engine`: how fast each compute engine is on this machine.
 *  - matmul GFLOP/s for every available engine;
 *  - one FMnet-sized convolution (3x3, 32 -> 32 channels at 256x256, FMnet's first level) forward,
 *    dx and dW on wasm with facemap-ts's kernels, on stock wasm and on tfjs's cpu backend.
 * Progress goes to stderr; the last stdout line is one JSON object.
 * Env: BENCH_CONV_BATCH (default 1), BENCH_REPS (default 3). The slow engines (stock wasm dx, cpu)
 * run once without warm-up: their times are tens of seconds.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend';
import { measureMatmulGflops } from '../src/engine/linalg';
import { installWasmGradientKernels, uninstallWasmGradientKernels } from '../src/engine/gradient-kernels';
import { matmulSpeeds } from '../src/engine/speed';
import { medianTimeMs } from '../src/util/timing';

const REPS = Number(process.env.BENCH_REPS ?? 3);
const BATCH = Number(process.env.BENCH_CONV_BATCH ?? 1);

function log(msg: string): void {
  process.stderr.write(`[bench:engine] ${msg}\n`);
}

const timeMs = (fn: () => void, reps = REPS) => medianTimeMs(fn, reps);

interface ConvTimes {
  forward_ms: number;
  backward_input_ms: number | null;
  backward_filter_ms: number | null;
  note?: string;
}

function convTimes(reps: number): ConvTimes {
  const xShape: [number, number, number, number] = [BATCH, 256, 256, 32];
  const wShape: [number, number, number, number] = [3, 3, 32, 32];
  const x = tf.randomNormal(xShape, 0, 1, 'float32', 1);
  const w = tf.randomNormal(wShape, 0, 1, 'float32', 2);
  const dy = tf.randomNormal(xShape, 0, 1, 'float32', 3);
  const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  const sync = (t: tf.Tensor) => {
    t.dataSync();
    t.dispose();
  };
  try {
    const forward_ms = timeMs(() => sync(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')), reps);
    const backward_input_ms = timeMs(
      () => sync(tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: xShape } as unknown as tf.NamedAttrMap) as tf.Tensor),
      reps,
    );
    let backward_filter_ms: number | null = null;
    let note: string | undefined;
    try {
      backward_filter_ms = timeMs(
        () => sync(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: wShape } as unknown as tf.NamedAttrMap) as tf.Tensor),
        reps,
      );
    } catch (err) {
      note = `dW unavailable: ${String((err as Error).message).split('\n')[0]}`;
    }
    return { forward_ms, backward_input_ms, backward_filter_ms, ...(note ? { note } : {}) };
  } finally {
    tf.dispose([x, w, dy]);
  }
}

async function main(): Promise<void> {
  const info = await initBackend();
  log(`active backend: ${info.choice}`);
  const speeds = await matmulSpeeds({ size: 'full', log });
  const matmul = Object.fromEntries(speeds.map((s) => [`${s.engine}@${s.m}x${s.k}x${s.n}`, s.gflops]));
  if (speeds.some((s) => s.engine === 'onnxruntime')) {
    log('matmul 50000x2000x150 on onnxruntime (the neural-PCA shape)');
    matmul['onnxruntime@50000x2000x150'] = +measureMatmulGflops('onnx', 50000, 2000, 150).toFixed(2);
  }

  const flopsForward = 2 * BATCH * 256 * 256 * 32 * 32 * 9;
  const conv: Record<string, ConvTimes> = {};
  await tf.setBackend('wasm');
  installWasmGradientKernels();
  log(`conv ${BATCH}x256x256x32 -> 32 on wasm with facemap-ts kernels`);
  conv.wasm = convTimes(REPS);
  uninstallWasmGradientKernels();
  log('same on stock wasm (its dx is a scalar loop; it has no dW)');
  conv.wasm_stock = convTimes(1);
  installWasmGradientKernels();
  await tf.setBackend('cpu');
  log('same on tfjs cpu backend');
  conv.cpu = convTimes(1);
  await tf.setBackend(info.tfjsBackend);

  const gflops = (ms: number | null) => (ms ? +(flopsForward / ms / 1e6).toFixed(2) : null);
  const ratio = (a: number | null, b: number | null) => (a && b ? +(b / a).toFixed(1) : null);
  const w = conv.wasm;
  const result = {
    bench: 'engine',
    machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model, node: process.version },
    backend: { choice: info.choice, simd: info.simd, addedKernels: info.addedKernels },
    matmul_gflops: matmul,
    conv: {
      shape: { batch: BATCH, height: 256, width: 256, in: 32, out: 32, kernel: 3 },
      gflop_per_pass: +(flopsForward / 1e9).toFixed(2),
      ms: conv,
      gflops: Object.fromEntries(
        Object.entries(conv).map(([k, t]) => [
          k,
          { forward: gflops(t.forward_ms), backward_input: gflops(t.backward_input_ms), backward_filter: gflops(t.backward_filter_ms) },
        ]),
      ),
      speedup: {
        backward_input_vs_stock_wasm: ratio(w.backward_input_ms, conv.wasm_stock.backward_input_ms),
        backward_input_vs_cpu: ratio(w.backward_input_ms, conv.cpu.backward_input_ms),
        backward_filter_vs_cpu: ratio(w.backward_filter_ms, conv.cpu.backward_filter_ms),
        forward_vs_cpu: ratio(w.forward_ms, conv.cpu.forward_ms),
      },
    },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench:engine failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
