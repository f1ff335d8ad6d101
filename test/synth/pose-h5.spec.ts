import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FormatError } from '../../src/errors';
import { writeH5 } from '../../src/io/hdf5';
import { simulateBehavior } from '../../src/synth/behavior';
import { readLatentsH5, readPoseH5, writeLatentsH5, writePoseH5 } from '../../src/synth/pose-h5';
import { FACEMAP_KEYPOINTS, type KeypointTraces } from '../../src/synth/types';
import { Rng } from '../../src/util/random';

const tmpDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'fm-synth-h5-'));

function traces(nFrames: number): KeypointTraces {
  const nK = FACEMAP_KEYPOINTS.length;
  const r = new Rng(2);
  const t: KeypointTraces = {
    names: [...FACEMAP_KEYPOINTS],
    nFrames,
    x: Float32Array.from({ length: nFrames * nK }, () => 256 * r.uniform()),
    y: Float32Array.from({ length: nFrames * nK }, () => 256 * r.uniform()),
    likelihood: new Float32Array(nFrames * nK).fill(1),
  };
  const paw = FACEMAP_KEYPOINTS.indexOf('paw');
  t.x[3 * nK + paw] = NaN;
  t.y[3 * nK + paw] = NaN;
  t.likelihood[3 * nK + paw] = 0;
  return t;
}

describe('synth/pose-h5: Facemap pose files and latents files', () => {
  it('pose traces round-trip through /Facemap/<keypoint>/{x,y,likelihood} (NaN kept)', async () => {
    const file = path.join(tmpDir(), 'v_FacemapPose.h5');
    const t = traces(20);
    await writePoseH5(file, t);
    const back = await readPoseH5(file);
    assert.deepEqual(back.names, [...FACEMAP_KEYPOINTS]);
    assert.equal(back.nFrames, 20);
    assert.deepEqual(back.x, t.x);
    assert.deepEqual(back.y, t.y);
    assert.deepEqual(back.likelihood, t.likelihood);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['v_FacemapPose.h5']);
  });

  it('missing Facemap group or keypoint dataset is a FormatError naming the file', async () => {
    const dir = tmpDir();
    const noGroup = path.join(dir, 'a.h5');
    await writeH5(noGroup, (w) => w.writeDataset('/other', new Float32Array(3), [3]));
    await assert.rejects(readPoseH5(noGroup), (e: unknown) => e instanceof FormatError && e.file === noGroup && /Facemap/.test(e.message));
    const noLik = path.join(dir, 'b.h5');
    await writeH5(noLik, (w) => {
      w.writeDataset('/Facemap/eye(top)/x', new Float32Array(3), [3]);
      w.writeDataset('/Facemap/eye(top)/y', new Float32Array(3), [3]);
    });
    await assert.rejects(readPoseH5(noLik), (e: unknown) => e instanceof FormatError && /likelihood/.test(e.message));
  });

  it('latents round-trip with names, units and fps', async () => {
    const file = path.join(tmpDir(), 's_latents.h5');
    const l = simulateBehavior({ nFrames: 100, fps: 40 }, new Rng(4));
    await writeLatentsH5(file, l);
    const back = await readLatentsH5(file);
    assert.deepEqual(back, l);
    await assert.rejects(readLatentsH5(path.join(path.dirname(file), 'missing.h5')), FormatError);
  });
});
