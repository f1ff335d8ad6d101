/**
 * Simulated neural population: planted statistics, the Facemap split, determinism, streaming.
 * Tolerances (stated here, sized to the sampling error of the small cases, which run in seconds):
 * - oracle VE equals the planted rho to 1e-5 (float32 storage of activity);
 * - per-cluster mean oracle VE within 0.04 of the cluster's drive (~400 neurons, Beta sd <= 0.11);
 * - population mean within 0.02 of the configured mixture mean;
 * - block-streamed activity equals the in-memory computation to 1e-5 absolute (unit-variance
 *   data; ONNX Runtime may sum in a different order for a different block size);
 * - behaviour part recomputed from the saved truth reproduces the oracle to 1e-4.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ParamError, ShapeError } from '../../src/errors';
import { withH5 } from '../../src/io/hdf5';
import {
  facemapSplit,
  fillNormalZiggurat,
  isKeypointVisibleDrive,
  KEYPOINT_VISIBLE_LATENTS,
  NEURAL_PRESETS,
  NeuralConfig,
  resolveNeuralConfig,
  simulateNeural,
  simulateNeuralInMemory,
  spatialSpreadKL,
} from '../../src/synth/neural';
import { simulateBehavior } from '../../src/synth/behavior';
import { Rng } from '../../src/util/random';
import { makeTestLatents } from '../helpers/latents';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fm-neural-'));
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

function members(cluster: Int32Array, k: number): number[] {
  const out: number[] = [];
  cluster.forEach((c, i) => c === k && out.push(i));
  return out;
}

/** 2,000 neurons in 4 clusters of ~400, 2 min of behaviour at 50 Hz (360 neural samples). */
const PLANTED: Partial<NeuralConfig> = { nNeurons: 2000, nClusters: 4, clusterFraction: 0.8, driveRange: [0.05, 0.6], backgroundDrive: 0.1 };

describe('synth/neural', () => {
  const latents = makeTestLatents(120 * 50, 50, 3);

  describe('facemapSplit', () => {
    it('cuts 10 segments into 75% train, a 3-sample gap and test, disjoint and sorted', () => {
      const s = facemapSplit(1000);
      assert.deepEqual(Array.from(s.bounds), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
      assert.equal(s.train.length, 750);
      assert.equal(s.test.length, 220);
      for (let k = 0; k < 10; k++) {
        const tr = Array.from(s.train).filter((t) => t >= k * 100 && t < (k + 1) * 100);
        const te = Array.from(s.test).filter((t) => t >= k * 100 && t < (k + 1) * 100);
        assert.deepEqual([tr[0], tr[tr.length - 1], tr.length], [k * 100, k * 100 + 74, 75]);
        assert.deepEqual([te[0], te[te.length - 1], te.length], [k * 100 + 78, k * 100 + 99, 22]);
      }
      const seen = new Set<number>([...s.train, ...s.test]);
      assert.equal(seen.size, s.train.length + s.test.length);
      for (const a of [s.train, s.test]) for (let i = 1; i < a.length; i++) assert.ok(a[i] > a[i - 1]);
    });

    it('gives the leftover samples to the last segment and honours the options', () => {
      const s = facemapSplit(1007);
      assert.equal(s.bounds[10], 1007);
      assert.equal(s.test[s.test.length - 1], 1006);
      const o = facemapSplit(200, { segments: 4, trainFraction: 0.5, gap: 0 });
      assert.equal(o.train.length, 100);
      assert.equal(o.test.length, 100);
    });

    it('throws ParamError when a segment cannot hold train, gap and test', () => {
      assert.throws(() => facemapSplit(30), (e) => e instanceof ParamError && e.field === 'nSamples');
      assert.throws(() => facemapSplit(1000, { segments: 0 }), (e) => e instanceof ParamError && e.field === 'segments');
      assert.throws(() => facemapSplit(1000, { trainFraction: 1 }), (e) => e instanceof ParamError && e.field === 'trainFraction');
      assert.throws(() => facemapSplit(1000, { gap: -1 }), (e) => e instanceof ParamError && e.field === 'gap');
    });
  });

  describe('planted statistics', () => {
    const sim = simulateNeuralInMemory(latents, PLANTED, 11);

    it('oracle VE equals the planted share of behaviour variance on the test split', () => {
      const test = facemapSplit(sim.nTimepoints).test;
      let worst = 0;
      for (let i = 0; i < sim.nNeurons; i++) worst = Math.max(worst, Math.abs(sim.oracleVe[i] - sim.plantedVe[i]));
      assert.ok(worst < 1e-5, `max |oracle - planted| = ${worst}`);
      assert.ok(test.length > 50);
    });

    it('cluster and population means follow the configured drives; strong clusters beat weak ones', () => {
      const drives = Array.from(sim.clusterDrive);
      assert.deepEqual(drives.map((d) => +d.toFixed(4)), [0.05, 0.2333, 0.4167, 0.6]);
      const clusterMeans = drives.map((_, k) => mean(members(sim.cluster, k).map((i) => sim.oracleVe[i])));
      clusterMeans.forEach((m, k) => assert.ok(Math.abs(m - drives[k]) < 0.04, `cluster ${k}: mean ${m} vs drive ${drives[k]}`));
      for (let k = 1; k < 4; k++) assert.ok(clusterMeans[k] > clusterMeans[k - 1]);
      const bg = members(sim.cluster, -1);
      assert.equal(bg.length, 400);
      const expected = 0.8 * mean(drives) + 0.2 * 0.1;
      assert.ok(Math.abs(mean(sim.oracleVe) - expected) < 0.02, `mean ${mean(sim.oracleVe)} vs ${expected}`);
    });

    it('the spread of oracle VE follows veConcentration', () => {
      const tight = simulateNeuralInMemory(latents, { nNeurons: 400, nClusters: 0, clusterFraction: 0, backgroundDrive: 0.3, veConcentration: 400 }, 2);
      const m = mean(tight.oracleVe);
      const sd = Math.sqrt(mean(Array.from(tight.oracleVe, (v) => (v - m) ** 2)));
      assert.ok(Math.abs(m - 0.3) < 0.01, `mean ${m}`);
      assert.ok(sd < 0.035 && sd > 0.01, `sd ${sd} (Beta sd ${Math.sqrt(0.21 / 401)})`);
    });

    it('strongly driven clusters are spread across the field (lower KL), weak ones compact', () => {
      const kl = [0, 1, 2, 3].map((k) => spatialSpreadKL(sim.positions, members(sim.cluster, k)));
      assert.ok(kl[0] > kl[1] && kl[1] > kl[2] && kl[2] > kl[3], `KL by drive: ${kl.map((v) => v.toFixed(3))}`);
      assert.ok(kl[0] > 1 && kl[3] < 0.4, `KL by drive: ${kl.map((v) => v.toFixed(3))}`);
      for (let i = 0; i < sim.nNeurons; i++) {
        assert.ok(sim.positions[2 * i] >= 0 && sim.positions[2 * i] <= 2000 && sim.positions[2 * i + 1] >= 0 && sim.positions[2 * i + 1] <= 2000);
      }
    });

    it('timestamps start after the delay, increase, stay inside the behaviour and run at neuralFps', () => {
      const ts = sim.timestamps;
      assert.equal(ts[0], 0.05);
      for (let t = 1; t < ts.length; t++) assert.ok(Math.abs(ts[t] - ts[t - 1] - 1 / 3) < 1e-9);
      assert.ok(ts[ts.length - 1] <= (latents.nFrames - 1) / latents.fps);
      assert.equal(ts.length, 360);
      const jit = simulateNeuralInMemory(latents, { nNeurons: 10, nClusters: 0, clusterFraction: 0, jitterS: 0.05 }, 1).timestamps;
      let maxDev = 0;
      for (let t = 1; t < jit.length; t++) {
        assert.ok(jit[t] > jit[t - 1]);
        maxDev = Math.max(maxDev, Math.abs(jit[t] - 0.05 - t / 3));
      }
      assert.ok(maxDev > 0 && maxDev <= 0.25 / 3 + 1e-12);
    });

    it('activity has unit variance per neuron', () => {
      for (const i of [0, 17, 1999]) {
        const row = sim.activity.subarray(i * sim.nTimepoints, (i + 1) * sim.nTimepoints);
        const m = mean(row);
        assert.ok(Math.abs(mean(Array.from(row, (v) => (v - m) ** 2)) - 1) < 1e-4);
      }
    });
  });

  describe('HDF5 output', () => {
    const cfg: Partial<NeuralConfig> = { ...NEURAL_PRESETS.tiny.config, nNeurons: 300, blockNeurons: 37 };

    async function readAll(file: string): Promise<Record<string, number[]>> {
      return withH5(file, (r) => Object.fromEntries(r.datasets().map((d) => [d, Array.from(r.read(d).data as ArrayLike<number>)])));
    }

    it('same seed gives identical datasets; another seed differs; streamed equals in memory', async () => {
      const dir = tmpDir();
      const [a, b, c] = ['a.h5', 'b.h5', 'c.h5'].map((f) => path.join(dir, f));
      const sa = await simulateNeural(latents, cfg, a, 5);
      await simulateNeural(latents, cfg, b, 5);
      await simulateNeural(latents, cfg, c, 6);
      const [da, db, dc] = [await readAll(a), await readAll(b), await readAll(c)];
      assert.deepEqual(da, db);
      assert.notDeepEqual(da['/neural/activity'], dc['/neural/activity']);
      assert.equal(sa.nTimepoints, 360);
      assert.equal(da['/neural/activity'].length, 300 * 360);

      const mem = simulateNeuralInMemory(latents, { ...cfg, blockNeurons: 300 }, 5);
      let worst = 0;
      da['/neural/activity'].forEach((v, i) => (worst = Math.max(worst, Math.abs(v - mem.activity[i]))));
      assert.ok(worst < 1e-5, `max |streamed - in memory| = ${worst}`);
      assert.deepEqual(da['/truth/cluster'], Array.from(mem.cluster));
      assert.deepEqual(da['/neural/positions'], Array.from(mem.positions));
      assert.deepEqual(da['/neural/timestamps'], Array.from(mem.timestamps));
      assert.equal(Math.abs(mean(da['/truth/oracle_ve']) - sa.oracleVeMean) < 1e-6, true);

      await withH5(a, (r) => {
        assert.deepEqual(r.info('/neural/activity').shape, [300, 360]);
        assert.equal(r.info('/neural/activity').dtype, 'float32');
        assert.equal(r.info('/neural/timestamps').dtype, 'float64');
        assert.equal(r.info('/truth/cluster').dtype, 'int32');
        const at = r.attrs('/');
        assert.equal(Number(at.seed), 5);
        assert.equal(Number(at.neural_fps), 3);
        assert.equal(JSON.parse(String(at.config)).nNeurons, 300);
      });
    });

    it('the saved truth recomputes the behaviour part and so the oracle', async () => {
      const file = path.join(tmpDir(), 'n.h5');
      await simulateNeural(latents, cfg, file, 9);
      await withH5(file, (r) => {
        const [T, K] = r.info('/truth/features').shape;
        const F = r.read('/truth/features').data as Float32Array;
        const W = r.read('/truth/behavior_weights').data as Float32Array;
        const [center, sd, off, scale, oracle] = ['behavior_center', 'behavior_sd', 'offset', 'scale', 'oracle_ve'].map(
          (n) => r.read(`/truth/${n}`).data as Float32Array,
        );
        const gain = Number(r.attrs('/').gain);
        const test = r.read('/truth/test_index').data as Int32Array;
        assert.deepEqual(Array.from(test), Array.from(facemapSplit(T).test));
        for (const i of [0, 100, 299]) {
          const x = r.readSlice('/neural/activity', [[i, i + 1]]).data as Float32Array;
          const resid = Array.from(test, (t) => {
            let d = 0;
            for (let k = 0; k < K; k++) d += W[i * K + k] * F[t * K + k];
            return x[t] - scale[i] * Math.log1p(Math.exp((gain * (d - center[i])) / sd[i] + off[i]));
          });
          const xt = Array.from(test, (t) => x[t]);
          const v = (a: number[]) => mean(a.map((y) => (y - mean(a)) ** 2));
          assert.ok(Math.abs(1 - v(resid) / v(xt) - oracle[i]) < 1e-4, `neuron ${i}`);
        }
      });
    });

    it('a throw from onProgress leaves no file behind', async () => {
      const dir = tmpDir();
      const file = path.join(dir, 'x.h5');
      const seen: number[] = [];
      await assert.rejects(
        simulateNeural(latents, cfg, file, 1, {
          onProgress: ({ done }) => {
            seen.push(done);
            if (done >= 74) throw new Error('stop');
          },
        }),
        /stop/,
      );
      assert.deepEqual(seen, [37, 74]);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  describe('config and inputs', () => {
    it('presets resolve and are valid', () => {
      assert.equal(resolveNeuralConfig('tiny').nNeurons, 500);
      assert.equal(resolveNeuralConfig('demo').nNeurons, 5000);
      const paper = NEURAL_PRESETS.paper;
      assert.equal(paper.config.nNeurons, 50000);
      assert.equal(Math.floor((paper.behaviorSeconds - 1 / paper.cameraFps - paper.config.delayS) * paper.config.neuralFps) + 1, 10800);
      assert.deepEqual(resolveNeuralConfig({}), resolveNeuralConfig('paper'));
    });

    it('drivingLatents restricts the drive; a keypoint-visible drive saves its oracle as the keypoint-visible oracle, others NaN', async () => {
      const beh = simulateBehavior({ nFrames: 3000 }, new Rng(1));
      const base: Partial<NeuralConfig> = { ...NEURAL_PRESETS.tiny.config, nNeurons: 40, neuralFps: 10, blockNeurons: 16 };
      const vis: Partial<NeuralConfig> = { ...base, drivingLatents: [...KEYPOINT_VISIBLE_LATENTS], filterTausS: [0.1, 0.5], lagsS: [0, 0.5] };
      const sim = simulateNeuralInMemory(beh, vis, 2);
      assert.equal(sim.featureNames.length, 5 * 2 * 2);
      assert.ok(sim.featureNames.every((n) => KEYPOINT_VISIBLE_LATENTS.includes(n.split('|')[0])));
      assert.equal(simulateNeuralInMemory(beh, base, 2).featureNames.length, 12 * 3 * 2);
      assert.equal(isKeypointVisibleDrive(resolveNeuralConfig(vis), beh.names), true);
      assert.equal(isKeypointVisibleDrive(resolveNeuralConfig(base), beh.names), false);
      assert.equal(isKeypointVisibleDrive(resolveNeuralConfig({ ...vis, filterTausS: [1] }), beh.names), false); // 3 s of filter: beyond +-2 s
      assert.equal(isKeypointVisibleDrive(resolveNeuralConfig({ ...vis, drivingLatents: ['pupil', 'arousal'] }), beh.names), false);
      const dir = tmpDir();
      const sv = await simulateNeural(beh, vis, path.join(dir, 'v.h5'), 2);
      const sd = await simulateNeural(beh, base, path.join(dir, 'd.h5'), 2);
      assert.equal(sv.oracleVeVisibleMean, sv.oracleVeMean);
      assert.ok(Number.isNaN(sd.oracleVeVisibleMean));
      await withH5(path.join(dir, 'v.h5'), (r) => {
        assert.deepEqual(Array.from(r.read('/truth/oracle_ve_visible').data as Float32Array), Array.from(r.read('/truth/oracle_ve').data as Float32Array));
        assert.equal(Number(r.attrs('/').keypoint_visible_drive), 1);
      });
      await withH5(path.join(dir, 'd.h5'), (r) => {
        assert.ok(Array.from(r.read('/truth/oracle_ve_visible').data as Float32Array).every((v) => Number.isNaN(v)));
        assert.equal(Number(r.attrs('/').keypoint_visible_drive), 0);
      });
      assert.throws(() => simulateNeuralInMemory(beh, { ...vis, drivingLatents: ['tail'] }, 2), (e) => e instanceof ParamError && e.field === 'drivingLatents');
      assert.throws(() => resolveNeuralConfig({ drivingLatents: ['pupil', 'pupil'] }), (e) => e instanceof ParamError && e.field === 'drivingLatents');
    });

    it('throws ParamError naming the field for bad config, seeds and inputs', () => {
      const bad: [Partial<NeuralConfig>, string][] = [
        [{ nNeurons: -5 }, 'nNeurons'],
        [{ nNeurons: 2.5 }, 'nNeurons'],
        [{ neuralFps: 0 }, 'neuralFps'],
        [{ delayS: -1 }, 'delayS'],
        [{ fieldUm: [2000, -1] }, 'fieldUm'],
        [{ driveRange: [0.6, 0.1] }, 'driveRange'],
        [{ driveRange: [0, 0.5] }, 'driveRange'],
        [{ clusterFraction: 1.5 }, 'clusterFraction'],
        [{ nClusters: 0 }, 'clusterFraction'],
        [{ filterTausS: [] }, 'filterTausS'],
        [{ lagsS: [-1] }, 'lagsS'],
        [{ internalFraction: 2 }, 'internalFraction'],
        [{ blockNeurons: 0 }, 'blockNeurons'],
        [{ veConcentration: 0 }, 'veConcentration'],
      ];
      for (const [cfg, field] of bad) {
        assert.throws(() => resolveNeuralConfig(cfg), (e) => e instanceof ParamError && e.field === field, JSON.stringify(cfg));
      }
      assert.throws(() => resolveNeuralConfig('huge' as 'tiny'), (e) => e instanceof ParamError && e.field === 'preset');
      assert.throws(() => simulateNeuralInMemory(latents, 'tiny', 1.5), (e) => e instanceof ParamError && e.field === 'seed');
      const short = makeTestLatents(500, 50, 1);
      assert.throws(() => simulateNeuralInMemory(short, 'tiny', 1), (e) => e instanceof ParamError && e.field === 'latents.nFrames');
      assert.throws(() => simulateNeuralInMemory({ ...latents, data: new Float32Array(3) }, 'tiny', 1), ShapeError);
    });

    it('rejects a bad config before creating any file', async () => {
      const dir = tmpDir();
      await assert.rejects(simulateNeural(latents, { nNeurons: -1 }, path.join(dir, 'x.h5'), 1), ParamError);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  describe('helpers', () => {
    it('spatialSpreadKL: 0 for the whole population, log(N / n) for a group in one bin', () => {
      const pos = new Float32Array(2 * 100);
      for (let i = 0; i < 100; i++) {
        pos[2 * i] = (i % 10) * 200 + 50;
        pos[2 * i + 1] = Math.floor(i / 10) * 200 + 50;
      }
      // float32, as the analysis's clusterSpread that computes it
      assert.ok(Math.abs(spatialSpreadKL(pos, Array.from({ length: 100 }, (_, i) => i))) < 1e-6);
      assert.ok(Math.abs(spatialSpreadKL(pos, [0]) - Math.log(100)) < 1e-6);
      assert.ok(Math.abs(spatialSpreadKL(pos, [0, 1, 10, 11], 400) - Math.log(25)) < 1e-6);
      assert.throws(() => spatialSpreadKL(pos, []), ParamError);
      assert.throws(() => spatialSpreadKL(pos, [100]), ParamError);
      assert.throws(() => spatialSpreadKL(pos, [0], 0), ParamError);
    });

    it('ziggurat normals have the moments and tails of N(0, 1)', () => {
      const n = 400000;
      const x = new Float64Array(n);
      fillNormalZiggurat(new Rng(4), x);
      const m = mean(x);
      const v = mean(Array.from(x, (y) => (y - m) ** 2));
      const k4 = mean(Array.from(x, (y) => (y - m) ** 4)) / (v * v);
      const tail = Array.from(x).filter((y) => Math.abs(y) > 3).length / n;
      assert.ok(Math.abs(m) < 0.01 && Math.abs(v - 1) < 0.01 && Math.abs(k4 - 3) < 0.05, `mean ${m} var ${v} kurtosis ${k4}`);
      assert.ok(Math.abs(tail - 0.0027) < 0.0006, `P(|x| > 3) = ${tail}`);
    });
  });
});
