/**
 * `node dist/bench/synth.js`: time and peak memory to generate the `paper` preset's neural data
 * (50,000 neurons x ~10,800 samples at 3 Hz, streamed to HDF5) from the behaviour simulator's
 * latents (180,000 camera frames at 50 Hz x 13 latents).
 * Progress goes to stderr; the last stdout line is one JSON object.
 * Env: BENCH_PRESET (default 'paper'), BENCH_OUT (default a temp folder; the file is deleted after).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NEURAL_PRESETS, NeuralPresetName, simulateNeural } from '../src/synth/neural';
import { simulateBehavior } from '../src/synth/behavior';
import { Rng } from '../src/util/random';
import { vmHwmBytes } from './memory';

function log(msg: string): void {
  process.stderr.write(`[bench:synth] ${msg}\n`);
}

async function main(): Promise<void> {
  const presetName = (process.env.BENCH_PRESET ?? 'paper') as NeuralPresetName;
  const preset = NEURAL_PRESETS[presetName];
  if (!preset) throw new Error(`unknown BENCH_PRESET ${presetName}`);
  const dir = process.env.BENCH_OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fm-bench-synth-'));
  const file = path.join(dir, `neural_${presetName}.h5`);
  let rssPeak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 100);
  const nFrames = Math.round(preset.behaviorSeconds * preset.cameraFps);
  const t0 = performance.now();
  const latents = simulateBehavior({ fps: preset.cameraFps, nFrames }, new Rng(1));
  const tLatents = (performance.now() - t0) / 1000;
  log(`latents ${nFrames} x ${latents.names.length} in ${tLatents.toFixed(1)} s`);
  const t1 = performance.now();
  let lastLog = 0;
  const summary = await simulateNeural(latents, presetName, file, 1, {
    onProgress: ({ done, total }) => {
      const now = performance.now();
      if (now - lastLog > 5000 || done === total) {
        lastLog = now;
        log(`${done} / ${total} neurons, ${((now - t1) / 1000).toFixed(1)} s`);
      }
    },
  });
  const tNeural = (performance.now() - t1) / 1000;
  clearInterval(timer);
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  const bytes = fs.statSync(file).size;
  if (!process.env.BENCH_OUT) fs.rmSync(dir, { recursive: true, force: true });
  const hwm = vmHwmBytes();
  const result = {
    bench: 'synth-neural',
    preset: presetName,
    n_neurons: summary.nNeurons,
    n_timepoints: summary.nTimepoints,
    camera_frames: nFrames,
    n_latents: latents.names.length,
    latents_s: +tLatents.toFixed(2),
    neural_s: +tNeural.toFixed(2),
    total_s: +(tLatents + tNeural).toFixed(2),
    rss_peak_sampled_mb: +(rssPeak / 2 ** 20).toFixed(1),
    vm_hwm_mb: hwm === null ? null : +(hwm / 2 ** 20).toFixed(1),
    file_mb: +(bytes / 2 ** 20).toFixed(1),
    oracle_ve_mean: +summary.oracleVeMean.toFixed(4),
    cpus: os.cpus().length,
    node: process.version,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e) => {
  log(`failed: ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
