/**
 * The tracking pipeline on small videos with a small FMnet (input 64). Tolerances: keypoints from
 * ONNX Runtime and from tfjs agree to 1e-3 px and likelihoods to 1e-5 (float32 networks whose maps
 * agree to ~1e-6 relative); near-tied heatmap maxima could flip an argmax, so at most 1% of
 * keypoints may differ more (none did when this was written).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FormatError, InterruptedError } from '../../src/errors';
import { locateFfmpeg } from '../../src/io/ffmpeg';
import { readFrames } from '../../src/io/video';
import { expandBox, exportOnnx, loadModel, predictPose, readPoseH5, readTraces, trackOutputs, trackVideos, type KeypointTraces, type TrackMetadata } from '../../src/pose';
import { saveTestModel, smallFMnet } from './onnx-helpers';
import { tempDir } from './pose-data';
import { useWasm } from './setup';

const W = 96;
const H = 80;
const N = 70;

function makeVideo(file: string, n = N, extra: string[] = []): string {
  const r = spawnSync(locateFfmpeg().ffmpeg, [
    '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=25`, '-frames:v', String(n), '-pix_fmt', 'gray', ...extra, file,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
  return file;
}

function agree(a: KeypointTraces, b: KeypointTraces, what: string): void {
  assert.equal(a.nFrames, b.nFrames);
  let off = 0;
  for (let i = 0; i < a.x.length; i++) {
    if (Math.abs(a.x[i] - b.x[i]) > 1e-3 || Math.abs(a.y[i] - b.y[i]) > 1e-3) off++;
    assert.ok(Math.abs(a.likelihood[i] - b.likelihood[i]) < 1e-5, `${what}: likelihood ${i}: ${a.likelihood[i]} vs ${b.likelihood[i]}`);
  }
  assert.ok(off <= 0.01 * a.x.length, `${what}: ${off} of ${a.x.length} keypoints differ by more than 1e-3 px`);
}

const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes('FacemapPose'));

describe('pose/track', () => {
  let dir: string;
  let modelDir: string;
  let video: string;
  const box = { x0: 10, x1: 90, y0: 4, y1: 70 };
  before(async function () {
    await useWasm();
    dir = tempDir('track');
    modelDir = path.join(dir, 'model');
    const model = smallFMnet(3, 31);
    await saveTestModel(modelDir, model);
    model.dispose();
    await exportOnnx(modelDir);
    video = makeVideo(path.join(dir, 'face.mkv'), N, ['-c:v', 'ffv1']);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes Facemap .h5, DeepLabCut .csv and metadata equal to predictPose on the same frames', async () => {
    const out = path.join(dir, 'out1');
    const [r] = await trackVideos([video], { model: modelDir, box, batchSize: 16, outDir: out, csv: true, quiet: true, workers: 1 });
    assert.equal(r.status, 'tracked', r.error?.message);
    const o = trackOutputs(video, out);
    assert.deepEqual(fs.readdirSync(out).sort(), ['face_FacemapPose.csv', 'face_FacemapPose.h5', 'face_FacemapPose.json']);
    const traces = await readPoseH5(o.h5);
    assert.deepEqual(traces.names, ['kp0', 'kp1', 'kp2']);
    assert.equal(traces.nFrames, N);
    const csv = await readTraces(o.csv);
    assert.deepEqual(csv.x, traces.x);
    assert.deepEqual(csv.likelihood, traces.likelihood);
    const meta = JSON.parse(fs.readFileSync(o.json, 'utf8')) as TrackMetadata;
    assert.equal(meta.video.nFrames, N);
    assert.equal(meta.video.fps, 25);
    assert.deepEqual(meta.box, box);
    assert.equal(meta.boxSource, 'option');
    // The card has no training configuration: the default augmentation's mean expansion, 0.2.
    assert.equal(meta.expand, 0.2);
    assert.deepEqual(meta.inputBox, expandBox(box, W, H, 0.2));
    assert.equal(meta.engine.kind, 'onnx');
    assert.match(meta.engine.description, /^ONNX Runtime .*, worker thread\)$/);
    assert.equal(meta.model.onnx, 'file');
    assert.ok(meta.speed.framesPerSecond > 0 && meta.peakRssMB > 0);

    const frames: { data: Float32Array; width: number; height: number }[] = [];
    for await (const c of readFrames(video, { chunk: 32 })) {
      for (let i = 0; i < c.n; i++) frames.push({ data: c.frames.slice(i * W * H, (i + 1) * W * H), width: W, height: H });
    }
    const { model } = await loadModel(modelDir);
    const ref = predictPose(model, frames, { box, batchSize: 8, expand: 0.2 });
    model.dispose();
    agree(traces, { names: traces.names, nFrames: N, x: ref.x, y: ref.y, likelihood: ref.likelihood }, 'track vs predictPose');
    // Keypoints land in original-frame pixels around the crop the network saw (a random network may
    // point anywhere on its input square, which extends past the crop by the padding).
    const ib = meta.inputBox;
    for (let i = 0; i < traces.x.length; i++) assert.ok(traces.x[i] > ib.x0 - 10 && traces.x[i] < ib.x1 + 10, `x ${traces.x[i]}`);
  });

  it('--flip-average tracks each frame and its mirror and equals predictPose with flipAverage', async () => {
    const out = path.join(dir, 'out-flip');
    const [r] = await trackVideos([video], { model: modelDir, box, batchSize: 5, outDir: out, quiet: true, workers: 1, flipAverage: true });
    assert.equal(r.status, 'tracked', r.error?.message);
    assert.equal(r.metadata?.flipAverage, true);
    const traces = await readPoseH5(trackOutputs(video, out).h5);
    const frames: { data: Float32Array; width: number; height: number }[] = [];
    for await (const c of readFrames(video, { chunk: 32 })) {
      for (let i = 0; i < c.n; i++) frames.push({ data: c.frames.slice(i * W * H, (i + 1) * W * H), width: W, height: H });
    }
    const { model } = await loadModel(modelDir);
    const ref = predictPose(model, frames, { box, batchSize: 8, expand: 0.2, flipAverage: true });
    const plain = predictPose(model, frames, { box, batchSize: 8, expand: 0.2 });
    model.dispose();
    agree(traces, { names: traces.names, nFrames: N, x: ref.x, y: ref.y, likelihood: ref.likelihood }, 'track --flip-average vs predictPose');
    assert.notDeepEqual(Array.from(ref.x), Array.from(plain.x));
  });

  it('the tfjs engine (the fallback) gives the same traces', async () => {
    const a = path.join(dir, 'out1');
    const b = path.join(dir, 'out-tfjs');
    const [r] = await trackVideos([video], { model: modelDir, box, outDir: b, engine: 'tfjs', batchSize: 5, quiet: true });
    assert.equal(r.status, 'tracked', r.error?.message);
    assert.equal(r.metadata?.engine.kind, 'tfjs');
    agree(await readPoseH5(trackOutputs(video, b).h5), await readPoseH5(trackOutputs(video, a).h5), 'tfjs vs onnx');
  });

  it('two inference workers (the default) taking batches in turn give the same traces, in order', async () => {
    const b = path.join(dir, 'out-2w');
    const [r] = await trackVideos([video], { model: modelDir, box, outDir: b, batchSize: 6, quiet: true });
    assert.equal(r.status, 'tracked', r.error?.message);
    assert.match(r.metadata?.engine.description ?? '', /^2 x ONNX Runtime .*1 thread, worker threads/);
    const a = await readPoseH5(trackOutputs(video, path.join(dir, 'out1')).h5);
    assert.deepEqual((await readPoseH5(trackOutputs(video, b).h5)).x, a.x);
  });

  it('skips finished videos on a re-run, adding only outputs asked for now (CSV, filtered traces)', async () => {
    const out = path.join(dir, 'out2');
    const o = trackOutputs(video, out);
    const first = await trackVideos([video], { model: modelDir, outDir: out, quiet: true });
    assert.equal(first[0].status, 'tracked');
    assert.equal(first[0].metadata?.boxSource, 'whole frame');
    const stamp = fs.statSync(o.h5).mtimeMs;
    const again = await trackVideos([video], { model: modelDir, outDir: out, quiet: true });
    assert.equal(again[0].status, 'skipped');
    assert.equal(fs.statSync(o.h5).mtimeMs, stamp, 'traces not rewritten');
    const more = await trackVideos([video], { model: modelDir, outDir: out, quiet: true, csv: true, filter: { confidence: false } });
    assert.equal(more[0].status, 'updated');
    assert.equal(fs.statSync(o.h5).mtimeMs, stamp, 'raw traces kept as they were');
    assert.deepEqual((await readTraces(o.csv)).x, (await readPoseH5(o.h5)).x);
    assert.ok(fs.existsSync(o.filteredH5) && fs.existsSync(o.filteredCsv));
    const meta = JSON.parse(fs.readFileSync(o.json, 'utf8')) as TrackMetadata;
    assert.equal(meta.outputs.csv, 'face_FacemapPose.csv');
    assert.equal(meta.outputs.filtered?.config.confidence, false);
    // New weights: the video is tracked again.
    const model = smallFMnet(3, 32);
    await saveTestModel(modelDir + '2', model);
    model.dispose();
    const other = await trackVideos([video], { model: modelDir + '2', outDir: out, quiet: true, log: () => undefined });
    assert.equal(other[0].status, 'tracked');
    assert.equal(other[0].metadata?.model.onnx, 'memory');
    assert.equal(other[0].metadata?.outputs.csv, null);
    assert.ok(!fs.existsSync(o.csv) && !fs.existsSync(o.filteredH5), 'outputs of the old weights removed');
    const force = await trackVideos([video], { model: modelDir + '2', outDir: out, quiet: true, force: true });
    assert.equal(force[0].status, 'tracked');
    // Another box expansion: tracked again, saying why.
    const notes: string[] = [];
    const unexpanded = await trackVideos([video], { model: modelDir + '2', outDir: out, quiet: true, expand: 0, log: (m) => notes.push(m) });
    assert.equal(unexpanded[0].status, 'tracked');
    assert.equal(unexpanded[0].metadata?.expand, 0);
    assert.ok(notes.some((m) => /another box expansion \(0\.2, now 0\)/.test(m)), notes.join(' | '));
  });

  it('a truncated video fails clearly, leaves no output, and the next video is still tracked', async () => {
    const full = makeVideo(path.join(dir, 'long.mp4'), 60, ['-c:v', 'libx264', '-g', '10', '-movflags', '+faststart']);
    const cut = path.join(dir, 'cut.mp4');
    const bytes = fs.readFileSync(full);
    fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const out = path.join(dir, 'out3');
    const logs: string[] = [];
    const r = await trackVideos([cut, full], { model: modelDir, outDir: out, quiet: true, log: (s) => logs.push(s) });
    assert.equal(r[0].status, 'failed');
    assert.ok(r[0].error instanceof FormatError && /cut\.mp4: truncated or corrupt/.test(r[0].error.message), r[0].error?.message);
    assert.ok(logs.some((l) => /cut\.mp4: failed: .*truncated/.test(l)));
    assert.equal(r[1].status, 'tracked');
    assert.deepEqual(leftovers(out).sort(), ['long_FacemapPose.h5', 'long_FacemapPose.json']);
  });

  it('an error or an interruption mid-way leaves nothing that looks complete (no temp files either)', async () => {
    const out = path.join(dir, 'out4');
    const boom = await trackVideos([video], {
      model: modelDir,
      outDir: out,
      csv: true,
      batchSize: 8,
      quiet: true,
      onProgress: (p) => {
        if (p.done >= 24) throw new FormatError(video, `decoding failed at frame ${p.done} (simulated)`);
      },
    });
    assert.equal(boom[0].status, 'failed');
    assert.match(boom[0].error?.message ?? '', /simulated/);
    assert.deepEqual(fs.readdirSync(out), []);
    const stop = new AbortController();
    await assert.rejects(
      trackVideos([video], { model: modelDir, outDir: out, csv: true, batchSize: 8, quiet: true, signal: stop.signal, onProgress: (p) => p.done >= 16 && stop.abort() }),
      (e: unknown) => e instanceof InterruptedError && /interrupted at frame \d+; no output written/.test(e.message),
    );
    assert.deepEqual(fs.readdirSync(out), []);
  });
});
