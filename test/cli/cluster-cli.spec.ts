/**
 * `facemap-ts cluster` (run in-process) on the `tiny` simulated session (500 neurons, 8 planted
 * clusters, 40 s at 10 Hz): with keypoints and the planted features as models, then with an
 * encoding folder holding the same PCs and the planted-feature ridge's predictions, which must give
 * the same clusters and the same per-cluster VE (to 1e-6).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clusterCommand } from '../../src/cli/cluster';
import { matrix } from '../../src/engine/linalg';
import { FormatError, ParamError } from '../../src/errors';
import { withH5 } from '../../src/io/hdf5';
import { facemapSplit, neuralPCA, readRecording, runLinearBaseline, writeEncodingFolder } from '../../src/neural';
import { readLatentsH5, writePoseH5 } from '../../src/synth/pose-h5';
import { simulateSession } from '../../src/synth/session';

async function quiet(fn: () => Promise<void>): Promise<string> {
  const out: string[] = [];
  const [o, e] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
  return out.join('');
}

function readCsv(file: string): Record<string, string>[] {
  const [head, ...lines] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, j) => [cols[j], v])));
}

describe('cli: facemap-ts cluster', function () {
  this.timeout(300000);
  let dir: string;
  let neural: string;
  let keypoints: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-cluster-cli-'));
    await simulateSession({ preset: 'tiny', outDir: path.join(dir, 's'), seed: 2, video: false });
    neural = path.join(dir, 's', 'neural.h5');
    // "keypoints" that are behaviour latents, for a keypoint baseline without rendering video
    const lat = await readLatentsH5(path.join(dir, 's', 'truth', 'latents.h5'));
    const L = lat.names.length;
    const names = ['k0', 'k1', 'k2', 'paw'];
    const x = new Float32Array(lat.nFrames * names.length);
    const y = new Float32Array(lat.nFrames * names.length);
    for (let f = 0; f < lat.nFrames; f++) {
      names.forEach((_, k) => {
        x[f * names.length + k] = 100 + 10 * lat.data[f * L + ((2 * k) % L)];
        y[f * names.length + k] = 100 + 10 * lat.data[f * L + ((2 * k + 1) % L)];
      });
    }
    keypoints = path.join(dir, 'kp.h5');
    await writePoseH5(keypoints, { names, nFrames: lat.nFrames, x, y, likelihood: new Float32Array(x.length).fill(1) });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes the cluster table, HDF5, summary and figures; an encoding folder with the same PCs gives the same numbers', async () => {
    const out1 = path.join(dir, 'out1');
    const text = await quiet(() =>
      clusterCommand.run(['--neural', neural, '--keypoints', keypoints, '--camera-fps', '50', '--truth', '--clusters', '8', '--boot', '500', '--out', out1]),
    );
    assert.match(text, /adjusted Rand index/);
    assert.match(text, /ridge keypoints/);
    const rows = readCsv(path.join(out1, 'clusters.csv'));
    assert.equal(rows.length, 8);
    assert.deepEqual(Object.keys(rows[0]), ['cluster', 'size', 'coherence', 'coherent', 'group', 've_ridge_keypoints', 've_ridge_true_features', 'spread_kl', 'spread_chance_kl', 'x_um', 'y_um']);
    assert.equal(rows.reduce((s, r) => s + Number(r.size), 0), 500);
    const summary = JSON.parse(fs.readFileSync(path.join(out1, 'summary.json'), 'utf8'));
    assert.deepEqual(summary.models.map((m: { name: string }) => m.name), ['ridge keypoints', 'ridge true features']);
    assert.ok(summary.adjustedRandIndexPlantedMembers > 0.5, `ARI ${summary.adjustedRandIndexPlantedMembers}`);
    assert.ok(summary.models[1].spreadVsVe.lo <= summary.models[1].spreadVsVe.r);
    // coherent clusters: the flags in the table, their count and threshold in the summary and the text
    assert.equal(summary.nCoherent, rows.filter((r) => r.coherent === '1').length);
    rows.forEach((r) => assert.equal(r.coherent, Number(r.coherence) > summary.coherenceThreshold ? '1' : '0'));
    assert.equal(summary.models[1].spreadVsVeCoherent.n, summary.nCoherent);
    assert.match(text, new RegExp(`${summary.nCoherent} coherent clusters`));
    // groups: only coherent clusters share a group; the count in the summary and the text
    const byGroup = new Map<string, typeof rows>();
    rows.forEach((r) => byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r]));
    assert.equal(summary.nGroups, byGroup.size);
    for (const g of byGroup.values()) if (g.length > 1) assert.ok(g.every((r) => r.coherent === '1'));
    assert.ok(summary.adjustedRandIndexGroupsPlantedMembers > 0.5);
    assert.match(text, new RegExp(`${summary.nGroups} groups after merging`));
    const html = fs.readFileSync(path.join(out1, 'figures.html'), 'utf8');
    // cluster map, VE map, two spread-vs-VE scatters, the raster
    assert.equal(html.match(/class="fm-figure"/g)?.length, 5);
    await withH5(path.join(out1, 'clusters.h5'), (r) => {
      assert.equal((r.read('/neurons/cluster').data as Int32Array).length, 500);
      assert.ok(r.has('/raster/predicted/ridge_keypoints'));
      assert.ok(r.has('/correlation/ridge_true_features'));
      assert.ok(r.has('/correlation_coherent/ridge_true_features'));
      assert.equal((r.read('/neurons/group').data as Int32Array).length, 500);
    });

    // the same PCs and the planted-feature ridge's predictions, as an encoder would write them
    const rec = await readRecording(neural);
    const enc = path.join(dir, 'enc');
    try {
      const pca = await neuralPCA(rec.activity, { nPC: 128, seed: 0 });
      const f = await withH5(neural, (r) => r.read('/truth/features'));
      const split = facemapSplit(rec.nTime);
      const ridge = runLinearBaseline(matrix(f.shape[0], f.shape[1], Float32Array.from(f.data as Float32Array)), pca, split, { model: 'ridge', input: 'true features' });
      await writeEncodingFolder(enc, { split, pca: { U: pca.U, S: pca.S, stats: pca.stats }, predictions: [{ name: 'encoder', data: ridge.Yhat }] });
    } finally {
      rec.activity.close();
    }
    const out2 = path.join(dir, 'out2');
    await quiet(() => clusterCommand.run(['--neural', neural, '--encoding', enc, '--clusters', '8', '--boot', '500', '--out', out2]));
    const s2 = JSON.parse(fs.readFileSync(path.join(out2, 'summary.json'), 'utf8'));
    assert.match(s2.clusteredOn, /encoding PCs/);
    assert.ok(s2.splitFromFile);
    const rows2 = readCsv(path.join(out2, 'clusters.csv'));
    assert.deepEqual(rows2.map((r) => r.size), rows.map((r) => r.size));
    rows2.forEach((r, c) => assert.ok(Math.abs(Number(r.ve_encoder) - Number(rows[c].ve_ridge_true_features)) < 1e-6, `cluster ${c}`));
  });

  it('fails clearly on bad usage', async () => {
    await assert.rejects(clusterCommand.run([]), ParamError);
    await assert.rejects(clusterCommand.run(['--neural', neural, '--keypoints', keypoints]), /--camera-fps/);
    await assert.rejects(clusterCommand.run(['--neural', neural, '--clusters', '0']), ParamError);
    await assert.rejects(quiet(() => clusterCommand.run(['--neural', neural, '--encoding', path.join(dir, 'missing'), '--out', path.join(dir, 'x')])), FormatError);
  });
});
