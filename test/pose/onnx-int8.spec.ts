/**
 * int8 quantisation (engine/onnx-quantize.ts, pose/onnx-int8.ts) on a small FMnet (input 64) with
 * random batch norms. Tolerances: the int8 maps follow float32's to a relative RMS error of 0.02
 * (they were within 0.0015 when this was written); tracked keypoints of a random network may
 * jump where two heatmap peaks nearly tie, so their agreement is checked on the median.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { createSession, float32Tensor } from '../../src/engine/onnx';
import { RangeCollector, calibrationModel, quantizationPlan, quantizeQdq, uint8Params } from '../../src/engine/onnx-quantize';
import { ParamError } from '../../src/errors';
import { locateFfmpeg } from '../../src/io/ffmpeg';
import {
  ONNX_INT8_FILE,
  calibrationFrames,
  createFMnet,
  evaluateModelDir,
  exportOnnx,
  exportOnnxInt8,
  fmnetToOnnx,
  int8OnnxForFolder,
  onnxMetadata,
  readPoseH5,
  trackOutputs,
  trackVideos,
  writeLabels,
} from '../../src/pose';
import { randomizeBatchNorms, saveTestModel, smallFMnet } from './onnx-helpers';
import { tempDir, tinyLabelSet } from './pose-data';
import { useWasm } from './setup';

const S = 64;

function randomImages(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n * S * S }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

function run(bytes: Uint8Array, x: Float32Array, n: number): Record<string, Float32Array> {
  const s = createSession(bytes, { threads: 1, providers: ['cpu'] });
  try {
    const r = s.runSync({ image: float32Tensor(x, [n, 1, S, S]) });
    return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    s.dispose();
  }
}

const relRms = (a: Float32Array, b: Float32Array): number => {
  let d = 0;
  let r = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    r += b[i] ** 2;
  }
  return Math.sqrt(d / r);
};

describe('int8 quantisation (QDQ) of FMnet', function () {
  let dir: string;
  let floatBytes: Uint8Array;
  before(async () => {
    await useWasm();
    dir = tempDir('int8');
    // Positive batch-norm scales, as in trained FMnets: batch norms fold through the max-pools.
    const model = createFMnet({ nKeypoints: 3, channels: [4, 8, 8, 8, 12], inputSize: S, seed: 41 });
    randomizeBatchNorms(model, 141, false);
    floatBytes = fmnetToOnnx(model).bytes;
    model.dispose();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('plans every convolution but the three heads; a MaxPool output reuses its input parameters', () => {
    const plan = quantizationPlan(floatBytes);
    const all = quantizationPlan(floatBytes, { keepFloat: [] });
    assert.equal(all.convs.length, 17);
    assert.equal(plan.convs.length, 14);
    const g = onnx.ModelProto.decode(floatBytes).graph!;
    const pools = g.node!.filter((n) => n.opType === 'MaxPool');
    for (const [t, src] of Object.entries(plan.sameAs)) {
      const p = pools.find((n) => n.output![0] === t);
      assert.ok(p, `${t} is a MaxPool output`);
      assert.equal(p!.input![0], src);
      assert.ok(plan.calibrate.includes(src) && !plan.calibrate.includes(t));
    }
    assert.ok(Object.keys(plan.sameAs).length >= 2);
  });

  it('uint8 parameters and calibrated ranges (min/max, central percentile)', () => {
    const z = uint8Params({ min: 0, max: 2.55 });
    assert.ok(Math.abs(z.scale - 0.01) < 1e-12);
    assert.equal(z.zeroPoint, 0);
    const p = uint8Params({ min: -1, max: 3 });
    assert.ok(Math.abs(p.scale - 4 / 255) < 1e-12);
    assert.equal(p.zeroPoint, 64);
    const values = Float32Array.from({ length: 10001 }, (_, i) => i / 1000); // 0..10
    values[5000] = 1000; // one outlier
    const mm = new RangeCollector();
    mm.add('t', values);
    assert.deepEqual(mm.ranges().get('t'), { min: 0, max: 1000 });
    const pc = new RangeCollector(99);
    pc.add('t', values);
    const r = pc.ranges().get('t')!;
    assert.equal(r.min, 0, 'ranges always contain 0');
    assert.ok(r.max > 9.8 && r.max < 10, `99th percentile ${r.max}`);
    assert.throws(() => new RangeCollector(40), ParamError);
  });

  it('the int8 model keeps the interface and its maps follow float32; a missing range is a ParamError', () => {
    const plan = quantizationPlan(floatBytes);
    const cal = randomImages(8, 3);
    const outs = run(calibrationModel(floatBytes, plan.calibrate), cal, 8);
    const rc = new RangeCollector();
    for (const t of plan.calibrate) rc.add(t, outs[t]);
    const q = quantizeQdq(floatBytes, rc.ranges());
    const types = onnx.ModelProto.decode(q.bytes).graph!.node!.map((n) => n.opType);
    assert.equal(types.filter((t) => t === 'Conv').length, 17, 'convs stay (ONNX Runtime fuses them with their Q/DQ)');
    const withBias = onnx.ModelProto.decode(floatBytes).graph!.node!.filter((n) => plan.convs.includes(n.name!) && n.input!.length === 3).length;
    // One DQ per quantised activation, per weight and per bias.
    assert.equal(types.filter((t) => t === 'DequantizeLinear').length, plan.calibrate.length + Object.keys(plan.sameAs).length + 14 + withBias);
    // The heatmap before its ReLU too (a random network's may be all below 0 after it).
    const pre = onnx.ModelProto.decode(floatBytes).graph!.node!.find((n) => n.output![0] === 'heatmap')!.input![0];
    const test = randomImages(4, 9);
    const f = run(calibrationModel(floatBytes, [pre]), test, 4);
    const i8 = run(calibrationModel(q.bytes, [pre]), test, 4);
    for (const name of [pre, 'row_offset', 'col_offset']) {
      const e = relRms(i8[name], f[name]);
      assert.ok(e < 0.02, `${name}: relative RMS error ${e}`);
      assert.ok(e > 0, `${name}: int8 differs from float32 at all`);
    }
    const partial = new Map(rc.ranges());
    partial.delete(plan.calibrate[3]);
    assert.throws(() => quantizeQdq(floatBytes, partial), (e: unknown) => e instanceof ParamError && e.message.includes(plan.calibrate[3]));
  });

  it('export-onnx --int8 from a video or labels; track --int8 follows float32; a stale int8 model is refused', async function () {
    const modelDir = path.join(dir, 'model');
    const model = smallFMnet(3, 43);
    await saveTestModel(modelDir, model);
    model.dispose();
    await exportOnnx(modelDir);
    assert.throws(() => int8OnnxForFolder(modelDir), (e: unknown) => e instanceof ParamError && /export-onnx --model .* --int8/.test(e.message));
    const video = path.join(dir, 'v.mkv');
    const r = spawnSync(locateFfmpeg().ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=96x80:rate=25', '-frames:v', '40', '-pix_fmt', 'gray', '-c:v', 'ffv1', video]);
    assert.equal(r.status, 0, String(r.stderr));
    const cal = await calibrationFrames(modelDir, video, 8);
    assert.equal(cal.n, 8);
    assert.equal(cal.pixels.length, 8 * S * S);
    assert.match(cal.source, /8 frames evenly spaced over v\.mkv \(40 frames\)/);
    const ex = await exportOnnxInt8(modelDir, cal);
    assert.equal(ex.file, path.join(modelDir, ONNX_INT8_FILE));
    assert.equal(ex.quantizedConvs, 14);
    assert.ok(ex.deviation.mean >= 0 && ex.deviation.max >= ex.deviation.p95);
    const meta = onnxMetadata(new Uint8Array(fs.readFileSync(ex.file)));
    assert.equal(meta['facemap-ts.precision'], 'int8');
    assert.match(meta['facemap-ts.calibration'], /min\/max/);

    const [a] = await trackVideos([video], { model: modelDir, outDir: path.join(dir, 'f32'), quiet: true, workers: 1 });
    const [b] = await trackVideos([video], { model: modelDir, outDir: path.join(dir, 'i8'), quiet: true, workers: 1, precision: 'int8' });
    assert.equal(b.status, 'tracked', b.error?.message);
    assert.equal(b.metadata?.model.precision, 'int8');
    assert.match(b.metadata?.engine.description ?? '', /int8, \d+ threads?, worker thread/);
    const ta = await readPoseH5(trackOutputs(video, path.join(dir, 'f32')).h5);
    const tb = await readPoseH5(trackOutputs(video, path.join(dir, 'i8')).h5);
    const d = Array.from(ta.x, (x, i) => Math.hypot(x - tb.x[i], ta.y[i] - tb.y[i])).sort((u, v) => u - v);
    assert.ok(d[d.length >> 1] < 1.5, `median keypoint shift ${d[d.length >> 1]} px`);
    assert.equal(a.metadata?.model.precision, 'float32');
    // Asking for float32 again after int8 into the same folder re-tracks (another precision).
    const [c] = await trackVideos([video], { model: modelDir, outDir: path.join(dir, 'i8'), quiet: true, workers: 1, log: () => undefined });
    assert.equal(c.status, 'tracked');

    // Labels as the calibration source, and evaluate --int8.
    const labels = tinyLabelSet(path.join(dir, 'labels'), 5, ['kp0', 'kp1', 'kp2']);
    const labelFile = path.join(dir, 'labels', 'labels.csv');
    await writeLabels(labelFile, labels);
    const cal2 = await calibrationFrames(modelDir, labelFile, 3);
    assert.equal(cal2.n, 3);
    assert.match(cal2.source, /3 labelled images of labels\.csv/);
    const ev8 = await evaluateModelDir(modelDir, labels, { precision: 'int8' });
    const ev32 = await evaluateModelDir(modelDir, labels);
    assert.equal(ev8.metrics.n, ev32.metrics.n);
    await assert.rejects(evaluateModelDir(modelDir, labels, { precision: 'int8', flipAverage: true }), ParamError);

    // New weights: the int8 model is stale.
    const other = smallFMnet(3, 44);
    const kept = fs.readFileSync(ex.file);
    await saveTestModel(modelDir, other); // replaces the folder whole
    other.dispose();
    fs.writeFileSync(ex.file, kept);
    assert.throws(() => int8OnnxForFolder(modelDir), (e: unknown) => e instanceof ParamError && /older/.test(e.message));
    const [s] = await trackVideos([video], { model: modelDir, outDir: path.join(dir, 'stale'), quiet: true, workers: 1, precision: 'int8', log: () => undefined });
    assert.equal(s.status, 'failed');
    assert.match(s.error?.message ?? '', /--int8/);
  });
});
