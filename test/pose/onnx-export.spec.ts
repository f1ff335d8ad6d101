import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createSession, float32Tensor } from '../../src/engine/onnx';
import { ParamError } from '../../src/errors';
import { readFrames } from '../../src/io/video';
import {
  FramePreprocessor,
  ONNX_META,
  createFMnet,
  cropTransform,
  exportOnnx,
  fmnetForward,
  fmnetToOnnx,
  fullFrameBox,
  onnxForFolder,
  onnxMetadata,
} from '../../src/pose';
import { Rng } from '../../src/util/random';
import { sharedOrSkip } from '../helpers/shared';
import { randomizeBatchNorms, saveTestModel, smallFMnet } from './onnx-helpers';
import { tempDir } from './pose-data';
import { useWasm } from './setup';

/** Tolerance required by the issue: ONNX Runtime vs tfjs, max |a - b| / max |b| per output map. */
const TOL = 1e-4;

/** ORT outputs (NCHW) vs tfjs outputs (NHWC) of `model` on `x` [n*S*S]: the worst relative error per map. */
function compare(model: tf.LayersModel, bytes: Uint8Array, x: Float32Array, n: number): Record<string, number> {
  const S = model.inputs[0].shape[1] as number;
  const s = createSession(bytes, { threads: 2, providers: ['cpu'] });
  try {
    const r = s.runSync({ image: float32Tensor(x, [n, 1, S, S]) });
    const input = tf.tensor4d(x, [n, S, S, 1]);
    const out = fmnetForward(model, input);
    const errs: Record<string, number> = {};
    for (const [name, t] of [
      ['heatmap', out.heatmap],
      ['row_offset', out.rowOffset],
      ['col_offset', out.colOffset],
    ] as const) {
      const ref = tf.tidy(() => t.transpose([0, 3, 1, 2]).dataSync() as Float32Array);
      const got = r[name].data as Float32Array;
      assert.deepEqual(r[name].dims, [n, t.shape[3], t.shape[1], t.shape[2]]);
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < ref.length; i++) {
        diff = Math.max(diff, Math.abs(got[i] - ref[i]));
        scale = Math.max(scale, Math.abs(ref[i]));
      }
      assert.ok(scale > 0, `${name} is all zero: the comparison would prove nothing`);
      errs[name] = diff / scale;
    }
    tf.dispose([input, ...Object.values(out)]);
    return errs;
  } finally {
    s.dispose();
  }
}

describe('pose/onnx-export', () => {
  let dir: string;
  before(async () => {
    await useWasm();
    dir = tempDir('onnx');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('ONNX Runtime equals tfjs on random frames, folded or not (batch norms with negative scales too)', () => {
    const model = smallFMnet(3, 7);
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 3 * 64 * 64 }, () => rng.uniform() * 1.2 - 0.1);
    for (const fold of [true, false]) {
      const ex = fmnetToOnnx(model, { foldBatchNorm: fold });
      const errs = compare(model, ex.bytes, x, 3);
      for (const [k, e] of Object.entries(errs)) assert.ok(e < TOL, `fold=${fold} ${k}: relative error ${e}`);
      if (!fold) assert.equal(ex.nodeCounts.BatchNormalization, 14);
      else {
        assert.ok(ex.foldedBatchNorms > 0, 'some batch norms folded');
        assert.ok(ex.nodeCounts.BatchNormalization < 14, 'fewer BatchNormalization nodes');
      }
    }
    model.dispose();
  });

  it('folds every batch norm that can be folded exactly: 11 of 14 (2 in part) when all scales are positive', () => {
    const model = createFMnet({ nKeypoints: 2, channels: [4, 8, 8, 8, 12], inputSize: 64, seed: 2 });
    randomizeBatchNorms(model, 5, false);
    const ex = fmnetToOnnx(model);
    // Left as nodes: the input's, the two after the pools of levels 2 and 3, and the skip halves of
    // both decoder concats (levels 2 and 3 feed a pool and a concat: two different batch norms).
    assert.equal(ex.foldedBatchNorms, 11);
    assert.equal(ex.nodeCounts.BatchNormalization, 5);
    // ReLUs moved before the pools of levels 0 and 1 and fused into convolutions need no node of their own.
    assert.equal(ex.nodeCounts.Conv, 17);
    const rng = new Rng(4);
    const x = Float32Array.from({ length: 2 * 64 * 64 }, () => rng.uniform());
    for (const [k, e] of Object.entries(compare(model, ex.bytes, x, 2))) assert.ok(e < TOL, `${k}: ${e}`);
    model.dispose();
  });

  it('ONNX Runtime equals tfjs on real frames with the full FMnet (256 px, Facemap channels)', async function () {
    const video = sharedOrSkip(this, 'mirror-mouse', 'videos', 'test_vid.mp4');
    const model = createFMnet({ nKeypoints: 15, seed: 11 });
    randomizeBatchNorms(model, 12);
    const n = 2;
    const x = new Float32Array(n * 256 * 256);
    for await (const c of readFrames(video, { start: 500, count: n, chunk: n, dtype: 'uint8' })) {
      const pre = new FramePreprocessor(c.Lx, c.Ly, cropTransform(fullFrameBox(c.Lx, c.Ly), c.Lx, c.Ly, 256));
      for (let i = 0; i < n; i++) pre.run(c.frames.subarray(i * c.Lx * c.Ly, (i + 1) * c.Lx * c.Ly), x, i * 256 * 256);
    }
    const ex = fmnetToOnnx(model);
    const errs = compare(model, ex.bytes, x, n);
    for (const [k, e] of Object.entries(errs)) assert.ok(e < TOL, `${k}: relative error ${e}`);
    model.dispose();
  });

  it('exportOnnx writes model.onnx with the folder fingerprint; onnxForFolder notices stale exports', async () => {
    const mdir = path.join(dir, 'model');
    const model = smallFMnet(2, 21);
    const names = await saveTestModel(mdir, model);
    const r = await exportOnnx(mdir);
    assert.equal(r.file, path.join(mdir, 'model.onnx'));
    const bytes = new Uint8Array(fs.readFileSync(r.file));
    assert.equal(r.bytes, bytes.byteLength);
    const meta = onnxMetadata(bytes);
    assert.equal(meta[ONNX_META.fingerprint], r.fingerprint);
    assert.deepEqual(JSON.parse(meta[ONNX_META.keypoints]), names);
    assert.equal(meta[ONNX_META.layout], 'NCHW');
    assert.equal(fs.readdirSync(mdir).filter((f) => f.endsWith('.partial')).length, 0, 'no temp file left');
    const fresh = await onnxForFolder(mdir);
    assert.equal(fresh.source, 'file');
    assert.equal(fresh.stale, null);
    // New weights in the folder: the old model.onnx must not be used.
    randomizeBatchNorms(model, 99);
    await saveTestModel(mdir, model);
    fs.writeFileSync(path.join(mdir, 'model.onnx'), bytes);
    const stale = await onnxForFolder(mdir);
    assert.equal(stale.source, 'memory');
    assert.match(stale.stale ?? '', /older than the model's weights/);
    const rng = new Rng(8);
    const x = Float32Array.from({ length: 64 * 64 }, () => rng.uniform());
    for (const [k, e] of Object.entries(compare(model, stale.bytes, x, 1))) assert.ok(e < TOL, `${k}: ${e}`);
    model.dispose();
  });

  it('rejects layers it cannot export, naming them', () => {
    const input = tf.input({ shape: [32, 32, 1] });
    const y = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', activation: 'tanh', name: 'odd' }).apply(input) as tf.SymbolicTensor;
    const heads = [0, 1, 2].map((i) => tf.layers.conv2d({ filters: 1, kernelSize: 1, name: `head${i}` }).apply(y) as tf.SymbolicTensor);
    const m = tf.model({ inputs: input, outputs: heads });
    assert.throws(() => fmnetToOnnx(m), (e: unknown) => e instanceof ParamError && /odd\.activation/.test(e.message));
    m.dispose();
  });
});
