/** `facemap-ts demo`: the main job on an embedded simulated session. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeBackend, initBackend } from '../engine/backend';
import { simulateSession } from '../synth/session';
import { sessionTruthTable } from '../synth/truth';
import { progressBar, type ProgressBar } from '../util/progress';
import type { Command } from './command';
import { parseOptions } from './command';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the workflow on the simulated demo session and print its tables',
  help: [
    'Usage: facemap-ts demo [--out DIR] [--seed N]',
    '',
    "Simulates the 'demo' session (2 min of face video, 5,000 neurons) into DIR (default out/demo,",
    'replaced if present) and prints the planted ground truth per neural cluster: drive, oracle',
    'variance explained and spatial spread. Tracking, SVDs, the encoder with its baselines and the',
    'HTML report join the demo as those stages are built.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(argv, { out: { type: 'string' }, seed: { type: 'string' } });
    const out = path.resolve(values.out ?? 'out/demo');
    const seed = values.seed === undefined ? 0 : Number(values.seed);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const backend = await initBackend();
    process.stdout.write(`${describeBackend(backend)}\n`);
    const bars: Partial<Record<string, ProgressBar>> = {};
    const t0 = performance.now();
    const m = await simulateSession({
      preset: 'demo',
      outDir: out,
      seed,
      force: true,
      onProgress(stage, done, total) {
        const bar = (bars[stage] ??= progressBar(`simulate ${stage}`.padEnd(17), stage === 'neural' ? 'neurons' : stage === 'video' ? 'frames' : 'steps'));
        bar.update(done, total);
        if (done >= total) bar.done();
      },
    });
    process.stdout.write(
      `\nsimulated session in ${out} (${((performance.now() - t0) / 1000).toFixed(0)} s): ` +
        `${m.nFrames} frames at ${m.cameraFps} fps, ${m.nNeurons} neurons x ${m.nTimepoints} samples at ${m.neuralFps} Hz\n\n`,
    );
    const rows = await sessionTruthTable(out);
    const header = `${'cluster'.padStart(7)} ${'neurons'.padStart(7)} ${'drive'.padStart(6)} ${'oracle VE'.padStart(9)} ${'spread KL'.padStart(9)}`;
    process.stdout.write(`planted truth per cluster (oracle VE = test variance explained by the true behaviour signal)\n${header}\n`);
    for (const r of rows) {
      process.stdout.write(
        `${(r.cluster < 0 ? 'none' : String(r.cluster)).padStart(7)} ${String(r.nNeurons).padStart(7)} ` +
          `${(Number.isNaN(r.drive) ? '-' : r.drive.toFixed(2)).padStart(6)} ${r.oracleVe.toFixed(3).padStart(9)} ${r.spreadKL.toFixed(2).padStart(9)}\n`,
      );
    }
    process.stdout.write(`all neurons: mean oracle VE ${m.oracleVeMean.toFixed(3)}\n`);
  },
};
