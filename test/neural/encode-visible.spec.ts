/**
 * The oracle within reach: on the `visible` simulated session the neurons are driven only by what
 * the face keypoints show (neural.ts: KEYPOINT_VISIBLE_LATENTS through filters inside the
 * encoder's +-2 s), so the keypoint-visible oracle is the oracle, and the keypoint encoder (default,
 * validated schedule) must reach >= 90% of it. Numbers from seed 0 (deterministic) are printed.
 *
 * Also asserted: the planted ranking (oracle > encoder > linear models on the same keypoints,
 * which cannot rectify the licking and sniffing rhythms), and the keypoint-visible oracle saved
 * equal to the oracle.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withH5 } from '../../src/io/hdf5';
import { ENCODE_STEPS, finiteMean, runEncode } from '../../src/neural';
import { simulateSession } from '../../src/synth/session';
import { useWasm } from '../pose/setup';

describe('neural: encoding the `visible` simulated session (drive the keypoints show)', function () {
  this.timeout(1200000);
  let dir: string;
  before(async () => {
    await useWasm();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-visible-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the encoder reaches >= 90% of the keypoint-visible oracle and beats the linear keypoint models', async () => {
    const sess = path.join(dir, 'visible');
    const m = await simulateSession({ preset: 'visible', outDir: sess });
    assert.equal(m.oracleVeVisibleMean, m.oracleVeMean);
    const neural = path.join(sess, 'neural.h5');
    const ctx = await runEncode({ neural, keypoints: path.join(sess, 'truth', 'face_keypoints.h5'), peer: false }, ENCODE_STEPS.filter((s) => ['read', 'pca', 'encoder', 'baselines'].includes(s.name)));
    const truth = await withH5(neural, (r) => ({
      full: Float32Array.from(r.read('/truth/oracle_ve').data as Float32Array),
      visible: Float32Array.from(r.read('/truth/oracle_ve_visible').data as Float32Array),
    }));
    assert.deepEqual(truth.visible, truth.full);
    const oracle = finiteMean(truth.visible);
    const ve = ctx.results.map((r) => finiteMean(r.neuronVe as Float32Array));
    const tr = ctx.encoder!.training!;
    console.log(
      `      mean neuron VE: keypoint-visible oracle ${oracle.toFixed(4)}; ` +
        ctx.results.map((r, i) => `${r.model} ${ve[i].toFixed(4)} (${((100 * ve[i]) / oracle).toFixed(1)}%)`).join(', ') +
        `; encoder ${tr.epochs} epochs (best of ${tr.validation?.selectionEpochs} on validation)`,
    );
    assert.deepEqual(ctx.results.map((r) => r.model), ['keypoint network', 'ridge', 'rrr']);
    assert.ok(ve[0] >= 0.9 * oracle, `encoder ${ve[0]} < 90% of the keypoint-visible oracle ${oracle}`);
    assert.ok(ve[0] < oracle);
    assert.ok(ve[0] > ve[1] && ve[0] > ve[2]);
    ctx.encoder?.dispose();
  });
});
