/** `facemap-ts demo`: the main job on an embedded simulated session. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeBackend, initBackend } from '../engine/backend';
import { simulateSession } from '../synth/session';
import { sessionTruthTable } from '../synth/truth';
import { progressBar, type ProgressBar } from '../util/progress';
import { facemapTsVersion } from '../pose/model-io';
import { buildReport } from '../report/build';
import { writeFileAtomicSync } from '../util/fsx';
import { clusterCommand } from './cluster';
import type { Command } from './command';
import { encodeCommand } from './encode';
import { svdCommand } from './svd';
import { trackCommand } from './track';
import { ParamError } from '../errors';
import { readTraces } from '../pose/labels/registry';
import { parseOptions } from './command';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the workflow on the simulated demo session and print its tables',
  help: [
    'Usage: facemap-ts demo [--out DIR] [--seed N] [--epochs N] [--tracker MODEL_DIR | --true-keypoints]',
    '',
    "The whole workflow on the simulated 'demo' session (2 min of face video, 5,000 neurons), in DIR",
    '(default out/demo, replaced if present):',
    '  1. simulate the session (planted truth printed per neural cluster);',
    '  2. track the face video with models/fmnet-synth (an FMnet trained on simulated faces, see',
    '     README) -> DIR/face_FacemapPose.h5, and print its error against the true keypoints;',
    '  3. motion SVD of the face video (DIR/svd/face_proc.h5);',
    '  4. the keypoint encoder and the linear baselines (DIR/encoding/, the variance table printed);',
    '  5. neuron clusters and their spatial spread (DIR/clusters/);',
    '  6. DIR/report.html with every figure and table, and DIR/run.json (settings, timings).',
    '',
    '  --epochs N          encoder epochs at most (default 300, as Facemap; the validated schedule of',
    '                      `facemap-ts encode` stops earlier when held-out training samples stop improving)',
    '  --tracker DIR       tracker model folder (default models/fmnet-synth)',
    "  --true-keypoints    skip tracking: use the simulator's true keypoints",
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(argv, {
      out: { type: 'string' },
      seed: { type: 'string' },
      epochs: { type: 'string' },
      tracker: { type: 'string' },
      'true-keypoints': { type: 'boolean' },
    });
    const out = path.resolve(values.out ?? 'out/demo');
    const seed = values.seed === undefined ? 0 : Number(values.seed);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const backend = await initBackend();
    process.stdout.write(`${describeBackend(backend)}\n`);
    const bars: Partial<Record<string, ProgressBar>> = {};
    const t0 = performance.now();
    const timings: Record<string, number> = {};
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
    process.stdout.write(
      `all neurons: mean oracle VE ${m.oracleVeMean.toFixed(3)}; keypoint-visible oracle ` +
        `${m.oracleVeVisibleMean === null ? 'not known (the neurons also follow arousal, running, the paw and 10 s filters, which no keypoint shows)' : m.oracleVeVisibleMean.toFixed(3)}\n`,
    );
    timings.simulate = (performance.now() - t0) / 1000;

    const stage = async (name: string, title: string, fn: () => Promise<void>): Promise<void> => {
      process.stdout.write(`\n== ${title}\n`);
      const ts = performance.now();
      await fn();
      timings[name] = (performance.now() - ts) / 1000;
    };
    const neural = path.join(out, m.files.neural);
    const keypoints = path.join(out, 'face_FacemapPose.h5');
    let trackingSummary: TrackingError | null = null;
    const video = path.join(out, m.files.video!);
    const truthKeypoints = path.join(out, m.files.keypoints!);
    const tracker = values.tracker ? path.resolve(values.tracker) : DEMO_TRACKER;
    let keypointSource: string;
    if (values['true-keypoints']) {
      keypointSource = "simulator truth (--true-keypoints)";
      await stage('keypoints', "keypoints: the simulator's true keypoints (--true-keypoints)", async () => {
        fs.copyFileSync(truthKeypoints, keypoints);
        process.stdout.write(`${keypoints}\n`);
      });
    } else {
      if (!fs.existsSync(path.join(tracker, 'card.json'))) {
        throw new ParamError('--tracker', tracker, 'a model folder (card.json): the repository ships models/fmnet-synth; or run with --true-keypoints');
      }
      keypointSource = `tracked with ${tracker}`;
      await stage('track', `track the face video with ${path.relative(process.cwd(), tracker) || tracker}`, async () => {
        await trackCommand.run([video, '--model', tracker, '--out', out]);
        const err = await trackingError(keypoints, truthKeypoints);
        trackingSummary = err;
        process.stdout.write(
          `tracking error against the simulator's true keypoints: mean ${err.meanPx.toFixed(2)} px, median ${err.medianPx.toFixed(2)} px over ${err.n} visible keypoint positions\n` +
            `  per keypoint (mean px): ${Object.entries(err.perKeypointMeanPx).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}\n`,
        );
      });
    }
    await stage('svd', 'motion SVD of the face video', () => svdCommand.run([path.join(out, m.files.video!), '--out', path.join(out, 'svd')]));
    const epochs = values.epochs ?? '300';
    await stage('encode', `keypoint encoder (validated schedule, at most ${epochs} epochs) and linear baselines`, () =>
      encodeCommand.run(['--neural', neural, '--keypoints', keypoints, '--svd', path.join(out, 'svd', 'face_proc.h5'), '--camera-fps', String(m.cameraFps), '--epochs', epochs, '--out', path.join(out, 'encoding')]),
    );
    await stage('cluster', 'neuron clusters and spatial spread', () =>
      clusterCommand.run(['--neural', neural, '--encoding', path.join(out, 'encoding'), '--truth', '--clusters', '20', '--out', path.join(out, 'clusters')]),
    );
    const total = (performance.now() - t0) / 1000;
    writeFileAtomicSync(
      path.join(out, 'run.json'),
      `${JSON.stringify({ command: `facemap-ts demo ${argv.join(' ')}`.trim(), seed, preset: 'demo', encoderMaxEpochs: Number(epochs), encoderSchedule: 'validated', backend: describeBackend(backend), keypoints: keypointSource, tracking: trackingSummary, seconds: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, +v.toFixed(1)])), totalSeconds: +total.toFixed(1), facemapTs: facemapTsVersion() }, null, 1)}\n`,
    );
    await stage('report', 'HTML report', async () => {
      const { file, sections } = await buildReport(out, { title: 'facemap-ts demo: simulated session' });
      process.stdout.write(`${file} (${sections.length} sections)\n`);
    });
    process.stdout.write(`\ndemo done in ${((performance.now() - t0) / 1000).toFixed(0)} s: open ${path.join(out, 'report.html')}\n`);
  },
};

/** The tracker the demo runs: an FMnet trained on simulated faces (README: "The demo's tracker"). */
export const DEMO_TRACKER = path.resolve(__dirname, '../../../models/fmnet-synth');

export interface TrackingError {
  n: number;
  meanPx: number;
  medianPx: number;
  perKeypointMeanPx: Record<string, number>;
}

/** Euclidean error of tracked keypoints against true ones (Facemap pose .h5 files), where both are finite. */
export async function trackingError(trackedFile: string, truthFile: string): Promise<TrackingError> {
  const tr = await readTraces(trackedFile);
  const truth = await readTraces(truthFile);
  if (tr.nFrames !== truth.nFrames) throw new ParamError('tracked keypoints', trackedFile, `${truth.nFrames} frames like ${truthFile}, not ${tr.nFrames}`);
  const K = truth.names.length;
  const all: number[] = [];
  const per: Record<string, number> = {};
  for (let k = 0; k < K; k++) {
    const j = tr.names.indexOf(truth.names[k]);
    if (j < 0) continue;
    let s = 0;
    let c = 0;
    for (let t = 0; t < truth.nFrames; t++) {
      const dx = tr.x[t * tr.names.length + j] - truth.x[t * K + k];
      const dy = tr.y[t * tr.names.length + j] - truth.y[t * K + k];
      const e = Math.hypot(dx, dy);
      if (!Number.isFinite(e)) continue;
      all.push(e);
      s += e;
      c++;
    }
    if (c) per[truth.names[k]] = s / c;
  }
  all.sort((a, b) => a - b);
  const mid = all.length >> 1;
  const median = all.length ? (all.length % 2 ? all[mid] : (all[mid - 1] + all[mid]) / 2) : NaN;
  return { n: all.length, meanPx: all.reduce((a, b) => a + b, 0) / all.length, medianPx: median, perKeypointMeanPx: per };
}
