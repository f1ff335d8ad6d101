/**
 * `node dist/bench/conv-engines.js`: FMnet's 3x3 convolutions on the wasm backend with
 * (i) facemap-ts's XNNPACK kernels and (ii) the ONNX Runtime kernels (ort-kernels.ts): forward, dx
 * and dW ms and GFLOP/s per shape, and an FMnet-shaped training step (conv/BN/ReLU/max-pool stack)
 * in frames/s for both. The engines alternate per shape so that load from other processes hits
 * both alike; compare ratios, not absolute times. Also ORT's own matmul GFLOP/s (peak reference).
 * Progress goes to stderr; stdout gets one JSON line.
 * Env: BENCH_REPS (default 3), BENCH_BATCHES (default "1,8"), BENCH_STEP_REPS (default 2),
 * BENCH_STEP_BATCHES (default "1,4"; batch 8 at 256 px ran out of wasm memory with XNNPACK kernels),
 * BENCH_SKIP_STEP=1 to skip the training step.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend';
import { installWasmGradientKernels } from '../src/engine/gradient-kernels';
import { measureMatmulGflops } from '../src/engine/linalg';
import { ortInfo } from '../src/engine/onnx';
import { installOrtConvKernels, ortConvStats, uninstallOrtConvKernels } from '../src/engine/ort-kernels';
import { medianTimeMs } from '../src/util/timing';

const REPS = Number(process.env.BENCH_REPS ?? 3);
const STEP_REPS = Number(process.env.BENCH_STEP_REPS ?? 2);
const BATCHES = (process.env.BENCH_BATCHES ?? '1,8').split(',').map(Number);
const STEP_BATCHES = (process.env.BENCH_STEP_BATCHES ?? '1,4').split(',').map(Number);
const LEVELS: [number, number][] = [
  [256, 32],
  [128, 64],
  [64, 128],
  [32, 128],
  [16, 200],
];
type Engine = 'xnnpack' | 'ort';
const ENGINES: Engine[] = ['xnnpack', 'ort'];

function log(msg: string): void {
  process.stderr.write(`[bench:conv-engines] ${msg}\n`);
}

const timeMs = (fn: () => void, reps = REPS) => medianTimeMs(fn, reps, true);

function use(engine: Engine): void {
  if (engine === 'ort') installOrtConvKernels();
  else uninstallOrtConvKernels();
}

const sync = (t: tf.Tensor) => {
  t.dataSync();
  t.dispose();
};

interface OpTimes {
  forward: number;
  dx: number;
  dW: number;
}

function convOps(n: number, size: number, c: number): OpTimes {
  const xShape: [number, number, number, number] = [n, size, size, c];
  const wShape: [number, number, number, number] = [3, 3, c, c];
  const x = tf.randomNormal(xShape, 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal(wShape, 0, 1, 'float32', 2) as tf.Tensor4D;
  const dy = tf.randomNormal(xShape, 0, 1, 'float32', 3);
  const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  try {
    return {
      forward: timeMs(() => sync(tf.conv2d(x, w, 1, 'same'))),
      dx: timeMs(() =>
        sync(tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: xShape } as unknown as tf.NamedAttrMap) as tf.Tensor),
      ),
      dW: timeMs(() =>
        sync(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: wShape } as unknown as tf.NamedAttrMap) as tf.Tensor),
      ),
    };
  } finally {
    tf.dispose([x, w, dy]);
  }
}

/**
 * FMnet-shaped encoder: per level two 3x3 convs each followed by batch-norm (batch statistics)
 * and ReLU, 3x3/2 max-pool between levels, a 1x1 head; one SGD step (forward + backward + update).
 */
function makeStep(n: number): { step: () => void; dispose: () => void } {
  const vars: tf.Variable[] = [];
  let cin = 1;
  const convs: { w: tf.Variable; gamma: tf.Variable; beta: tf.Variable }[][] = [];
  for (const [, c] of LEVELS) {
    const level = [];
    for (let k = 0; k < 2; k++) {
      const w = tf.variable(tf.randomNormal([3, 3, cin, c], 0, Math.sqrt(2 / (9 * cin)), 'float32', vars.length));
      const gamma = tf.variable(tf.ones([c]));
      const beta = tf.variable(tf.zeros([c]));
      vars.push(w, gamma, beta);
      level.push({ w, gamma, beta });
      cin = c;
    }
    convs.push(level);
  }
  const head = tf.variable(tf.randomNormal([1, 1, cin, 15], 0, 0.1, 'float32', 99));
  vars.push(head);
  const x = tf.randomNormal([n, 256, 256, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
  const opt = tf.train.sgd(1e-4);
  const step = () => {
    const cost = opt.minimize(() => {
      let a = x as tf.Tensor4D;
      convs.forEach((level, li) => {
        if (li > 0) a = tf.maxPool(a, 3, 2, 1, 'floor');
        for (const { w, gamma, beta } of level) {
          const y = tf.conv2d(a, w as tf.Tensor4D, 1, 'same');
          const m = tf.moments(y, [0, 1, 2]);
          a = tf.relu(tf.batchNorm(y, m.mean, m.variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-5)) as tf.Tensor4D;
        }
      });
      const out = tf.conv2d(a, head as tf.Tensor4D, 1, 'valid');
      return tf.mean(tf.square(out)) as tf.Scalar;
    }, true);
    if (cost) sync(cost);
  };
  return {
    step,
    dispose: () => {
      tf.dispose([x, ...vars]);
      opt.dispose();
    },
  };
}

async function main(): Promise<void> {
  await initBackend({ backend: 'wasm' });
  installWasmGradientKernels();
  const ort = ortInfo();
  const names = installOrtConvKernels();
  if (names.length === 0) throw new Error('ONNX Runtime conv kernels unavailable here');
  log(`ORT ${ort.version}, threads ${ort.threads}; wasm single-threaded`);

  const shapes: Record<string, unknown>[] = [];
  for (const n of BATCHES) {
    for (const [size, c] of LEVELS) {
      const gflop = (2 * n * size * size * c * c * 9) / 1e9;
      const row: Record<string, unknown> = { batch: n, size, channels: c, gflop: +gflop.toFixed(3) };
      const got: Partial<Record<Engine, OpTimes>> = {};
      for (const e of ENGINES) {
        use(e);
        log(`${e} ${n}x${size}x${size}x${c}`);
        got[e] = convOps(n, size, c);
      }
      for (const e of ENGINES) {
        const t = got[e] as OpTimes;
        row[e] = {
          ms: { forward: +t.forward.toFixed(1), dx: +t.dx.toFixed(1), dW: +t.dW.toFixed(1) },
          gflops: { forward: +(gflop / t.forward * 1e3).toFixed(1), dx: +(gflop / t.dx * 1e3).toFixed(1), dW: +(gflop / t.dW * 1e3).toFixed(1) },
        };
      }
      const x = got.xnnpack as OpTimes;
      const o = got.ort as OpTimes;
      row.speedup_ort = {
        forward: +(x.forward / o.forward).toFixed(2),
        dx: +(x.dx / o.dx).toFixed(2),
        dW: +(x.dW / o.dW).toFixed(2),
        total: +((x.forward + x.dx + x.dW) / (o.forward + o.dx + o.dW)).toFixed(2),
      };
      shapes.push(row);
      log(JSON.stringify(row));
    }
  }

  const training: Record<string, unknown>[] = [];
  if (process.env.BENCH_SKIP_STEP !== '1') {
    for (const n of STEP_BATCHES) {
      const row: Record<string, unknown> = { batch: n };
      const got: Partial<Record<Engine, number>> = {};
      for (const e of ENGINES) {
        use(e);
        log(`training step, batch ${n}, ${e}`);
        const { step, dispose } = makeStep(n);
        const before = { ...ortConvStats };
        try {
          const ms = timeMs(step, STEP_REPS);
          got[e] = ms;
          row[e] = { ms_per_step: +ms.toFixed(0), frames_per_s: +((n * 1000) / ms).toFixed(2) };
        } catch (err) {
          row[e] = { error: String((err as Error).message).split('\n')[0] };
        } finally {
          dispose();
        }
        if (e === 'ort') row.ort_fallbacks = ortConvStats.fallback - before.fallback;
      }
      if (got.xnnpack && got.ort) row.speedup_ort = +(got.xnnpack / got.ort).toFixed(2);
      training.push(row);
      log(JSON.stringify(row));
    }
  }
  use('ort');

  log('ORT matmul 2048^3 and 65536x288x32 (a 256px/32ch conv as im2col gemm)');
  const matmul = {
    '2048x2048x2048': +measureMatmulGflops('onnx', 2048, 2048, 2048).toFixed(1),
    '65536x288x32': +measureMatmulGflops('onnx', 65536, 288, 32).toFixed(1),
    '4096x1152x128': +measureMatmulGflops('onnx', 4096, 1152, 128).toFixed(1),
  };
  const result = {
    bench: 'conv-engines',
    machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg().map((v) => +v.toFixed(2)) },
    ort: { version: ort.version, threads: ort.threads, sessions_built: ortConvStats.sessions },
    reps: REPS,
    conv3x3_same: shapes,
    training_step: training,
    ort_matmul_gflops: matmul,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench:conv-engines failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
