import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { arraySource, MotionSVD, procPath, writeProc } from '../../src/motion';
import { pythonOrSkip, runPython } from '../helpers/python';
import { plantedMotion } from './helpers';

describe('motion/_proc.h5', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'motion-proc-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('names the output <video>_proc.h5', () => {
    assert.equal(procPath('/a/b/cam1.mp4'), '/a/b/cam1_proc.h5');
    assert.equal(procPath('/a/b/cam1.mp4', '/out'), '/out/cam1_proc.h5');
  });

  it('writes Facemap keys that h5py reads with the documented shapes', async function () {
    pythonOrSkip(this, 'h5py', 'numpy');
    const p = plantedMotion(120);
    const rois = [
      { type: 'motion' as const, box: { x0: 18, x1: 30, y0: 12, y1: 28 } },
      { type: 'blink' as const, box: { x0: 0, x1: 10, y0: 0, y1: 10 } },
      { type: 'running' as const, box: { x0: 0, x1: 16, y0: 0, y1: 16 } },
      { type: 'pupil' as const, box: { x0: 0, x1: 16, y0: 16, y1: 32 } },
    ];
    const src = arraySource([{ frames: p.frames, Ly: 32, Lx: 48 }], ['planted.mkv']);
    const m = await new MotionSVD({ sbin: 2, nComponents: 5, chunkComponents: 10, movie: true, maskChunkLength: 60, rois }).fit(src);
    const r = await m.transform(src);
    const file = path.join(dir, 'planted_proc.h5');
    await writeProc(file, m, r);
    const out = runPython(`
import h5py, json, numpy as np
f = h5py.File(${JSON.stringify(file)}, 'r')
print(json.dumps({
  'keys': sorted(f.keys()),
  'motSVD': [list(f['motSVD'][k].shape) for k in sorted(f['motSVD'])],
  'movSVD': [list(f['movSVD'][k].shape) for k in sorted(f['movSVD'])],
  'motMask': [list(f['motMask'][k].shape) for k in sorted(f['motMask'])],
  'motMask_reshape': [list(f['motMask_reshape'][k].shape) for k in sorted(f['motMask_reshape'])],
  'motion1': float(f['motion/1'][5]),
  'v00': float(f['motSVD/0'][7, 1]),
  'avgframe_reshape': list(f['avgframe_reshape/0'].shape),
  'sbin': int(f['sbin'][()]), 'Ly': f['Ly'][:].tolist(), 'Lx': f['Lx'][:].tolist(),
  'filenames': [s.decode() for s in f['filenames'][:]],
  'rois': json.loads(f.attrs['rois']),
  'running': list(f['running/0'].shape), 'blink': list(f['blink/0'].shape),
  'pupil': sorted(f['pupil/0'].keys()),
}))
`);
    const o = JSON.parse(out);
    for (const k of ['Lx', 'Ly', 'avgframe', 'avgframe_reshape', 'avgmotion', 'avgmotion_reshape', 'blink', 'filenames', 'motMask', 'motMask_reshape', 'motSVD', 'motSv', 'motion', 'movMask', 'movSVD', 'pupil', 'running', 'sbin']) {
      assert.ok(o.keys.includes(k), `missing ${k}`);
    }
    assert.deepEqual(o.motSVD, [[120, 5], [120, 5]]);
    assert.deepEqual(o.movSVD, [[120, 5]]);
    assert.deepEqual(o.motMask, [[384, 5], [48, 5]]);
    assert.deepEqual(o.motMask_reshape, [[16, 24, 5], [8, 6, 5]]);
    assert.ok(Math.abs(o.motion1 - r.motion[1][5]) < 1e-3);
    assert.ok(Math.abs(o.v00 - r.motSVD[0].data[7 * 5 + 1]) < 1e-5);
    assert.deepEqual(o.avgframe_reshape, [16, 24]);
    assert.equal(o.sbin, 2);
    assert.deepEqual([o.Ly, o.Lx], [[32], [48]]);
    assert.deepEqual(o.filenames, ['planted.mkv']);
    assert.equal(o.rois.length, 4);
    assert.deepEqual(o.running, [120, 2]);
    assert.deepEqual(o.blink, [120]);
    assert.deepEqual(o.pupil, ['area', 'area_smooth', 'axdir', 'axlen', 'com', 'com_smooth']);
  });
});
