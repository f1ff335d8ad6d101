/**
 * Fine-tuning versus training from scratch on a few labelled frames of a new animal/view with other
 * keypoints (issue 4): by default 10 frames of ../shared/data/mirror-mouse (17 keypoints, top and
 * mirror-bottom view) drawn with a seeded shuffle; both runs see the same frames, the same number of
 * epochs and the same augmentation; both are scored on every other frame (frames whose pixels equal
 * a training frame's, like mirror-mouse's img00 = img01, are left out of the test set).
 *  - fine-tuned: the base model (default models/fmnet-face) with its heads re-initialised for the new
 *    keypoints, Facemap's fine-tuning recipe (batch 1, lr 1e-4, no weight decay);
 *  - scratch: a freshly initialised FMnet, this project's from-scratch recipe (lr 1e-3, weight decay
 *    1e-4) with batch 1 too, so both take the same number of optimiser steps.
 * Prints one JSON line last: per run mean/median/p95 error (original px), PCK and per keypoint.
 * Usage: npm run build && node dist/bench/pose-finetune.js [--base DIR] [--labels FILE] [--n-train N]
 *   [--epochs N] [--scratch-epochs N] [--seed N] [--repeats R]
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { describeBackend, initBackend } from '../src/engine/backend';
import { ortAvailable } from '../src/engine/onnx';
import {
  evaluatePose,
  fineTuneModel,
  loadLabelledFrames,
  loadModel,
  readLabels,
  trainPoseModel,
  type PoseMetrics,
  type PoseTrainResult,
  type TrainProgress,
} from '../src/pose';
import { Rng } from '../src/util/random';
import { progressBar, type ProgressBar } from '../src/util/progress';

function summary(m: PoseMetrics): object {
  return {
    n: m.n,
    mean: m.mean,
    median: m.median,
    p95: m.p95,
    pck: m.pck,
    perKeypointMeanPx: Object.fromEntries(m.perKeypoint.map((p) => [p.keypoint, p.mean])),
  };
}

type Run = { fineTuned: { metrics: { mean: number; median: number; p95: number } }; scratch: { metrics: { mean: number; median: number; p95: number } } };

/** Over the repeats: mean of each statistic, and in how many repeats fine-tuning had the lower one. */
function summarise(runs: Run[]): object {
  const avg = (f: (r: Run) => number): number => runs.reduce((a, r) => a + f(r), 0) / runs.length;
  const out: Record<string, unknown> = { repeats: runs.length };
  for (const k of ['mean', 'median', 'p95'] as const) {
    out[k] = {
      fineTuned: avg((r) => r.fineTuned.metrics[k]),
      scratch: avg((r) => r.scratch.metrics[k]),
      fineTunedLowerIn: runs.filter((r) => r.fineTuned.metrics[k] < r.scratch.metrics[k]).length,
    };
  }
  return out;
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '../..');
  const { values } = parseArgs({
    options: {
      base: { type: 'string', default: path.join(root, 'models/fmnet-face') },
      labels: { type: 'string', default: path.resolve(root, '../shared/data/mirror-mouse/CollectedData.csv') },
      'n-train': { type: 'string', default: '10' },
      epochs: { type: 'string', default: '36' },
      'scratch-epochs': { type: 'string' },
      seed: { type: 'string', default: '0' },
      repeats: { type: 'string', default: '1' },
    },
  });
  const nTrain = Number(values['n-train']);
  const epochs = Number(values.epochs);
  const scratchEpochs = Number(values['scratch-epochs'] ?? epochs);
  const info = await initBackend({ ortConv: process.env.FACEMAP_ORT_CONV !== '0' && ortAvailable() });
  process.stderr.write(`[bench:pose-finetune] ${describeBackend(info)}\n`);
  const labels = await readLabels(values.labels!);
  const data = loadLabelledFrames(labels, { labelFile: values.labels });
  const n = data.frames.length;
  if (nTrain < 1 || nTrain >= n) throw new Error(`--n-train must be in [1, ${n - 1}] for ${values.labels} (${n} frames)`);
  const hashes = data.frames.map((f) => createHash('sha1').update(Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength)).digest('hex'));

  const runs: object[] = [];
  for (let r = 0; r < Number(values.repeats); r++) {
    const seed = Number(values.seed) + r;
    const rng = new Rng(1000 + seed);
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const train = order.slice(0, nTrain).sort((a, b) => a - b);
    const trainHashes = new Set(train.map((i) => hashes[i]));
    const test = order.slice(nTrain).filter((i) => !trainHashes.has(hashes[i])).sort((a, b) => a - b);
    const split = { train, val: [] as number[] };
    const common = { seed, box: null, valFraction: 0, batchSize: 1 };

    const progress = (label: string): ((p: TrainProgress) => void) => {
      let bar: ProgressBar | null = null;
      return (p) => {
        bar ??= progressBar(`${label} epoch ${p.epoch + 1}/${p.epochs}`, 'steps');
        if (!p.epochDone) return bar.update(p.step, p.stepsPerEpoch);
        bar.done(`loss ${p.loss.toFixed(3)}`);
        bar = null;
      };
    };
    const score = (res: PoseTrainResult): { metrics: object; seconds: number } => {
      try {
        const ev = evaluatePose(res.model, data, { indices: test, box: null });
        return { metrics: summary(ev.metrics), seconds: res.history.reduce((a, h) => a + h.seconds, 0) };
      } finally {
        res.model.dispose();
      }
    };

    const { model: base, card } = await loadModel(values.base!);
    const tuned = score(
      await fineTuneModel(base, card.keypoints, card.channels, labels, { ...common, epochs }, { data, split, onProgress: progress(`[repeat ${r}] fine-tune`) }),
    );
    const scratch = score(
      await trainPoseModel(labels, { ...common, epochs: scratchEpochs, channels: card.channels, inputSize: card.inputSize }, { data, split, onProgress: progress(`[repeat ${r}] scratch`) }),
    );
    const tm = tuned.metrics as { mean: number; median: number };
    const sm = scratch.metrics as { mean: number; median: number };
    process.stderr.write(`[repeat ${r}] fine-tuned mean ${tm.mean.toFixed(2)} px (median ${tm.median.toFixed(2)}), scratch mean ${sm.mean.toFixed(2)} px (median ${sm.median.toFixed(2)})\n`);
    runs.push({ seed, train: train.map((i) => path.basename(data.files[i])), nTest: test.length, fineTuned: tuned, scratch });
  }
  process.stdout.write(
    `${JSON.stringify({
      labels: values.labels,
      base: path.resolve(values.base!),
      frames: n,
      keypoints: data.keypoints.length,
      nTrain,
      epochs,
      scratchEpochs,
      backend: info.tfjsBackend,
      cpus: os.cpus().length,
      runs,
      summary: summarise(runs as Run[]),
    })}\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
