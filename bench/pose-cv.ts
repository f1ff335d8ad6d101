/**
 * k-fold cross-validation of FMnet training from scratch on a DeepLabCut label file (default the
 * shared Facemap face data, ../shared/data/facemap-face/CollectedData_AVS.csv). Prints one JSON
 * line: settings, seconds per epoch, per-fold and pooled metrics with per-keypoint errors (px).
 * Hours on wasm at full settings: check it with `--epochs 1 --max-folds 2`.
 * Usage: npm run build && node dist/bench/pose-cv.js [--labels FILE] [--epochs N] [--folds K]
 *   [--max-folds M] [--batch N] [--micro-batch N] [--input-size N] [--seed N] [--max-frames N]
 *   [--lr X] [--box X0,X1,Y0,Y1] [--work DIR] [--expand F] [--flip-average]
 * With --work DIR the run is resumable: every fold checkpoints each epoch under DIR/fold-<i>/ and
 * finished folds are read back instead of retrained (run the same command again to continue); a
 * finished fold whose model is kept predicts its test frames again with this run's inference
 * options: the box grown by --expand F a side (default the training augmentation's mean, 0.2) and,
 * with --flip-average, each frame also mirrored and the two predictions averaged.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { describeBackend, initBackend } from '../src/engine/backend';
import { crossValidate, loadLabelledFrames, readLabels, type PoseMetrics } from '../src/pose';
import { boxOption } from '../src/cli/pose-args';
import { progressBar, type ProgressBar } from '../src/util/progress';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      labels: { type: 'string', default: path.resolve(__dirname, '../../../shared/data/facemap-face/CollectedData_AVS.csv') },
      epochs: { type: 'string', default: '36' },
      folds: { type: 'string', default: '5' },
      'max-folds': { type: 'string' },
      batch: { type: 'string', default: '8' },
      'micro-batch': { type: 'string', default: '4' },
      'input-size': { type: 'string', default: '256' },
      seed: { type: 'string', default: '0' },
      'max-frames': { type: 'string' },
      lr: { type: 'string' },
      box: { type: 'string' },
      work: { type: 'string' },
      expand: { type: 'string' },
      'flip-average': { type: 'boolean' },
    },
  });
  const info = await initBackend();
  process.stderr.write(`[bench:pose-cv] ${describeBackend(info)}\n`);
  const labels = await readLabels(values.labels!);
  if (values['max-frames']) labels.frames = labels.frames.slice(0, Number(values['max-frames']));
  const data = loadLabelledFrames(labels, { labelFile: values.labels });
  const config = {
    epochs: Number(values.epochs),
    batchSize: Number(values.batch),
    microBatch: Number(values['micro-batch']),
    inputSize: Number(values['input-size']),
    seed: Number(values.seed),
    lr: values.lr ? Number(values.lr) : undefined,
    box: boxOption(values.box) ?? null,
  };
  const k = Number(values.folds);
  const epochSeconds: number[] = [];
  let bar: ProgressBar | null = null;
  let epochStart = performance.now();
  const t0 = performance.now();
  const cv = await crossValidate(labels, config, k, {
    data,
    maxFolds: values['max-folds'] ? Number(values['max-folds']) : undefined,
    workDir: values.work ? path.resolve(values.work) : undefined,
    expand: values.expand !== undefined ? Number(values.expand) : undefined,
    flipAverage: values['flip-average'] ?? false,
    onProgress(fold, kk, p) {
      bar ??= progressBar(`fold ${fold + 1}/${kk} epoch ${p.epoch + 1}/${p.epochs}`, 'steps');
      if (!p.epochDone) return bar.update(p.step, p.stepsPerEpoch);
      epochSeconds.push((performance.now() - epochStart) / 1000);
      epochStart = performance.now();
      bar.done(`loss ${p.loss.toFixed(3)}, val ${p.valError.toFixed(2)} px`);
      bar = null;
    },
    onFoldDone(fold, kk, m) {
      process.stderr.write(`fold ${fold + 1}/${kk}: mean ${m.mean.toFixed(2)} px, median ${m.median.toFixed(2)} px\n`);
      epochStart = performance.now();
    },
  });
  const perKeypoint = (m: PoseMetrics): Record<string, number> => Object.fromEntries(m.perKeypoint.map((p) => [p.keypoint, p.mean]));
  process.stdout.write(
    `${JSON.stringify({
      labels: values.labels,
      frames: data.frames.length,
      keypoints: data.keypoints.length,
      backend: info.tfjsBackend,
      cpus: os.cpus().length,
      config,
      inference: { expand: values.expand !== undefined ? Number(values.expand) : 'training mean (0.2 by default)', flipAverage: values['flip-average'] ?? false },
      k,
      foldsRun: cv.folds.length,
      secondsPerEpoch: epochSeconds,
      totalSeconds: (performance.now() - t0) / 1000,
      pooled: { n: cv.pooled.n, mean: cv.pooled.mean, median: cv.pooled.median, p95: cv.pooled.p95, pck: cv.pooled.pck, perKeypointMeanPx: perKeypoint(cv.pooled) },
      folds: cv.folds.map((f) => ({ test: f.test.length, bestEpoch: f.bestEpoch, seconds: f.seconds, mean: f.metrics.mean, perKeypointMeanPx: perKeypoint(f.metrics) })),
    })}\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
