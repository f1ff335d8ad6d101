import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { trackingError } from '../../src/cli/demo';
import { ParamError } from '../../src/errors';
import { readPngGrey } from '../../src/io/png';
import { readLabels, writeTraces } from '../../src/pose/labels/registry';
import { simulateLabelledFrames } from '../../src/synth/labelled';

describe('synth/labelled: labelled frames of the synthetic face', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facemap-labelled-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes a DeepLabCut project whose labels read back; same seed -> same files; other seeds differ', async () => {
    const a = await simulateLabelledFrames({ n: 6, outDir: path.join(dir, 'a'), seed: 3, width: 96, height: 80, renderers: 2 });
    const b = await simulateLabelledFrames({ n: 6, outDir: path.join(dir, 'b'), seed: 3, width: 96, height: 80, renderers: 2 });
    const c = await simulateLabelledFrames({ n: 6, outDir: path.join(dir, 'c'), seed: 4, width: 96, height: 80, renderers: 2 });
    assert.equal(a.keypoints.length, 15);
    const la = await readLabels(a.labelFile);
    assert.deepEqual(la.keypoints, a.keypoints);
    assert.equal(la.frames.length, 6);
    for (const f of la.frames) {
      const img = readPngGrey(path.join(path.dirname(a.labelFile), f.image));
      assert.equal(img.width, 96);
      assert.equal(img.height, 80);
      // Every keypoint but the paw is visible and inside the frame.
      la.keypoints.forEach((k, i) => {
        if (k === 'paw') return;
        assert.ok(f.x[i] >= 0 && f.x[i] <= 95 && f.y[i] >= 0 && f.y[i] <= 79, `${k} at (${f.x[i]}, ${f.y[i]})`);
      });
    }
    const bytes = (r: typeof a): Buffer[] => [r.labelFile, ...fs.readdirSync(path.join(path.dirname(r.labelFile), 'labeled-data', 'synth')).sort().map((f) => path.join(path.dirname(r.labelFile), 'labeled-data', 'synth', f))].map((f) => fs.readFileSync(f));
    assert.deepEqual(bytes(a), bytes(b));
    assert.notDeepEqual(bytes(a)[0], bytes(c)[0]);
    assert.ok(!fs.readdirSync(dir).some((f) => f.includes('.partial')));
  });

  it('refuses an existing folder without force, and bad counts', async () => {
    await assert.rejects(simulateLabelledFrames({ n: 2, outDir: path.join(dir, 'a') }), (e: unknown) => e instanceof ParamError && e.field === 'outDir');
    await assert.rejects(simulateLabelledFrames({ n: 0, outDir: path.join(dir, 'z') }), (e: unknown) => e instanceof ParamError && e.field === 'n');
  });

  it("demo's tracking error: Euclidean px where both traces are finite, per keypoint", async () => {
    const names = ['a', 'b'];
    const truth = { names, nFrames: 2, x: Float32Array.from([0, 0, 10, NaN]), y: Float32Array.from([0, 0, 10, NaN]), likelihood: new Float32Array(4).fill(1) };
    const tracked = { names, nFrames: 2, x: Float32Array.from([3, 0, 10, 5]), y: Float32Array.from([4, 1, 10, 5]), likelihood: new Float32Array(4).fill(1) };
    await writeTraces(path.join(dir, 'truth_FacemapPose.h5'), truth);
    await writeTraces(path.join(dir, 'tracked_FacemapPose.h5'), tracked);
    const e = await trackingError(path.join(dir, 'tracked_FacemapPose.h5'), path.join(dir, 'truth_FacemapPose.h5'));
    assert.equal(e.n, 3);
    assert.ok(Math.abs(e.meanPx - 2) < 1e-6);
    assert.ok(Math.abs(e.medianPx - 1) < 1e-6);
    assert.deepEqual(Object.keys(e.perKeypointMeanPx), ['a', 'b']);
    assert.ok(Math.abs(e.perKeypointMeanPx.a - 2.5) < 1e-6);
    assert.ok(Math.abs(e.perKeypointMeanPx.b - 1) < 1e-6);
  });
});
