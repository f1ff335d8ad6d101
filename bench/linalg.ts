/**
 * Linear-algebra benchmark; prints one JSON object. Matmul GFLOP/s per engine and size (copies
 * into and out of ONNX Runtime included), and the wall time of a randomized SVD.
 * Usage: node dist/bench/linalg.js [--quick]
 */
import * as os from 'node:os';
import { ortInfo } from '../src/engine/onnx';
import { matrix, measureMatmulGflops, randomizedSvd } from '../src/engine/linalg';
import { Rng } from '../src/util/random';

function main(): void {
  const quick = process.argv.includes('--quick');
  const info = ortInfo();
  const sizes: Array<{ engine: 'onnx' | 'js'; m: number; k: number; n: number; reps: number }> = quick
    ? [
        { engine: 'onnx', m: 512, k: 512, n: 512, reps: 3 },
        { engine: 'js', m: 256, k: 256, n: 256, reps: 2 },
      ]
    : [
        { engine: 'onnx', m: 2048, k: 2048, n: 2048, reps: 5 },
        { engine: 'onnx', m: 50000, k: 2000, n: 150, reps: 3 },
        { engine: 'js', m: 512, k: 512, n: 512, reps: 3 },
      ];
  const matmul = sizes.map((s) => ({ ...s, gflops: +measureMatmulGflops(s.engine, s.m, s.k, s.n, s.reps).toFixed(2) }));

  const [rows, cols, k] = quick ? [2000, 500, 20] : [20000, 2000, 100];
  const rng = new Rng(0);
  const A = matrix(rows, cols, rng.fillNormal(new Float32Array(rows * cols)));
  const t0 = performance.now();
  randomizedSvd(A, k, { seed: 0 });
  const svdSeconds = (performance.now() - t0) / 1000;

  console.log(
    JSON.stringify(
      {
        cpus: os.availableParallelism(),
        cpu: os.cpus()[0]?.model,
        ort: { version: info.version, provider: info.provider, threads: info.threads, syncRun: info.syncRun },
        matmul,
        randomizedSvd: { rows, cols, k, oversamples: 10, powerIters: 4, seconds: +svdSeconds.toFixed(2) },
      },
      null,
      2,
    ),
  );
}

main();
