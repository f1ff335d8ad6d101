/**
 * `npm run bench:pose-train`: FMnet training throughput (frames/s) at batch 8, 256x256, channels
 * [32, 64, 128, 128, 200], 15 keypoints: one step = forward in training mode + loss + backward +
 * AdamW update (grad-norm clip 50).
 *
 * Engines, each in its own process, one after the other (so they never share the cores):
 *  - ours: the whole step (forward, loss, backward) as one ONNX Runtime graph (src/pose/ort-train.ts,
 *    BENCH_ENGINE=ort), which is what `facemap-ts train` uses when ONNX Runtime is present; then
 *    tfjs on the active backend (`bench/pose-step.js`, FastBatchNorm), and on wasm also with
 *    convolutions on ONNX Runtime (FACEMAP_ORT_CONV=1);
 *  - PyTorch (`/usr/bin/python3` with torch, e.g. Debian python3-torch), `torch.set_num_threads`
 *    = cores: an independent PyTorch definition of the same network, and Facemap's own FMnet
 *    (facemap/pose/facemap_network.py) when FACEMAP_SRC points to a Facemap checkout.
 * Prints one JSON line last on stdout: frames/s per engine and the ratio of ours (best
 * configuration) to each PyTorch peer. Progress on stderr.
 * Env: BENCH_REPS (timed steps after a warm-up, default 3), BENCH_BATCH (default 8),
 * BENCH_PYTHON (default /usr/bin/python3), FACEMAP_SRC, BENCH_SKIP_TFJS=1 (measure only the ONNX
 * Runtime step of ours, not the slower tfjs configurations).
 */
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

interface Run {
  code: number | null;
  stdout: string;
  stderrTail: string;
  wallS: number;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => {
      const s = d.toString();
      stderr = (stderr + s).slice(-4000);
      process.stderr.write(s);
    });
    p.on('error', (e) => resolve({ code: -1, stdout, stderrTail: `${stderr}\n${e.message}`, wallS: 0 }));
    p.on('close', (code) => resolve({ code, stdout, stderrTail: stderr, wallS: (performance.now() - t0) / 1000 }));
  });
}

const lastJson = (s: string): Record<string, unknown> | null => {
  const line = s.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  try {
    return line ? (JSON.parse(line) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
};

async function ours(label: string, extraEnv: NodeJS.ProcessEnv, batch: number, reps: number): Promise<Record<string, unknown>> {
  process.stderr.write(`[bench:pose-train] ours: ${label}\n`);
  const r = await run(process.execPath, [path.join(__dirname, 'pose-step.js')], {
    ...process.env,
    ...extraEnv,
    BENCH_BATCHES: String(batch),
    BENCH_BN: 'fast',
    BENCH_REPS: String(reps),
  });
  const j = lastJson(r.stdout);
  const row = (j?.results as Record<string, unknown>[] | undefined)?.[0];
  if (r.code !== 0 || !row || row.error) return { engine: label, error: String(row?.error ?? `exit ${r.code}: ${r.stderrTail.slice(-400)}`) };
  return { engine: label, backend: j!.backend, framesPerSecond: row.framesPerSecond, stepSeconds: row.stepSeconds };
}

async function torchPeer(python: string, facemap: boolean, batch: number, reps: number): Promise<Record<string, unknown>> {
  const script = path.resolve(__dirname, '../../bench/peers/fmnet_torch_train.py');
  const args = [script, '--batch', String(batch), '--reps', String(reps), '--threads', String(os.availableParallelism())];
  if (facemap) args.push('--facemap');
  process.stderr.write(`[bench:pose-train] ${facemap ? "Facemap's FMnet" : 'PyTorch FMnet'} (${python})\n`);
  const r = await run(python, args, process.env);
  const j = lastJson(r.stdout);
  if (r.code !== 0 || !j) return { engine: facemap ? 'facemap' : 'pytorch', error: `exit ${r.code}: ${r.stderrTail.slice(-400)}` };
  return j;
}

async function main(): Promise<void> {
  const batch = Number(process.env.BENCH_BATCH ?? 8);
  const reps = Number(process.env.BENCH_REPS ?? 3);
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  const engines: Record<string, unknown>[] = [];
  if (process.env.FACEMAP_ORT !== 'off') engines.push(await ours('ONNX Runtime training step (whole graph)', { BENCH_ENGINE: 'ort', FACEMAP_ORT_CONV: '0' }, batch, reps));
  if (process.env.BENCH_SKIP_TFJS !== '1') {
    const tfjsRow = await ours('tfjs (active backend)', { FACEMAP_ORT_CONV: '0' }, batch, reps);
    engines.push(tfjsRow);
    if ((tfjsRow.backend ?? 'wasm') === 'wasm') engines.push(await ours('tfjs wasm + ONNX Runtime convolutions', { FACEMAP_ORT_CONV: '1' }, batch, reps));
  }
  const hasTorch = (await run(python, ['-c', 'import torch'], process.env)).code === 0;
  const peers: Record<string, unknown>[] = [];
  const notes: string[] = [];
  if (hasTorch) {
    peers.push({ name: 'pytorch', ...(await torchPeer(python, false, batch, reps)) });
    if (process.env.FACEMAP_SRC) peers.push({ name: 'facemap', ...(await torchPeer(python, true, batch, reps)) });
    else notes.push("FACEMAP_SRC is not set: Facemap's own FMnet not measured");
  } else notes.push(`${python} has no torch (Debian: apt-get install python3-torch): PyTorch peers not measured`);
  const fps = (e: Record<string, unknown>): number => (typeof e.framesPerSecond === 'number' ? e.framesPerSecond : NaN);
  const best = Math.max(...engines.map(fps).filter(Number.isFinite));
  const ratios = Object.fromEntries(peers.filter((p) => Number.isFinite(fps(p))).map((p) => [`oursOver_${p.name}`, +(best / fps(p)).toFixed(3)]));
  console.log(
    JSON.stringify({
      bench: 'pose-train',
      model: 'FMnet 256x256, channels [32,64,128,128,200], 15 keypoints',
      batch,
      cores: os.availableParallelism(),
      loadavg: os.loadavg().map((l) => +l.toFixed(2)),
      ours: engines,
      peers,
      bestOursFramesPerSecond: Number.isFinite(best) ? best : null,
      ratios,
      target: 'ours >= 0.5x PyTorch (stretch 1x)',
      notes,
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
