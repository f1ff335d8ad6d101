/**
 * trainPoseModel / fineTune / saveModel / evaluate on 6 synthetic 64x64 faces with a tiny FMnet
 * (channels [4, 8, 8, 8, 8], 64 px input): fast enough for every test run.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ortAvailable } from '../../src/engine/onnx';
import { FormatError, ParamError } from '../../src/errors';
import {
  HEAD_LAYERS,
  crossValidate,
  evaluatePose,
  expandBox,
  fineTune,
  loadLabelledFrames,
  loadModel,
  predictPose,
  readModelCard,
  resolvePoseTrainConfig,
  saveModel,
  trainPoseModel,
  type LabelSet,
} from '../../src/pose';
import { TINY, tempDir, tinyLabelSet } from './pose-data';
import { useWasm } from './setup';

const weightsOf = (m: tf.LayersModel): number[][] => m.getWeights().map((w) => Array.from(w.dataSync()));

describe('pose/train: training, fine-tuning, model folders', function () {
  let dir: string;
  let labels: LabelSet;
  before(async () => {
    await useWasm();
    dir = tempDir('pose-train');
    labels = tinyLabelSet(dir, 6);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('validates its config with ParamError naming the field', () => {
    assert.throws(() => resolvePoseTrainConfig({ epochs: 0 }), (e: unknown) => e instanceof ParamError && e.field === 'epochs');
    assert.throws(() => resolvePoseTrainConfig({ batchSize: 8, microBatch: 3 }), (e: unknown) => e instanceof ParamError && e.field === 'microBatch');
    assert.throws(() => resolvePoseTrainConfig({ valFraction: 1 }), (e: unknown) => e instanceof ParamError && e.field === 'valFraction');
    assert.throws(() => resolvePoseTrainConfig({ inputSize: 50 }), (e: unknown) => e instanceof ParamError && e.field === 'inputSize');
    const d = resolvePoseTrainConfig();
    assert.equal(d.microBatch, d.batchSize);
    assert.equal(d.inputSize, 256);
  });

  it('fails before training on a missing image, naming it', async () => {
    const bad: LabelSet = { ...labels, frames: [...labels.frames, { image: 'labeled-data/s/nope.png', x: new Float32Array(3), y: new Float32Array(3) }] };
    let progressed = false;
    await assert.rejects(
      trainPoseModel(bad, { ...TINY, epochs: 1 }, { onProgress: () => (progressed = true) }),
      (e: unknown) => e instanceof FormatError && /nope\.png/.test(e.message),
    );
    assert.equal(progressed, false);
  });

  it('reduces loss and pixel error (original frame px) over a few epochs; no tensors leak; same seed -> same weights', async () => {
    const data = loadLabelledFrames(labels);
    const all = [0, 1, 2, 3, 4, 5];
    // Validation on the training frames: this checks the pipeline (targets, decoding, mapping back
    // to frame pixels), not generalisation, which 6 frames and 4-channel layers cannot show.
    const cfg = { ...TINY, epochs: 12, batchSize: 2, lr: 2e-2, weightDecay: 0, augment: false as const, seed: 3 };
    const before = tf.memory().numTensors;
    const reports: number[] = [];
    const a = await trainPoseModel(labels, cfg, { data, split: { train: all, val: all }, onProgress: (p) => p.epochDone && reports.push(p.epoch) });
    assert.equal(tf.memory().numTensors - before, a.model.weights.length, 'training left tensors beyond the model weights');
    assert.deepEqual(reports, [...Array(12).keys()]);
    const h = a.history;
    assert.ok(h[h.length - 1].loss < 0.7 * h[0].loss, `loss ${h.map((r) => r.loss.toFixed(2))}`);
    assert.ok(a.bestValError < 0.7 * h[0].valError, `val error ${h.map((r) => r.valError.toFixed(2))}`);
    assert.equal(a.bestValError, Math.min(...h.map((r) => r.valError)));
    // The kept weights are the best epoch's: predicting again gives its error.
    const ev = evaluatePose(a.model, data);
    assert.ok(Math.abs(ev.metrics.mean - a.bestValError) < 1e-4, `${ev.metrics.mean} vs ${a.bestValError}`);

    const b = await trainPoseModel(labels, cfg, { data, split: { train: all, val: all } });
    assert.deepEqual(weightsOf(b.model), weightsOf(a.model));
    b.model.dispose();
    a.model.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it("engine 'ort' (the step as one ONNX Runtime graph) trains to the weights of engine 'tfjs'; 'auto' picks ort where ONNX Runtime loads", async function () {
    if (!ortAvailable()) this.skip();
    const data = loadLabelledFrames(labels);
    const cfg = { ...TINY, epochs: 2, batchSize: 2, lr: 1e-3, augment: false as const, seed: 5 };
    const split = { train: [0, 1, 2, 3], val: [4, 5] };
    const before = tf.memory().numTensors;
    const o = await trainPoseModel(labels, { ...cfg, engine: 'ort' }, { data, split });
    const t = await trainPoseModel(labels, { ...cfg, engine: 'tfjs' }, { data, split });
    assert.deepEqual(o.engine, { used: 'ort' });
    assert.deepEqual(t.engine, { used: 'tfjs' });
    o.history.forEach((h, i) => assert.ok(Math.abs(h.loss - t.history[i].loss) <= 1e-3 * t.history[i].loss, `epoch ${i}: loss ${h.loss} vs ${t.history[i].loss}`));
    const wo = weightsOf(o.model);
    weightsOf(t.model).forEach((w, i) => {
      const scale = Math.max(...w.map(Math.abs)) || 1;
      const diff = Math.max(...w.map((v, j) => Math.abs(v - wo[i][j])));
      assert.ok(diff <= 1e-3 * scale, `weight ${i}: max difference ${diff} (scale ${scale})`);
    });
    o.model.dispose();
    t.model.dispose();
    assert.equal(tf.memory().numTensors, before);
    assert.equal(resolvePoseTrainConfig({}).engine, 'auto');
    assert.throws(() => resolvePoseTrainConfig({ engine: 'gpu' as never }), (e: unknown) => e instanceof ParamError && e.field === 'engine');
  });

  it('gradient accumulation: batch 4 as 2 x 2 trains (seeded split, augmentation on)', async () => {
    const before = tf.memory().numTensors;
    const r = await trainPoseModel(labels, { ...TINY, epochs: 2, batchSize: 4, microBatch: 2, valFraction: 0.34, seed: 1 });
    assert.equal(r.split.val.length, 2);
    assert.equal(r.split.train.length, 4);
    assert.ok(r.history.every((e) => Number.isFinite(e.loss) && Number.isFinite(e.valError)));
    r.model.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('predicts with the box grown by `expand` and, with flipAverage, mirror-consistently', async () => {
    const data = loadLabelledFrames(labels);
    const r = await trainPoseModel(labels, { ...TINY, epochs: 1, batchSize: 3, valFraction: 0, seed: 5 }, { data });
    try {
      const { width: W, height: H } = data.frames[0];
      const box = { x0: 10, x1: 50, y0: 8, y1: 40 };
      const a = predictPose(r.model, data.frames, { box, expand: 0.2 });
      const b = predictPose(r.model, data.frames, { box: expandBox(box, W, H, 0.2) });
      assert.deepEqual(a.x, b.x);
      assert.deepEqual(a.y, b.y);
      assert.notDeepEqual(a.x, predictPose(r.model, data.frames, { box }).x);
      assert.throws(() => predictPose(r.model, data.frames, { box, expand: -0.1 }), ParamError);
      // The flip-averaged prediction of a frame is the mirror image of that of the mirrored frame.
      const mirror = (f: (typeof data.frames)[number]) => ({
        data: Float32Array.from({ length: W * H }, (_, i) => f.data[Math.floor(i / W) * W + (W - 1 - (i % W))]),
        width: W,
        height: H,
      });
      const mbox = { x0: W - box.x1, x1: W - box.x0, y0: box.y0, y1: box.y1 };
      const p = predictPose(r.model, data.frames, { box, flipAverage: true });
      const q = predictPose(r.model, data.frames.map(mirror), { box: mbox, flipAverage: true });
      for (let i = 0; i < p.x.length; i++) {
        assert.ok(Math.abs(p.x[i] - (W - 1 - q.x[i])) < 1e-3, `x ${i}: ${p.x[i]} vs ${W - 1 - q.x[i]}`);
        assert.ok(Math.abs(p.y[i] - q.y[i]) < 1e-3, `y ${i}`);
        assert.ok(Math.abs(p.likelihood[i] - q.likelihood[i]) < 1e-6, `likelihood ${i}`);
      }
      const plain = predictPose(r.model, data.frames, { box });
      assert.notDeepEqual(p.x, plain.x);
    } finally {
      r.model.dispose();
    }
  });

  it('save -> load reproduces predictions exactly; files are reproducible; fine-tuning to new keypoints re-initialises only the heads', async () => {
    const data = loadLabelledFrames(labels);
    const r = await trainPoseModel(labels, { ...TINY, epochs: 1, batchSize: 3, valFraction: 0, seed: 2 }, { data });
    const out = path.join(dir, 'model');
    const card = { keypoints: r.keypoints, channels: r.config.channels, inputSize: r.config.inputSize, box: null, trainingData: { files: r.files, nFrames: r.nFrames } };
    await saveModel(out, r.model, card);
    const bytes = fs.readFileSync(path.join(out, 'weights.bin'));
    await saveModel(out, r.model, card); // replaces the folder whole
    assert.deepEqual(fs.readFileSync(path.join(out, 'weights.bin')), bytes);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('partial')), []);
    const before = tf.memory().numTensors;
    const { model, card: back } = await loadModel(out);
    assert.deepEqual(back.keypoints, r.keypoints);
    assert.ok(back.facemapTsVersion && back.boxConvention);
    const p1 = predictPose(r.model, data.frames);
    const p2 = predictPose(model, data.frames);
    assert.deepEqual(p2.x, p1.x);
    assert.deepEqual(p2.y, p1.y);
    assert.deepEqual(p2.likelihood, p1.likelihood);
    model.dispose();
    assert.equal(tf.memory().numTensors, before);

    // Another keypoint set: new heads, the rest from the saved model.
    const other = tinyLabelSet(path.join(dir, 'other'), 4, ['eye(front)', 'mouth'], 5);
    const ft = await fineTune(out, other, { epochs: 1, lr: 1e-9, seed: 4 });
    assert.equal(ft.config.epochs, 1);
    assert.equal(ft.config.batchSize, 1);
    assert.equal(ft.config.weightDecay, 0);
    assert.equal(ft.model.outputs[0].shape[3], 2);
    for (const layer of ft.model.layers) {
      const w0 = r.model.getLayer(layer.name).getWeights();
      const w1 = layer.getWeights();
      if (!w1.length) continue;
      if (HEAD_LAYERS.includes(layer.name)) {
        assert.notDeepEqual(w1[0].shape, w0[0].shape);
        continue;
      }
      // lr 1e-9 moves weights by ~1e-9; only trainable weights are compared (BatchNorm running
      // stats, listed after gamma and beta, move with every training-mode pass).
      const trainable = layer.trainableWeights.length;
      for (let j = 0; j < trainable; j++) {
        const d = tf.tidy(() => w1[j].sub(w0[j]).abs().max().dataSync()[0]);
        assert.ok(d < 1e-6, `${layer.name} weight ${j} changed by ${d}`);
      }
    }
    ft.model.dispose();
    r.model.dispose();
  });

  it('cross-validates with k folds: per-fold and pooled metrics per keypoint', async () => {
    const before = tf.memory().numTensors;
    const cv = await crossValidate(labels, { ...TINY, epochs: 1, batchSize: 2, valFraction: 0, seed: 0 }, 3);
    assert.equal(cv.folds.length, 3);
    assert.deepEqual(cv.folds.flatMap((f) => f.test).sort(), [0, 1, 2, 3, 4, 5]);
    assert.equal(cv.pooled.n, 18);
    assert.equal(cv.pooled.perKeypoint.length, 3);
    assert.ok(cv.x.every(Number.isFinite));
    assert.equal(tf.memory().numTensors, before);
  });

  it('checkpoints every epoch; a run killed half-way resumes to the same weights; another run in the folder is refused', async () => {
    const data = loadLabelledFrames(labels);
    const cfg = { ...TINY, epochs: 4, batchSize: 2, lr: 1e-2, valFraction: 0.34, seed: 5 };
    const full = await trainPoseModel(labels, cfg, { data });
    const ck = path.join(dir, 'ck-resume');
    // "Killed" after 2 epochs: stop the run by throwing from the progress callback.
    await assert.rejects(
      trainPoseModel(labels, cfg, {
        data,
        checkpointDir: ck,
        onProgress: (p) => {
          if (p.epochDone && p.epoch === 1) throw new Error('killed');
        },
      }),
      /killed/,
    );
    // The progress report of epoch 1 comes after its checkpoint: epochs 0 and 1 are saved.
    assert.equal(JSON.parse(fs.readFileSync(path.join(ck, 'checkpoint.json'), 'utf8')).epochsDone, 2);
    const epochsRun: number[] = [];
    const resumed = await trainPoseModel(labels, cfg, { data, checkpointDir: ck, onProgress: (p) => p.epochDone && epochsRun.push(p.epoch) });
    assert.deepEqual(epochsRun, [2, 3], 'resumed at epoch 2');
    assert.deepEqual(resumed.history.map((h) => h.epoch), [0, 1, 2, 3]);
    assert.equal(resumed.bestEpoch, full.bestEpoch);
    assert.deepEqual(weightsOf(resumed.model), weightsOf(full.model));
    assert.deepEqual(fs.readdirSync(ck).sort(), ['checkpoint-e4.bin', 'checkpoint.json']);
    await assert.rejects(trainPoseModel(labels, { ...cfg, seed: 6 }, { data, checkpointDir: ck }), (e: unknown) => e instanceof ParamError && e.field === 'checkpointDir');
    full.model.dispose();
    resumed.model.dispose();
  });

  it('cross-validation with a work folder does not retrain finished folds', async () => {
    const work = path.join(dir, 'cv-work');
    const cfg = { ...TINY, epochs: 1, batchSize: 2, valFraction: 0, seed: 0 };
    const first = await crossValidate(labels, cfg, 3, { workDir: work, maxFolds: 2 });
    assert.ok(fs.existsSync(path.join(work, 'fold-1', 'result.json')));
    const foldCard = readModelCard(path.join(work, 'fold-1', 'model'));
    assert.deepEqual(foldCard.trainingData?.nFrames, first.folds[1].train.length);
    assert.equal((foldCard.metrics as { heldOutFold: { mean: number } }).heldOutFold.mean.toFixed(4), first.folds[1].metrics.mean.toFixed(4));
    let trained = 0;
    const second = await crossValidate(labels, cfg, 3, { workDir: work, onProgress: (f) => f < 2 && trained++ });
    assert.equal(trained, 0, 'folds 0 and 1 were read back, not retrained');
    assert.equal(second.folds.length, 3);
    const K = 3;
    const rows = (cv: typeof first): string => first.folds.flatMap((f) => f.test).flatMap((i) => Array.from(cv.x.subarray(i * K, (i + 1) * K), (v) => v.toFixed(3))).join();
    assert.equal(rows(second), rows(first));
    assert.equal(second.folds[0].metrics.mean.toFixed(4), first.folds[0].metrics.mean.toFixed(4));
    // A kept fold model predicts its test frames again with this run's inference options
    // (here flip-averaging); result.json records them. Without the model, stored predictions count.
    const data = loadLabelledFrames(labels);
    const third = await crossValidate(labels, cfg, 3, { workDir: work, flipAverage: true });
    const { model: m0 } = await loadModel(path.join(work, 'fold-0', 'model'));
    const t0 = third.folds[0].test;
    const ref = predictPose(m0, t0.map((i) => data.frames[i]), { box: null, flipAverage: true });
    m0.dispose();
    assert.deepEqual(t0.flatMap((i) => Array.from(third.x.subarray(i * K, (i + 1) * K))), Array.from(ref.x));
    assert.notEqual(rows(third), rows(first));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(work, 'fold-0', 'result.json'), 'utf8')).inference, { expand: 0.2, flipAverage: true });
    fs.rmSync(path.join(work, 'fold-0', 'model'), { recursive: true });
    const fourth = await crossValidate(labels, cfg, 3, { workDir: work });
    assert.deepEqual(t0.flatMap((i) => Array.from(fourth.x.subarray(i * K, (i + 1) * K))), Array.from(ref.x), 'stored (flip-averaged) predictions used');
  });
});
