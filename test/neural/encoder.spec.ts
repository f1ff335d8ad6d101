/**
 * KeypointEncoder: the network against a direct (every frame, plain loops) reference and against
 * Facemap's own KeypointsNetwork in PyTorch, the sequence windows, determinism, save/load, errors
 * and tensor hygiene. Tolerances (stated here):
 * - predictions vs the plain-loop reference: 1e-4 x max |y| (float32, different summation order);
 * - vs Facemap's PyTorch network with the same weights: predictions and loss 1e-4 relative, every
 *   gradient 1e-3 x its largest magnitude (float32 sums over ~10^4 terms in different orders);
 * - Gabor filters vs Facemap's gabor_wavelet: 1e-6 absolute.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { matrix } from '../../src/engine/linalg';
import { FormatError, NotFittedError, ParamError, ShapeError } from '../../src/errors';
import { readNpy, writeNpy } from '../../src/io/npy';
import { ENCODER_WEIGHT_NAMES, encoderWindows, facemapSplit, gaborFilters, KeypointEncoder, resolveEncoderConfig, validationSplit } from '../../src/neural';
import { Rng } from '../../src/util/random';
import { useWasm } from '../pose/setup';
import { pythonHas } from '../helpers/python';

const PYTHON = process.env.FACEMAP_PYTHON ?? '/usr/bin/python3';

function randn(n: number, rng: Rng, s = 1): Float32Array {
  return Float32Array.from({ length: n }, () => s * rng.normal());
}

/** A small problem: nCam camera frames at 50 Hz, neural samples at 3 Hz starting 0.1 s in. */
function problem(nCam: number, P: number, Q: number, seed: number) {
  const rng = new Rng(seed);
  const camTimes = Float64Array.from({ length: nCam }, (_, i) => i / 50);
  const nN = Math.floor(((nCam - 1) / 50 - 0.1) * 3) + 1;
  const neuralTimes = Float64Array.from({ length: nN }, (_, i) => 0.1 + i / 3);
  const x = matrix(nCam, P, randn(nCam * P, rng));
  const y = matrix(nN, Q, randn(nN * Q, rng));
  return { x, y, camTimes, neuralTimes };
}

/** Random weights of an encoder's shapes, by Facemap name. */
function randomWeights(enc: KeypointEncoder, seed: number, scale = 0.3): Record<string, { data: Float32Array; shape: number[] }> {
  const rng = new Rng(seed);
  const out: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const w of enc.weights()) out[w.name] = { shape: w.shape, data: randn(w.data.length, rng, scale) };
  return out;
}

/** Facemap's network evaluated frame by frame with plain loops: targets at `anchors` of window [start, end). */
function referenceForward(enc: KeypointEncoder, xs: Float32Array, P: number, start: number, end: number, anchors: ArrayLike<number>): Float32Array {
  const w = Object.fromEntries(enc.weights().map((v) => [v.name, v.data]));
  const [A, c, W, W1, b1, W2, b2, W3, b3] = ENCODER_WEIGHT_NAMES.map((n) => w[n]);
  const { nFilters: F, kernelSize: K, nMed, nLatents } = enc.config;
  const Q = enc.config.nKp ?? P;
  const nOut = enc.nOut;
  const half = (K - 1) / 2;
  const z = (t: number, q: number) => {
    if (t < start || t >= end) return 0;
    let s = c[q];
    for (let p = 0; p < P; p++) s += A[q * P + p] * xs[t * P + p];
    return s;
  };
  const out = new Float32Array(anchors.length * nOut);
  for (let i = 0; i < anchors.length; i++) {
    const u = new Float64Array(Q * F);
    for (let q = 0; q < Q; q++) {
      for (let f = 0; f < F; f++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += W[f * K + k] * z(anchors[i] + k - half, q);
        u[q * F + f] = Math.max(0, s);
      }
    }
    const h = Float64Array.from({ length: nMed }, (_, m) => {
      let s = b1[m];
      for (let j = 0; j < Q * F; j++) s += W1[m * Q * F + j] * u[j];
      return Math.max(0, s);
    });
    const l = Float64Array.from({ length: nLatents }, (_, m) => {
      let s = b2[m];
      for (let j = 0; j < nMed; j++) s += W2[m * nMed + j] * h[j];
      return Math.max(0, s);
    });
    for (let o = 0; o < nOut; o++) {
      let s = b3[o];
      for (let j = 0; j < nLatents; j++) s += W3[o * nLatents + j] * l[j];
      out[i * nOut + o] = s;
    }
  }
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} > ${tol}`);
}

describe('neural: KeypointEncoder', function () {
  this.timeout(600000);
  before(useWasm);

  it('validates its config and has Facemap\'s sizes (59,518 parameters for 22 inputs, 128 outputs)', () => {
    assert.throws(() => resolveEncoderConfig({ nFilters: 3 }), ParamError);
    assert.throws(() => resolveEncoderConfig({ kernelSize: 200 }), ParamError);
    assert.throws(() => resolveEncoderConfig({ epochs: 0 }), ParamError);
    assert.throws(() => resolveEncoderConfig({ learningRate: 0 }), ParamError);
    assert.throws(() => new KeypointEncoder().predict(problem(300, 2, 2, 0)), NotFittedError);
    const enc = new KeypointEncoder();
    const ws: Record<string, { data: Float32Array; shape: number[] }> = {};
    const shapes: [string, number[]][] = [
      [ENCODER_WEIGHT_NAMES[0], [22, 22]], [ENCODER_WEIGHT_NAMES[1], [22]], [ENCODER_WEIGHT_NAMES[2], [10, 1, 201]],
      [ENCODER_WEIGHT_NAMES[3], [50, 220]], [ENCODER_WEIGHT_NAMES[4], [50]], [ENCODER_WEIGHT_NAMES[5], [256, 50]],
      [ENCODER_WEIGHT_NAMES[6], [256]], [ENCODER_WEIGHT_NAMES[7], [128, 256]], [ENCODER_WEIGHT_NAMES[8], [128]],
    ];
    for (const [n, s] of shapes) ws[n] = { shape: s, data: new Float32Array(s.reduce((a, d) => a * d, 1)) };
    enc.setWeights(ws);
    assert.equal(enc.nParams, 59518);
    enc.dispose();
  });

  it('Gabor filters: 5 cosine then 5 sine, each block of unit norm, even and odd', () => {
    const g = gaborFilters(10, 201);
    for (const b of [0, 1]) assert.ok(Math.abs(g.subarray(b * 1005, (b + 1) * 1005).reduce((s, v) => s + v * v, 0) - 1) < 1e-5);
    for (let f = 0; f < 10; f++) {
      const row = g.subarray(f * 201, (f + 1) * 201);
      // cosine rows are even around the centre frame, sine rows odd
      const even = f < 5;
      for (let k = 1; k <= 100; k++) {
        const a = row[100 + k];
        const b = row[100 - k];
        // x = linspace(0, 2 pi) without its end point is centred at frame 100 minus half a frame
        assert.ok(Math.abs(even ? a - b : a + b) < 0.05, `filter ${f}, k ${k}`);
      }
    }
  });

  it('windows: one sequence per run of samples, Facemap\'s length, anchors one neural sample earlier', () => {
    const camTimes = Float64Array.from({ length: 1000 }, (_, i) => i / 50);
    const neuralTimes = Float64Array.from({ length: 60 }, (_, i) => 0.05 + i / 3);
    const w = encoderWindows(camTimes, neuralTimes, [3, 4, 5, 10, 11], -1);
    assert.equal(w.length, 2);
    assert.deepEqual(Array.from(w[0].rows), [3, 4, 5]);
    // anchor of sample n is the camera frame nearest neural time n - 1 (sample 3: 0.05 + 2/3 s -> frame 36)
    assert.deepEqual(Array.from(w[0].anchors), [36, 52, 69]); // 1.05 s is a tie between frames 52 and 53: the earlier
    assert.equal(w[0].start, 36);
    assert.equal(w[0].end, 36 + Math.ceil((50 / 3) * 3));
    assert.deepEqual(Array.from(w[1].rows), [10, 11]);
    // sample 0 with delay -1 clamps to neural time 0
    assert.equal(encoderWindows(camTimes, neuralTimes, [0], -1)[0].anchors[0], 3);
    assert.throws(() => encoderWindows(camTimes, neuralTimes, [5, 4], -1), ParamError);
    assert.throws(() => encoderWindows(camTimes, neuralTimes, [60], -1), ParamError);
  });

  it('predict equals the network evaluated frame by frame (zero padding at sequence ends, linear0 bias included)', () => {
    const P = 4;
    const d = problem(1200, P, 3, 1);
    const enc = new KeypointEncoder({ nFilters: 4, kernelSize: 41, nMed: 8, nLatents: 16, nKp: 5 }).build(P, 3);
    enc.setWeights(randomWeights(enc, 2));
    const rows = [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15];
    const got = enc.predict(d, rows);
    const windows = encoderWindows(d.camTimes, d.neuralTimes, rows, -1);
    const ref = new Float32Array(rows.length * 3);
    let o = 0;
    for (const w of windows) {
      const r = referenceForward(enc, d.x.data, P, w.start, w.end, w.anchors);
      ref.set(r, o);
      o += r.length;
    }
    assertClose(got.data, ref, 1e-4 * maxAbs(ref), 'predict vs reference');
    // latents at camera frames, the whole recording one sequence: their readout is the reference's output
    const frames = [0, 5, 500, 1199];
    const lat = enc.latents(d.x, frames);
    assert.deepEqual([lat.rows, lat.cols], [4, 16]);
    for (const v of lat.data) assert.ok(v >= 0, 'latents are ReLU outputs');
    const w = Object.fromEntries(enc.weights().map((v) => [v.name, v.data]));
    const W3 = w[ENCODER_WEIGHT_NAMES[7]];
    const b3 = w[ENCODER_WEIGHT_NAMES[8]];
    const readout = Float32Array.from({ length: 4 * 3 }, (_, i) => {
      let s = b3[i % 3];
      for (let j = 0; j < 16; j++) s += W3[(i % 3) * 16 + j] * lat.data[Math.floor(i / 3) * 16 + j];
      return s;
    });
    const refAll = referenceForward(enc, d.x.data, P, 0, d.x.rows, frames);
    assertClose(readout, refAll, 1e-4 * maxAbs(refAll), 'latents readout vs reference');
    enc.dispose();
  });

  it('same seed gives the same numbers, another seed others; fit leaves no tensors behind', async () => {
    const d = problem(3000, 3, 4, 3);
    const cfg = { epochs: 3, nFilters: 4, kernelSize: 21, nMed: 8, nLatents: 16, evalEvery: 1, validationFraction: 0 };
    const before = tf.memory().numTensors;
    const a = await new KeypointEncoder(cfg).fit(d);
    const b = await new KeypointEncoder(cfg).fit(d);
    const c = await new KeypointEncoder({ ...cfg, seed: 1 }).fit(d);
    const pa = a.predict(d).data;
    assert.deepEqual(Array.from(b.predict(d).data), Array.from(pa));
    assert.deepEqual(a.history.map((e) => e.trainLoss), b.history.map((e) => e.trainLoss));
    assert.notDeepEqual(Array.from(c.predict(d).data), Array.from(pa));
    assert.equal(a.history.length, 3);
    assert.ok(Number.isFinite(a.history[2].testVe as number));
    const nVars = a.nParams > 0 ? 9 : 0;
    for (const e of [a, b, c]) e.dispose();
    assert.equal(tf.memory().numTensors, before, `tensors leaked (each encoder holds ${nVars} variables until dispose)`);
  });

  it('validation split: the end of each training segment after a gap; too short segments train whole', () => {
    const sp = facemapSplit(400);
    const v = validationSplit(sp.train, 0.15, 3);
    // 10 segments of 30 training samples: 23 train, 3 left out, 4 validate
    assert.equal(v.train.length, 230);
    assert.equal(v.validation.length, 40);
    assert.deepEqual(Array.from(v.validation.subarray(0, 4)), [26, 27, 28, 29]);
    assert.deepEqual(Array.from(v.train.subarray(20, 24)), [20, 21, 22, 40]);
    for (const t of v.validation) assert.ok(!v.train.includes(t) && sp.train.includes(t));
    assert.deepEqual(validationSplit(Int32Array.from([0, 1, 2, 3, 10, 11]), 0.25, 3), { train: Int32Array.from([0, 1, 2, 3, 10, 11]), validation: new Int32Array(0) });
    assert.throws(() => resolveEncoderConfig({ validationFraction: 1 }), ParamError);
    assert.throws(() => resolveEncoderConfig({ patience: 0 }), ParamError);
  });

  it('validated schedule: stops when held-out training samples stop improving and beats the fixed schedule on a short noisy recording', async () => {
    // 2 min at 3 Hz (270 training samples); targets: a smoothed keypoint column plus 3x its SD of noise
    const d = problem(6000, 3, 4, 7);
    const rng = new Rng(11);
    const { rows, cols } = d.y;
    for (let n = 0; n < rows; n++) {
      const f = Math.round(d.neuralTimes[n] * 50);
      let s = 0;
      for (let k = -10; k <= 0; k++) s += d.x.data[Math.max(0, f + k) * 3] / 11;
      for (let j = 0; j < cols; j++) d.y.data[n * cols + j] = (j + 1) * s + 3 * Math.sqrt(1 / 11) * (j + 1) * rng.normal();
    }
    const base = { epochs: 60, nFilters: 4, kernelSize: 21, nMed: 16, nLatents: 32, evalEvery: 0, learningRate: 3e-3, patience: 8 };
    const fixed = await new KeypointEncoder({ ...base, epochs: 150, validationFraction: 0 }).fit(d); // Facemap's schedule shape: lr / 10 at 50 and 100
    const val = await new KeypointEncoder(base).fit(d);
    const keep = await new KeypointEncoder({ ...base, refit: false }).fit(d);
    try {
      const tv = val.training!;
      const v = tv.validation!;
      console.log(`      fixed 150 epochs: test VE ${fixed.training!.testVe.toFixed(4)}; validated: best epoch ${v.bestEpoch + 1} of ${v.selectionEpochs}, lr / 10 at [${tv.annealEpochs}], test VE ${tv.testVe.toFixed(4)} (refit), ${keep.training!.testVe.toFixed(4)} (best weights kept)`);
      assert.equal(fixed.training!.schedule, 'fixed');
      assert.equal(fixed.history.length, 150);
      assert.equal(tv.schedule, 'validated');
      assert.ok(v.selectionEpochs < 60, `selection ran all ${v.selectionEpochs} epochs`);
      assert.equal(tv.epochs, v.bestEpoch + 1);
      assert.equal(tv.epochsRun, v.selectionEpochs + tv.epochs);
      assert.equal(val.history.filter((e) => e.phase === 'refit').length, tv.epochs);
      assert.ok(tv.annealEpochs.every((e) => e < tv.epochs));
      assert.ok(tv.testVe > fixed.training!.testVe, `validated ${tv.testVe} <= fixed ${fixed.training!.testVe}`);
      assert.ok(keep.training!.testVe > fixed.training!.testVe);
      // refit: false keeps the weights of the best validation epoch: they give its validation VE
      const sp = validationSplit(facemapSplit(rows).train, 0.15, 3);
      const yv = keep.predict(d, sp.validation).data;
      let sse = 0;
      let sst = 0;
      for (let j = 0; j < cols; j++) {
        let m = 0;
        for (const n of sp.validation) m += d.y.data[n * cols + j] / sp.validation.length;
        sp.validation.forEach((n, k) => {
          sse += (d.y.data[n * cols + j] - yv[k * cols + j]) ** 2;
          sst += (d.y.data[n * cols + j] - m) ** 2;
        });
      }
      assert.ok(Math.abs(1 - sse / sst - keep.training!.validation!.ve) < 1e-5);
    } finally {
      for (const e of [fixed, val, keep]) e.dispose();
    }
  });

  it('save/load reproduces predictions and latents; a bad folder is a FormatError', async () => {
    const d = problem(4000, 3, 2, 4);
    const enc = await new KeypointEncoder({ epochs: 2, nFilters: 4, kernelSize: 21, nMed: 8, nLatents: 16, validationFraction: 0 }).fit(d);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-encoder-'));
    try {
      const files = enc.save(path.join(dir, 'enc'));
      assert.deepEqual(files.map((f) => path.basename(f)), ['encoder.json', 'weights.bin']);
      const back = KeypointEncoder.load(path.join(dir, 'enc'));
      assert.deepEqual(back.config, enc.config);
      assert.deepEqual(Array.from(back.predict(d).data), Array.from(enc.predict(d).data));
      assert.deepEqual(Array.from(back.latents(d.x).data), Array.from(enc.latents(d.x).data));
      assert.equal(back.training?.epochs, 2);
      // saving again replaces the folder whole
      enc.save(path.join(dir, 'enc'));
      assert.deepEqual(fs.readdirSync(dir), ['enc']);
      fs.writeFileSync(path.join(dir, 'enc', 'weights.bin'), Buffer.alloc(8));
      assert.throws(() => KeypointEncoder.load(path.join(dir, 'enc')), FormatError);
      assert.throws(() => KeypointEncoder.load(dir), FormatError);
      back.dispose();
    } finally {
      enc.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mismatched lengths and clocks are ShapeErrors', async () => {
    const d = problem(4000, 2, 2, 5);
    const enc = new KeypointEncoder({ epochs: 1, nFilters: 2, kernelSize: 11, nMed: 4, nLatents: 4 });
    await assert.rejects(enc.fit({ ...d, y: matrix(d.y.rows - 1, 2) }), ShapeError);
    await assert.rejects(enc.fit({ ...d, camTimes: d.camTimes.subarray(1) }), ShapeError);
    const late = Float64Array.from(d.neuralTimes, (t) => t + 60);
    await assert.rejects(enc.fit({ ...d, neuralTimes: late }), /different lengths or clocks/);
    await enc.fit(d);
    assert.throws(() => enc.predict({ ...d, x: matrix(d.x.rows, 3) }), ShapeError);
    enc.dispose();
  });

  describe("against Facemap's own KeypointsNetwork (PyTorch)", () => {
    const src = process.env.FACEMAP_SRC;
    before(function () {
      if (!src || !fs.existsSync(path.join(src, 'facemap', 'neural_prediction', 'neural_model.py')) || !pythonHas('torch', 'numpy')) {
        console.log(`      (skipped: set FACEMAP_SRC to a Facemap checkout, with torch and numpy in ${PYTHON})`);
        this.skip();
      }
    });

    it('same weights: same predictions, loss and gradients; same Gabor initialisation', () => {
      const P = 6;
      const Q = 5;
      const d = problem(3000, P, Q, 7);
      const enc = new KeypointEncoder().build(P, Q);
      enc.setWeights(randomWeights(enc, 8, 0.1));
      const rows = Array.from({ length: 40 }, (_, i) => 10 + i);
      const [w] = encoderWindows(d.camTimes, d.neuralTimes, rows, -1);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-encoder-torch-'));
      try {
        for (const v of enc.weights()) writeNpy(path.join(dir, `${v.name}.npy`), v.data, v.shape);
        writeNpy(path.join(dir, 'x.npy'), d.x.data.slice(w.start * P, w.end * P), [w.end - w.start, P]);
        writeNpy(path.join(dir, 'y.npy'), d.y.data.slice(rows[0] * Q, (rows[rows.length - 1] + 1) * Q), [rows.length, Q]);
        writeNpy(path.join(dir, 'anchors.npy'), Int32Array.from(w.anchors, (a) => a - w.start), [w.anchors.length]);
        const script = `
import sys, types, os, json
import numpy as np, torch
sys.path.insert(0, ${JSON.stringify(src)})
gui = types.ModuleType('facemap.gui'); gui.__path__ = []; hw = types.ModuleType('facemap.gui.help_windows'); gui.help_windows = hw
sys.modules['facemap.gui'] = gui; sys.modules['facemap.gui.help_windows'] = hw
from facemap.neural_prediction.neural_model import KeypointsNetwork
from facemap.utils import gabor_wavelet
d = ${JSON.stringify(dir)}
net = KeypointsNetwork(n_in=${P}, n_out=${Q})
f = np.geomspace(1, 10, 5).astype('float32')
gab = np.vstack((gabor_wavelet(1, f[:, None], 0, n_pts=201), gabor_wavelet(1, f[:, None], np.pi / 2, n_pts=201)))
np.save(os.path.join(d, 'gabor.npy'), gab.astype('float32'))
sd = {k: torch.from_numpy(np.load(os.path.join(d, k + '.npy'))) for k in net.state_dict().keys()}
net.load_state_dict(sd)
x = torch.from_numpy(np.load(os.path.join(d, 'x.npy')))[None]
y = torch.from_numpy(np.load(os.path.join(d, 'y.npy')))[None]
si = torch.zeros(x.shape[1], dtype=bool); si[np.load(os.path.join(d, 'anchors.npy'))] = True
yp = net(x, si)[0]
loss = ((yp - y) ** 2).mean() + 0.5 * (torch.diff(net.core.features[1].weight) ** 2).sum()
loss.backward()
np.save(os.path.join(d, 'torch_y.npy'), yp.detach().numpy().reshape(-1).astype('float32'))
for k, p in net.named_parameters(): np.save(os.path.join(d, 'grad_' + k + '.npy'), p.grad.numpy().astype('float32'))
print(json.dumps({'loss': loss.item()}))
`;
        const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const torchLoss = JSON.parse(r.stdout.trim().split('\n').pop() as string).loss as number;
        const gab = readNpy(path.join(dir, 'gabor.npy')).data as Float32Array;
        assertClose(gaborFilters(10, 201), gab, 1e-6, 'Gabor initialisation');
        const yt = readNpy(path.join(dir, 'torch_y.npy')).data as Float32Array;
        const ours = enc.predict(d, rows).data;
        assertClose(ours, yt, 1e-4 * maxAbs(yt), 'predictions');
        const g = enc.lossGradients(d, rows);
        assert.ok(Math.abs(g.loss - torchLoss) <= 1e-4 * Math.abs(torchLoss), `loss ${g.loss} vs torch ${torchLoss}`);
        for (const n of ENCODER_WEIGHT_NAMES) {
          const gt = readNpy(path.join(dir, `grad_${n}.npy`)).data as Float32Array;
          assertClose(g.grads[n], gt, 1e-3 * maxAbs(gt), `gradient of ${n}`);
        }
      } finally {
        enc.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

