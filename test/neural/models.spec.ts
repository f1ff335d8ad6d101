/**
 * Streaming PCA, ridge/RRR, variance explained and peer prediction.
 * Tolerances (stated here):
 * - streaming PCA vs an exact (Jacobi) SVD of the same normalised matrix: singular values to 1e-3
 *   relative, top-5 loadings |cos| > 0.999 (well-separated spectrum, 4 power iterations);
 * - planted linear map (noise SD 0.01): ridge coefficients within 0.01, RRR picks the planted rank;
 * - simulated session (500 neurons, 120 s at 10 Hz): ridge (lambda by validation) and RRR at that
 *   lambda from the TRUE features get a mean VE over strongly driven neurons (oracle > 0.4) within
 *   0.15 of, and below, the oracle's (the features enter the neurons through a softplus, which a
 *   linear model cannot follow); RRR at Facemap's lambda 1e-6 overfits the 72 collinear features
 *   and is only required to stay below the oracle;
 *   explainable variance <= 1 and higher in the most than in the least driven cluster.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jacobiSvd } from '../../src/engine/dense';
import { matmul, matrix } from '../../src/engine/linalg';
import { NotFittedError, ParamError, ShapeError } from '../../src/errors';
import { withH5 } from '../../src/io/hdf5';
import {
  ActivitySource,
  behaviorFeatures,
  explainableVariance,
  facemapSplit,
  finiteMean,
  memorySource,
  modelRow,
  neuralPCA,
  neuronRows,
  normStats,
  predictNeurons,
  readLatentMatrix,
  readNormalizedRows,
  readRecording,
  ReducedRankRegression,
  RidgeRegression,
  runLinearBaseline,
  varianceExplained,
  writeResultTables,
} from '../../src/neural';
import { simulateSession } from '../../src/synth/session';
import { Rng } from '../../src/util/random';

function randn(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

describe('neural: streaming PCA of normalised activity', () => {
  const N = 80;
  const T = 150;
  const rng = new Rng(3);
  const scales = [10, 7, 5, 3.5, 2.5, 1.8, 1.3, 1, 0.8, 0.6];
  const act = new Float32Array(N * T);
  const u = scales.map(() => randn(N, rng));
  const v = scales.map(() => randn(T, rng));
  for (let i = 0; i < N; i++) {
    for (let t = 0; t < T; t++) {
      let s = 5 + 0.05 * rng.normal();
      scales.forEach((c, k) => (s += c * u[k][i] * v[k][t] * 0.1));
      act[i * T + t] = s * (1 + i / N);
    }
  }

  it('equals the exact SVD of the in-memory normalised matrix, reading at most blockNeurons rows at a time', async () => {
    const base = memorySource(act, N, T);
    let maxRows = 0;
    let reads = 0;
    const counting: ActivitySource = {
      ...base,
      readRows(i0, i1) {
        maxRows = Math.max(maxRows, i1 - i0);
        reads++;
        return base.readRows(i0, i1);
      },
    };
    const k = 10;
    const pca = await neuralPCA(counting, { nPC: k, blockNeurons: 7 });
    assert.ok(maxRows <= 7, `read ${maxRows} rows at once`);
    assert.ok(reads > 0);
    const stats = normStats(base);
    const A = readNormalizedRows(base, stats, 0, N);
    // exact SVD of A^T (T x N, column-major = A row-major)
    const exact = jacobiSvd({ data: Float64Array.from(A), rows: T, cols: N }, new Rng(0));
    for (let j = 0; j < k; j++) assert.ok(Math.abs(pca.S[j] - exact.S[j]) <= 1e-3 * exact.S[j], `S[${j}] ${pca.S[j]} vs ${exact.S[j]}`);
    for (let j = 0; j < 5; j++) {
      let c = 0;
      for (let i = 0; i < N; i++) c += pca.U.data[i * k + j] * exact.W.data[j * N + i];
      assert.ok(Math.abs(c) > 0.999, `PC ${j}: |cos| = ${Math.abs(c)}`);
    }
    assert.deepEqual([pca.Y.rows, pca.Y.cols, pca.U.rows, pca.U.cols], [T, k, N, k]);
    // Y = A^T U
    const Y2 = matmul(matrix(N, T, A), pca.U, { transposeA: true });
    for (let i = 0; i < Y2.data.length; i++) assert.ok(Math.abs(Y2.data[i] - pca.Y.data[i]) < 1e-3 * pca.S[0]);
    // neurons from all PCs of a rank-10 matrix are close to the activity
    const rec = predictNeurons(pca.Y, pca.U);
    assert.deepEqual([rec.rows, rec.cols], [N, T]);
    assert.ok(pca.varianceFraction.reduce((a, b) => a + b, 0) <= 1 + 1e-5);
  });
});

describe('neural: ridge and reduced-rank regression', () => {
  const rng = new Rng(11);
  const n = 600;
  const p = 8;
  const q = 6;
  const X = matrix(n, p, randn(n * p, rng));
  const L = matrix(p, 2, randn(p * 2, rng));
  const R = matrix(2, q, randn(2 * q, rng));
  const W = matmul(L, R);
  const Y = matmul(X, W);
  for (let i = 0; i < Y.data.length; i++) Y.data[i] += 3 + 0.01 * rng.normal();

  it('ridge recovers a planted linear map (and intercept)', () => {
    const m = new RidgeRegression({ lambda: 1e-6 }).fit(X, Y);
    for (let i = 0; i < W.data.length; i++) assert.ok(Math.abs(m.coef.data[i] - W.data[i]) < 0.01);
    const ve = varianceExplained(Y, m.predict(X));
    assert.ok(ve.pooled > 0.9999);
  });

  it('ridge validation: the default grid extends past 1e4 while the largest penalty wins; given candidates stay', () => {
    // 200 inputs of pure noise for 300 samples: any fit is overfitting, validation wants ~no coefficients
    const r = new Rng(5);
    const Xn = matrix(300, 200, randn(300 * 200, r));
    const Yn = matrix(300, 3, randn(300 * 3, r));
    const m = new RidgeRegression().fit(Xn, Yn);
    assert.ok(m.lambda > 1e4, `lambda ${m.lambda}`);
    assert.equal(m.lambdaCandidates.length, m.validationMse.length);
    assert.ok(m.lambdaCandidates.length > 11 && Math.max(...m.lambdaCandidates) <= 1e12);
    // stopped where the error stopped falling (or at the cap)
    const last = m.validationMse.length - 1;
    assert.ok(m.lambdaCandidates[last] === 1e12 || m.validationMse[last] >= m.validationMse[last - 1]);
    const given = new RidgeRegression({ lambda: [1, 10, 100] }).fit(Xn, Yn);
    assert.deepEqual(given.lambdaCandidates, [1, 10, 100]);
    assert.equal(given.lambda, 100);
    // a planted map keeps an interior penalty
    assert.ok(new RidgeRegression().fit(X, Y).lambda < 1e4);
  });

  it('RRR picks the planted rank by validation and predicts as well as ridge', () => {
    const m = new ReducedRankRegression().fit(X, Y);
    assert.equal(m.rank, 2);
    assert.equal(m.validationMse.length, Math.min(p, q));
    const a = varianceExplained(Y, m.predict(X)).pooled;
    assert.ok(a > 0.9999, `VE ${a}`);
    const m1 = new ReducedRankRegression({ rank: 1 }).fit(X, Y);
    assert.ok(varianceExplained(Y, m1.predict(X)).pooled < a);
  });

  it('throws NotFittedError, ParamError and ShapeError', () => {
    assert.throws(() => new RidgeRegression().predict(X), NotFittedError);
    assert.throws(() => new ReducedRankRegression().predict(X), NotFittedError);
    assert.throws(() => new ReducedRankRegression({ rank: 0 }), ParamError);
    assert.throws(() => new RidgeRegression({ lambda: -1 }), ParamError);
    assert.throws(() => new RidgeRegression().fit(X, matrix(5, q)), ShapeError);
    const m = new RidgeRegression({ lambda: 1 }).fit(X, Y);
    assert.throws(() => m.predict(matrix(3, p + 1)), ShapeError);
  });
});

describe('neural: baselines and explainable variance on a simulated session', function () {
  this.timeout(300000);
  let dir: string;
  let file: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-neural-models-'));
    await simulateSession({ preset: 'tiny', outDir: path.join(dir, 's'), video: false, overrides: { seconds: 120 } });
    file = path.join(dir, 's', 'neural.h5');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('linear models of the true features approach but stay below the oracle; peer prediction is a ceiling <= 1', async () => {
    const rec = await readRecording(file);
    try {
      const truth = await withH5(file, (r) => ({
        features: r.read('/truth/features'),
        oracle: Float32Array.from(r.read('/truth/oracle_ve').data as Float32Array),
        cluster: Int32Array.from(r.read('/truth/cluster').data as Int32Array),
        drive: Float32Array.from(r.read('/truth/cluster_drive').data as Float32Array),
        test: Int32Array.from(r.read('/truth/test_index').data as Int32Array),
      }));
      const split = facemapSplit(rec.nTime);
      assert.deepEqual(Array.from(split.test), Array.from(truth.test));
      const pca = await neuralPCA(rec.activity, { nPC: 128 });
      const F = matrix(truth.features.shape[0], truth.features.shape[1], Float32Array.from(truth.features.data as Float32Array));
      const strong = [...truth.oracle.keys()].filter((i) => truth.oracle[i] > 0.4);
      const pick = (a: Float32Array, idx: number[]) => finiteMean(idx.map((i) => a[i]));
      const oracleStrong = pick(truth.oracle, strong);
      const results = [];
      let ridgeLambda = 0;
      const runs: [string, 'ridge' | 'rrr', number | undefined, number][] = [
        ['ridge', 'ridge', undefined, 0.15],
        ['rrr at the ridge lambda', 'rrr', NaN, 0.15],
        ['rrr at lambda 1e-6', 'rrr', 1e-6, Infinity],
      ];
      for (const [label, model, lambda, tol] of runs) {
        const rrr = lambda === undefined ? undefined : { lambda: Number.isNaN(lambda) ? ridgeLambda : lambda };
        const r = runLinearBaseline(F, pca, split, { model, input: `true features (${label})`, rrr, activity: rec.activity });
        if (model === 'ridge') ridgeLambda = r.lambda;
        const veStrong = pick(r.neuronVe as Float32Array, strong);
        console.log(
          `      ${label} (true features, ${r.rank ? `rank ${r.rank}, ` : ''}lambda ${r.lambda}): PC VE ${r.pcVe.pooled.toFixed(3)}, ` +
            `neuron VE mean ${finiteMean(r.neuronVe as Float32Array).toFixed(3)} (oracle ${finiteMean(truth.oracle).toFixed(3)}); ` +
            `${strong.length} strong neurons ${veStrong.toFixed(3)} (oracle ${oracleStrong.toFixed(3)})`,
        );
        assert.ok(veStrong < oracleStrong, `${label}: ${veStrong} >= oracle ${oracleStrong}`);
        assert.ok(veStrong > oracleStrong - tol, `${label}: ${veStrong} far below oracle ${oracleStrong}`);
        results.push(r);
      }
      const beh = await readLatentMatrix(path.join(dir, 's', 'truth', 'latents.h5'));
      const K = behaviorFeatures(beh, rec.timestamps as Float64Array);
      const lat = runLinearBaseline(K, pca, split, { model: 'rrr', input: 'latents (smoothed, interpolated)', activity: rec.activity });
      console.log(`      rrr (raw latents at neural times, rank ${lat.rank}): neuron VE mean ${finiteMean(lat.neuronVe as Float32Array).toFixed(3)}, strong ${pick(lat.neuronVe as Float32Array, strong).toFixed(3)}`);
      results.push(lat);

      const peer = await explainableVariance(rec.activity, rec.positions as Float32Array, split);
      const ev = peer.explainable;
      for (const v of ev) assert.ok(!(v > 1), `explainable ${v} > 1`);
      const C = truth.drive.length;
      const order = [...truth.drive.keys()].sort((a, b) => truth.drive[a] - truth.drive[b]);
      const inCluster = (c: number) => [...truth.cluster.keys()].filter((i) => truth.cluster[i] === c);
      const evLow = pick(ev, inCluster(order[0]));
      const evHigh = pick(ev, inCluster(order[C - 1]));
      console.log(
        `      explainable VE: mean ${finiteMean(ev).toFixed(3)}, PC VE [${peer.pcVe.map((v) => v.toFixed(3)).join(', ')}]; ` +
          `least driven cluster (drive ${truth.drive[order[0]].toFixed(2)}) ${evLow.toFixed(3)}, most (drive ${truth.drive[order[C - 1]].toFixed(2)}) ${evHigh.toFixed(3)}`,
      );
      assert.ok(evHigh > evLow);
      const rows = results.map((r) => modelRow(r, ev));
      for (const r of rows) console.log(`      ${r.model} ${r.input}: normalised VE ${r.normalizedVe?.toFixed(1)}%`);
      const files = writeResultTables(path.join(dir, 'out'), { models: rows, neurons: neuronRows(results[0], ev, rec.positions), split });
      const csv = fs.readFileSync(files[0], 'utf8').trim().split('\n');
      assert.equal(csv.length, 1 + results.length);
      assert.match(csv[0], /^model,input,rank,lambda,nTrain,nTest,pcVe,meanNeuronVe,meanExplainable,normalizedVe$/);
      assert.equal(fs.readFileSync(files[1], 'utf8').trim().split('\n').length, 1 + rec.nNeurons);
      assert.deepEqual(JSON.parse(fs.readFileSync(files[2], 'utf8')).test, Array.from(split.test));
    } finally {
      rec.activity.close();
    }
  });
});
