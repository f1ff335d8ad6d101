/** Recording and behaviour readers (npy, simulator HDF5, suite2p, NWB written by h5py), alignment, error cases. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FormatError, ShapeError } from '../../src/errors';
import { writeH5 } from '../../src/io/hdf5';
import { writeNpy } from '../../src/io/npy';
import { writePoseH5 } from '../../src/pose/labels/facemap-h5';
import {
  behaviorAtNeuralTimes,
  cameraTimes,
  copyToNpy,
  frameToNeural,
  memorySource,
  nearestCameraFrames,
  readKeypointMatrix,
  readRecording,
} from '../../src/neural';
import { pythonOrSkip, runPython } from '../helpers/python';

const N = 6;
const T = 30;
const act = Float32Array.from({ length: N * T }, (_, k) => Math.sin(k * 0.37) + Math.floor(k / T));

describe('neural: recording readers', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-neural-rec-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('.npy (float32 lazily, float64 converted) with fps timestamps', async () => {
    const f = path.join(dir, 'a.npy');
    writeNpy(f, act, [N, T]);
    const rec = await readRecording(f, { fps: 3 });
    assert.deepEqual([rec.nNeurons, rec.nTime, rec.format], [N, T, 'npy']);
    assert.deepEqual(Array.from(rec.activity.readRows(2, 4)), Array.from(act.subarray(2 * T, 4 * T)));
    assert.equal(rec.timestamps?.[3], 1);
    rec.activity.close();
    const g = path.join(dir, 'b.npy');
    writeNpy(g, Float64Array.from(act), [N, T]);
    const r2 = await readRecording(g);
    assert.deepEqual(Array.from(r2.activity.readRows(5, 6)), Array.from(act.subarray(5 * T)));
    assert.equal(r2.timestamps, undefined);
    r2.activity.close();
  });

  it("HDF5 in the simulator's layout with timestamps and positions", async () => {
    const f = path.join(dir, 'sim.h5');
    await writeH5(f, (w) => {
      w.writeDataset('/neural/activity', act, [N, T]);
      w.writeDataset('/neural/timestamps', Float64Array.from({ length: T }, (_, i) => 0.05 + i / 3), [T]);
      w.writeDataset('/neural/positions', Float32Array.from({ length: 2 * N }, (_, i) => i * 100), [N, 2]);
    });
    const rec = await readRecording(f);
    assert.deepEqual(Array.from(rec.activity.readRows(1, 3)), Array.from(act.subarray(T, 3 * T)));
    assert.equal(rec.timestamps?.length, T);
    assert.deepEqual(Array.from(rec.positions ?? []).slice(0, 4), [0, 100, 200, 300]);
    rec.activity.close();
  });

  it('suite2p folder: iscell[:, 0] > 0.5 kept, positions.npy optional', async () => {
    const plane = path.join(dir, 's2p', 'suite2p', 'plane0');
    fs.mkdirSync(plane, { recursive: true });
    writeNpy(path.join(plane, 'spks.npy'), act, [N, T]);
    writeNpy(path.join(plane, 'iscell.npy'), Float64Array.from([1, 0.9, 0, 0.1, 1, 0.8, 0.2, 0.3, 1, 0.7, 0, 0.4]), [N, 2]);
    let rec = await readRecording(path.join(dir, 's2p'), { fps: 10 });
    assert.equal(rec.nNeurons, 3);
    assert.deepEqual(Array.from(rec.activity.readRows(1, 3)), [...act.subarray(2 * T, 3 * T), ...act.subarray(4 * T, 5 * T)]);
    assert.equal(rec.positions, undefined);
    assert.ok(rec.notes.some((n) => n.includes('stat.npy')));
    rec.activity.close();
    writeNpy(path.join(plane, 'positions.npy'), Float32Array.from({ length: 2 * N }, (_, i) => i), [N, 2]);
    rec = await readRecording(plane);
    assert.deepEqual(Array.from(rec.positions ?? []), [0, 1, 4, 5, 8, 9]);
    rec.activity.close();
  });

  it('NWB written by h5py: RoiResponseSeries (time x ROIs), starting_time + rate, pixel_mask centroids', async function () {
    pythonOrSkip(this, 'h5py', 'numpy');
    const f = path.join(dir, 'rec.nwb');
    runPython(`
import h5py, numpy as np
N, T = ${N}, ${T}
act = (np.sin(np.arange(N * T) * 0.37) + np.arange(N * T) // T).reshape(N, T).astype('f4')
with h5py.File('${f}', 'w') as h:
    h.attrs['neurodata_type'] = 'NWBFile'
    ps = h.create_group('processing/ophys/ImageSegmentation/PlaneSegmentation')
    ps.attrs['neurodata_type'] = 'PlaneSegmentation'
    dt = np.dtype([('x', 'u4'), ('y', 'u4'), ('weight', 'f4')])
    rows, index = [], []
    for i in range(N):
        rows += [(10 * i, 5, 1.0), (10 * i + 2, 7, 1.0)]
        index.append(len(rows))
    ps.create_dataset('pixel_mask', data=np.array(rows, dtype=dt))
    ps.create_dataset('pixel_mask_index', data=np.array(index, dtype='u4'))
    s = h.create_group('processing/ophys/Fluorescence/RoiResponseSeries')
    s.attrs['neurodata_type'] = 'RoiResponseSeries'
    s.create_dataset('data', data=act.T.copy())
    st = s.create_dataset('starting_time', data=2.0)
    st.attrs['rate'] = 4.0
`);
    const rec = await readRecording(f, { umPerPixel: 2 });
    assert.deepEqual([rec.format, rec.nNeurons, rec.nTime], ['nwb', N, T]);
    const rows = rec.activity.readRows(2, 5);
    for (let k = 0; k < rows.length; k++) assert.ok(Math.abs(rows[k] - act[2 * T + k]) < 1e-6);
    assert.equal(rec.timestamps?.[4], 3);
    assert.deepEqual(Array.from(rec.positions ?? []).slice(0, 4), [2, 12, 22, 12]);
    rec.activity.close();
  });

  it('errors name the file: NaNs (count and location), non-monotonic or mismatched timestamps, missing dataset', async () => {
    const bad = act.slice();
    bad[3 * T + 7] = NaN;
    bad[4 * T + 1] = Infinity;
    const f = path.join(dir, 'nan.npy');
    writeNpy(f, bad, [N, T]);
    await assert.rejects(readRecording(f), (e: Error) => e instanceof FormatError && e.message.includes('nan.npy') && /2 NaN\/Inf/.test(e.message) && e.message.includes('neuron 3, time 7'));
    const g = path.join(dir, 'ts.h5');
    const ts = Float64Array.from({ length: T }, (_, i) => i);
    ts[10] = 5;
    await writeH5(g, (w) => {
      w.writeDataset('/neural/activity', act, [N, T]);
      w.writeDataset('/neural/timestamps', ts, [T]);
    });
    await assert.rejects(readRecording(g), (e: Error) => e instanceof FormatError && e.message.includes('ts.h5') && e.message.includes('[10] = 5'));
    const h = path.join(dir, 'len.h5');
    await writeH5(h, (w) => {
      w.writeDataset('/neural/activity', act, [N, T]);
      w.writeDataset('/neural/timestamps', new Float64Array(T - 1).map((_, i) => i), [T - 1]);
    });
    await assert.rejects(readRecording(h), (e: Error) => e instanceof ShapeError && e.message.includes('len.h5'));
    await assert.rejects(readRecording(h, { dataset: '/nope' }), FormatError);
    await assert.rejects(readRecording(path.join(dir, 'missing.npy')), FormatError);
  });

  it('copyToNpy: a flat copy (a valid .npy) reads the same rows, NaN is a FormatError naming the source, close deletes it', async () => {
    const f = path.join(dir, 'sim.h5');
    await writeH5(f, (w) => w.writeDataset('/neural/activity', act, [N, T]));
    const rec = await readRecording(f, { checkFinite: false });
    const copyFile = path.join(dir, 'copy.npy');
    const seen: number[] = [];
    const copy = copyToNpy(rec.activity, copyFile, { blockNeurons: 4, onProgress: (d) => seen.push(d) });
    rec.activity.close();
    assert.deepEqual(seen, [4, 6]);
    assert.equal(copy.file, f);
    assert.deepEqual(Array.from(copy.readRows(1, 5)), Array.from(act.subarray(T, 5 * T)));
    const back = await readRecording(copyFile);
    assert.deepEqual(Array.from(back.activity.readRows(0, N)), Array.from(act));
    back.activity.close();
    copy.close();
    assert.ok(!fs.existsSync(copyFile));
    const bad = act.slice();
    bad[3 * T + 7] = NaN;
    const badFile = path.join(dir, 'bad-copy.npy');
    assert.throws(() => copyToNpy(memorySource(bad, N, T, 'bad.h5'), badFile), (e: Error) => e instanceof FormatError && /bad\.h5.*1 NaN\/Inf.*neuron 3, time 7/.test(e.message));
    assert.ok(!fs.existsSync(badFile));
  });

  it('keypoints from a Facemap pose file as frames x (2 nKeypoints), paw excluded; NaN reported', async () => {
    const f = path.join(dir, 'pose.h5');
    const nF = 4;
    const names = ['eye(back)', 'paw', 'nose(tip)'];
    const x = Float32Array.from({ length: nF * 3 }, (_, i) => i);
    const y = Float32Array.from({ length: nF * 3 }, (_, i) => 100 + i);
    await writePoseH5(f, { names, nFrames: nF, x, y, likelihood: new Float32Array(nF * 3).fill(1) });
    const m = await readKeypointMatrix(f, { exclude: ['paw'] });
    assert.deepEqual(m.names, ['eye(back)_x', 'eye(back)_y', 'nose(tip)_x', 'nose(tip)_y']);
    assert.deepEqual(Array.from(m.data.subarray(4, 8)), [3, 103, 5, 105]);
    x[7] = NaN;
    await writePoseH5(f, { names, nFrames: nF, x, y, likelihood: new Float32Array(nF * 3).fill(1) });
    await assert.rejects(readKeypointMatrix(f), (e: Error) => e instanceof FormatError && e.message.includes('frame 2') && e.message.includes('paw_x'));
  });
});

describe('neural: alignment', () => {
  it('behaviorAtNeuralTimes: a linear ramp stays a ramp (smoothing reflects at the ends; interior exact)', () => {
    const cam = cameraTimes(500, 50);
    const beh = Float32Array.from({ length: 1000 }, (_, k) => (k % 2 ? 2 : 1) * cam[Math.floor(k / 2)]);
    const neural = Float64Array.from({ length: 20 }, (_, i) => 1 + i * 0.4);
    const out = behaviorAtNeuralTimes(beh, cam, neural);
    for (let i = 0; i < 20; i++) {
      assert.ok(Math.abs(out[2 * i] - neural[i]) < 1e-4);
      assert.ok(Math.abs(out[2 * i + 1] - 2 * neural[i]) < 1e-4);
    }
    assert.throws(() => behaviorAtNeuralTimes(beh, cam, Float64Array.from([1, 0.5])), FormatError);
  });

  it('nearest camera frame per neural time, and the neural sample after each frame (delay -1)', () => {
    const cam = cameraTimes(10, 10);
    const neural = Float64Array.from([0.04, 0.26, 0.61]);
    assert.deepEqual(Array.from(nearestCameraFrames(cam, neural)), [0, 3, 6]);
    assert.deepEqual(Array.from(frameToNeural(cam, neural, 0)), [0, 0, 1, 1, 1, 2, 2, 2, 2, 2]);
    assert.deepEqual(Array.from(frameToNeural(cam, neural, -1)), [1, 1, 2, 2, 2, -1, -1, -1, -1, -1]);
  });
});
