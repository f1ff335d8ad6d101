import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FormatError, ParamError } from '../../src/errors';
import { writePngGrey } from '../../src/io/png';
import {
  FACEMAP_KEYPOINTS,
  formatFloat32,
  kFold,
  labelsToArrays,
  LABEL_FORMATS,
  readLabels,
  readTraces,
  TRACE_FORMATS,
  validateLabels,
  writeLabels,
  writeTraces,
  type KeypointTraces,
  type LabelSet,
} from '../../src/pose/labels';
import { unpickle } from '../../src/pose/labels/pickle';
import { pythonOrSkip, runPython } from '../helpers/python';
import { sharedOrSkip } from '../helpers/shared';

const tmpDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'fm-labels-'));
const py = (s: string): string => JSON.stringify(s);

function nanCount(set: LabelSet): number {
  return set.frames.reduce((n, f) => n + f.x.filter(Number.isNaN).length + f.y.filter(Number.isNaN).length, 0);
}

/** Equal as float32, NaN equal to NaN. */
function assertSameCoords(a: LabelSet, b: LabelSet): void {
  assert.deepEqual(a.keypoints, b.keypoints);
  assert.equal(a.frames.length, b.frames.length);
  a.frames.forEach((f, i) => {
    assert.equal(f.image, b.frames[i].image);
    assert.deepEqual(f.x, b.frames[i].x);
    assert.deepEqual(f.y, b.frames[i].y);
  });
}

/** A small synthetic set: 3 frames (PNG 40x30 each) x 3 keypoints, one missing. */
function smallSet(root: string): LabelSet {
  fs.mkdirSync(path.join(root, 'labeled-data', 'v'), { recursive: true });
  for (const i of [0, 1, 2]) writePngGrey(path.join(root, 'labeled-data', 'v', `img${i}.png`), new Uint8Array(40 * 30).fill(i), 30, 40);
  return {
    keypoints: ['nose', 'eye(top)', 'whisker 1'],
    scorer: 'me',
    root,
    frames: [0, 1, 2].map((i) => ({
      image: `labeled-data/v/img${i}.png`,
      x: Float32Array.from([1.25 + i, 10.1, i === 1 ? NaN : 20.3]),
      y: Float32Array.from([2.5, 11.7 + i, i === 1 ? NaN : 5.0]),
    })),
  };
}

describe('pose/labels: DeepLabCut CSV on real labelled data', () => {
  it('facemap-face: 112 frames x 12 keypoints, none missing, names in file order, images found', async function () {
    const csv = sharedOrSkip(this, 'facemap-face', 'CollectedData_AVS.csv');
    const set = await readLabels(csv);
    assert.equal(set.frames.length, 112);
    assert.deepEqual(set.keypoints, ['eye_top', 'eye_front', 'eye_bottom', 'eye_back', 'nose_top', 'nose_tip', 'nose_bottom', 'whisker_1', 'whisker_2', 'whisker_3', 'mouth', 'lip']);
    assert.equal(set.scorer, 'AVS');
    assert.equal(nanCount(set), 0);
    assert.equal(set.root, path.dirname(csv));
    assert.equal(set.frames[0].image, 'labeled-data/cam1_G7c1_1/img0051.png');
    assert.equal(set.frames[0].x[0], Math.fround(589.023233632734));
    const report = validateLabels(set, { labelFile: csv });
    assert.equal(report.missing, 0);
    assert.equal(report.unsized, 0);
    assert.deepEqual(report.duplicates, []);
    assert.deepEqual(report.identicalImages, []);
    assert.ok(report.outOfBounds.length === 0, `out of 864x646: ${JSON.stringify(report.outOfBounds.slice(0, 3))}`);
  });

  it('mirror-mouse: 90 frames x 17 keypoints, 268 of 3060 coordinates missing', async function () {
    const csv = sharedOrSkip(this, 'mirror-mouse', 'CollectedData.csv');
    const set = await readLabels(csv);
    assert.equal(set.frames.length, 90);
    assert.equal(set.keypoints.length, 17);
    assert.equal(set.keypoints[0], 'paw1LH_top');
    assert.equal(nanCount(set), 268);
    const report = validateLabels(set, { labelFile: csv });
    assert.equal(report.missing * 2, 268);
    assert.equal(report.missingPerKeypoint.reduce((a, b) => a + b, 0) * 2, 268);
    assert.deepEqual(report.identicalImages, [], 'img00.png (a copy of img01.png) is not labelled');
    const arrays = labelsToArrays(report.set);
    assert.equal(arrays.xy.length, 90 * 17 * 2);
    assert.equal(arrays.mask.reduce((a, b) => a + b, 0), 90 * 17 - 134);
    assert.ok(fs.existsSync(arrays.images[0]));
  });

  it('round-trips through our CSV writer, and pandas reads our CSV as the original', async function () {
    const csv = sharedOrSkip(this, 'mirror-mouse', 'CollectedData.csv');
    const set = await readLabels(csv);
    const out = path.join(tmpDir(), 'CollectedData_rick.csv');
    await writeLabels(out, set);
    assertSameCoords(await readLabels(out, { root: set.root }), set);
    pythonOrSkip(this, 'pandas');
    const r = runPython(`
import pandas as pd, numpy as np
a = pd.read_csv(${py(out)}, header=[0, 1, 2], index_col=0)
b = pd.read_csv(${py(csv)}, header=[0, 1, 2], index_col=0)
print(a.shape == b.shape, (a.columns == b.columns).all(), (a.index == b.index).all(),
      np.array_equal(np.isnan(a.values), np.isnan(b.values)),
      np.allclose(a.values.astype(np.float32), b.values.astype(np.float32), equal_nan=True, rtol=0, atol=0))`);
    assert.equal(r.trim(), 'True True True True True');
  });

  it("reads DLC 2.3's three-column image index (written by pandas)", async function () {
    pythonOrSkip(this, 'pandas');
    const dir = tmpDir();
    const file = path.join(dir, 'CollectedData_me.csv');
    runPython(`
import pandas as pd, numpy as np
cols = pd.MultiIndex.from_product([['me'], ['nose', 'tail'], ['x', 'y']], names=['scorer', 'bodyparts', 'coords'])
rows = pd.MultiIndex.from_tuples([('labeled-data', 'vid', 'img001.png'), ('labeled-data', 'vid', 'img002.png')])
pd.DataFrame([[1.5, 2.5, np.nan, np.nan], [3, 4, 5, 6.25]], index=rows, columns=cols).to_csv(${py(file)})`);
    const set = await readLabels(file);
    assert.deepEqual(set.keypoints, ['nose', 'tail']);
    assert.deepEqual(set.frames.map((f) => f.image), ['labeled-data/vid/img001.png', 'labeled-data/vid/img002.png']);
    assert.deepEqual([...set.frames[0].x], [1.5, NaN]);
    assert.deepEqual([...set.frames[1].y], [4, 6.25]);
    assert.equal(set.root, dir);
  });

  it('reads multi-animal files (individuals row) as <individual>:<bodypart>; bad files are FormatErrors', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'CollectedData_me.csv');
    fs.writeFileSync(
      file,
      'scorer,me,me,me,me\nindividuals,m1,m1,m2,m2\nbodyparts,nose,nose,nose,nose\ncoords,x,y,x,y\nlabeled-data/v/a.png,1,2,,\n',
    );
    const set = await readLabels(file);
    assert.deepEqual(set.keypoints, ['m1:nose', 'm2:nose']);
    assert.deepEqual([...set.frames[0].x], [1, NaN]);
    const bad = path.join(dir, 'bad.csv');
    fs.writeFileSync(bad, 'scorer,me,me\nbodyparts,nose,nose\ncoords,x,y\nimg.png,1,oops\n');
    await assert.rejects(readLabels(bad), (e: unknown) => e instanceof FormatError && e.file === bad && /line 4/.test(e.message) && /oops/.test(e.message));
    const other = path.join(dir, 'other.csv');
    fs.writeFileSync(other, 'a,b\n1,2\n');
    await assert.rejects(readLabels(other), (e: unknown) => e instanceof FormatError && /dlc-csv/.test(e.message));
    await assert.rejects(readLabels(file, { format: 'nope' }), ParamError);
    await assert.rejects(readLabels(path.join(dir, 'absent.csv')), FormatError);
  });

  it('shortest float32 text reads back exactly', () => {
    for (const v of [589.0232336327340, 0.1, 1e-7, 123456.789, -3.25]) {
      const f = Math.fround(v);
      assert.equal(Math.fround(Number(formatFloat32(f))), f);
    }
    assert.equal(formatFloat32(Math.fround(0.1)), '0.1');
    assert.equal(formatFloat32(NaN), '');
  });
});

describe('pose/labels: DeepLabCut pandas HDF5 (df_with_missing)', () => {
  it('reads fixed (one- and three-part index) and table frames written by pandas, as the CSV', async function () {
    const csv = sharedOrSkip(this, 'mirror-mouse', 'CollectedData.csv');
    pythonOrSkip(this, 'pandas', 'tables');
    const dir = tmpDir();
    runPython(`
import pandas as pd, warnings
warnings.simplefilter('ignore')
df = pd.read_csv(${py(csv)}, header=[0, 1, 2], index_col=0)
df.to_hdf(${py(path.join(dir, 'fixed.h5'))}, key='df_with_missing', mode='w')
df.to_hdf(${py(path.join(dir, 'table.h5'))}, key='df_with_missing', mode='w', format='table')
df.index = pd.MultiIndex.from_tuples([tuple(p.split('/')[:1] + ['vid'] + p.split('/')[1:]) for p in df.index])
df.to_hdf(${py(path.join(dir, 'multi.h5'))}, key='df_with_missing', mode='w')`);
    const ref = await readLabels(csv);
    for (const f of ['fixed.h5', 'table.h5']) assertSameCoords(await readLabels(path.join(dir, f), { root: ref.root }), ref);
    const multi = await readLabels(path.join(dir, 'multi.h5'));
    assert.equal(multi.frames[1].image, 'labeled-data/vid/img02.png');
    assert.deepEqual(multi.frames[1].x, ref.frames[1].x);
    assert.equal((await readLabels(path.join(dir, 'fixed.h5'))).scorer, 'rick');
  });

  it('writes a fixed frame that pandas reads as the original; round-trips', async function () {
    const csv = sharedOrSkip(this, 'facemap-face', 'CollectedData_AVS.csv');
    const set = await readLabels(csv);
    const out = path.join(tmpDir(), 'CollectedData_AVS.h5');
    await writeLabels(out, set);
    assertSameCoords(await readLabels(out, { root: set.root }), set);
    pythonOrSkip(this, 'pandas', 'tables');
    const r = runPython(`
import pandas as pd, numpy as np, warnings
warnings.simplefilter('ignore')
a = pd.read_hdf(${py(out)}, 'df_with_missing')
b = pd.read_csv(${py(csv)}, header=[0, 1, 2], index_col=0)
print(a.shape == b.shape, list(a.columns.names) == ['scorer', 'bodyparts', 'coords'], (a.columns == b.columns).all(),
      (a.index == b.index).all(), np.array_equal(a.values.astype(np.float32), b.values.astype(np.float32)))`);
    assert.equal(r.trim(), 'True True True True True');
  });

  it('round-trips missing values and a synthetic set through .h5 and .csv', async () => {
    const dir = tmpDir();
    const set = smallSet(dir);
    for (const f of ['labels.h5', 'labels.csv']) {
      await writeLabels(path.join(dir, f), set);
      const back = await readLabels(path.join(dir, f));
      assertSameCoords(back, set);
      assert.equal(back.scorer, 'me');
      assert.equal(back.root, dir);
    }
  });
});

describe('pose/labels: SLEAP .slp', () => {
  it('reads user instances from a file written with h5py in the SLEAP layout', async function () {
    pythonOrSkip(this, 'h5py', 'numpy');
    const file = path.join(tmpDir(), 'labels.v001.slp');
    runPython(`
import h5py, json, numpy as np
meta = {'version': '2.0.0', 'nodes': [{'name': 'tail', 'weight': 1.0}, {'name': 'head', 'weight': 1.0}, {'name': 'neck', 'weight': 1.0}],
        'skeletons': [{'directed': True, 'graph': {'name': 'sk'}, 'links': [], 'multigraph': True,
                       'nodes': [{'id': 1}, {'id': 2}, {'id': 0}]}],
        'videos': [{'backend': {'filename': 'videos/mouse.mp4', 'grayscale': True}}], 'tracks': [], 'suggestions': [],
        'negative_anchors': {}, 'provenance': {}}
with h5py.File(${py(file)}, 'w') as f:
    g = f.create_group('metadata')
    g.attrs['format_id'] = 1.2
    g.attrs['json'] = np.bytes_(json.dumps(meta))
    f['frames'] = np.array([(0, 0, 7, 0, 2), (1, 0, 12, 2, 3), (2, 0, 20, 3, 4)],
        dtype=[('frame_id', '<u8'), ('video', '<u4'), ('frame_idx', '<u8'), ('instance_id_start', '<u8'), ('instance_id_end', '<u8')])
    f['instances'] = np.array([(0, 1, 0, 0, -1, 0, 0.9, 0, 3, 0), (1, 0, 0, 0, -1, 0, np.nan, 0, 3, 0),
                               (2, 0, 1, 0, -1, 0, np.nan, 3, 6, 0), (3, 1, 2, 0, -1, 0, 0.5, 3, 6, 0)],
        dtype=[('instance_id', '<i8'), ('instance_type', 'u1'), ('frame_id', '<u8'), ('skeleton', '<u4'), ('track', '<i4'),
               ('from_predicted', '<i8'), ('score', '<f4'), ('point_id_start', '<u8'), ('point_id_end', '<u8'), ('tracking_score', '<f4')])
    f['points'] = np.array([(10.5, 20.5, True, True), (11, 21, True, True), (12, 22, False, True),
                            (30, 40, True, True), (31, 41, True, True), (32, 42, True, True)],
        dtype=[('x', '<f8'), ('y', '<f8'), ('visible', '?'), ('complete', '?')])
    f['pred_points'] = np.array([(1, 2, True, True, 0.9)] * 6,
        dtype=[('x', '<f8'), ('y', '<f8'), ('visible', '?'), ('complete', '?'), ('score', '<f8')])`);
    const set = await readLabels(file);
    assert.deepEqual(set.keypoints, ['head', 'neck', 'tail']);
    assert.equal(set.frames.length, 2, 'the frame with only a predicted instance is skipped');
    assert.deepEqual(set.frames.map((f) => [f.image, f.frameIndex]), [['videos/mouse.mp4', 7], ['videos/mouse.mp4', 12]]);
    assert.deepEqual([...set.frames[0].x], [10.5, 11, NaN]);
    assert.deepEqual([...set.frames[1].y], [40, 41, 42]);
    assert.equal(set.root, path.dirname(file));
    const report = validateLabels(set, { checkImages: false });
    assert.equal(report.missing, 1);
    assert.throws(() => validateLabels(set), (e: unknown) => e instanceof FormatError && /mouse\.mp4/.test(e.message) && e.message.includes(set.root));
    await assert.rejects(writeLabels(path.join(path.dirname(file), 'x.slp'), set), ParamError);
  });
});

describe('pose/labels: keypoint traces', () => {
  const traces = (nFrames: number, names: string[]): KeypointTraces => {
    const n = nFrames * names.length;
    const t = {
      names,
      nFrames,
      x: Float32Array.from({ length: n }, (_, i) => i * 1.5),
      y: Float32Array.from({ length: n }, (_, i) => 100 - i * 0.25),
      likelihood: Float32Array.from({ length: n }, (_, i) => (i % 7) / 7),
    };
    t.x[3] = NaN;
    t.y[3] = NaN;
    return t;
  };

  it('round-trip through facemap-h5, dlc-h5 and dlc-csv', async () => {
    const dir = tmpDir();
    const t = traces(6, [...FACEMAP_KEYPOINTS]);
    for (const [file, format] of [['a_FacemapPose.h5', undefined], ['b.h5', 'dlc-h5'], ['c.csv', undefined]] as const) {
      await writeTraces(path.join(dir, file), t, { format });
      const back = await readTraces(path.join(dir, file));
      assert.deepEqual(back, t, file);
    }
    assert.deepEqual(TRACE_FORMATS.map((f) => f.name), ['facemap-h5', 'dlc-h5', 'dlc-csv']);
    assert.deepEqual(LABEL_FORMATS.map((f) => [f.name, !!f.write]), [['dlc-csv', true], ['dlc-h5', true], ['sleap', false]]);
  });

  it('reads a DLC prediction table (pandas table format) and a Facemap file written by h5py', async function () {
    pythonOrSkip(this, 'pandas', 'tables', 'h5py');
    const dir = tmpDir();
    runPython(`
import pandas as pd, numpy as np, h5py, warnings
warnings.simplefilter('ignore')
cols = pd.MultiIndex.from_product([['DLC_resnet50_x'], ['nose', 'ear'], ['x', 'y', 'likelihood']], names=['scorer', 'bodyparts', 'coords'])
v = np.arange(4 * 6, dtype=float).reshape(4, 6) / 4
pd.DataFrame(v, columns=cols).to_hdf(${py(path.join(dir, 'vidDLC_resnet50.h5'))}, key='df_with_missing', format='table', mode='w')
with h5py.File(${py(path.join(dir, 'vid_FacemapPose.h5'))}, 'w') as f:
    for k, name in enumerate(['nose', 'ear']):
        for j, c in enumerate(['x', 'y', 'likelihood']):
            f.create_dataset(f'Facemap/{name}/{c}', data=v[:, k * 3 + j].astype(np.float32))`);
    for (const f of ['vidDLC_resnet50.h5', 'vid_FacemapPose.h5']) {
      const t = await readTraces(path.join(dir, f));
      assert.equal(t.nFrames, 4, f);
      assert.deepEqual(new Set(t.names), new Set(['nose', 'ear']), f);
      const k = t.names.indexOf('ear');
      assert.deepEqual([t.x[2 * 2 + k], t.y[2 * 2 + k], t.likelihood[2 * 2 + k]], [(12 + 3) / 4, (12 + 4) / 4, (12 + 5) / 4], f);
    }
  });
});

describe('pose/labels: validation and training arrays', () => {
  it('masks out-of-image and missing coordinates, reports duplicates, leaves the input unchanged', () => {
    const dir = tmpDir();
    const set = smallSet(dir);
    set.frames[2].x[0] = 45;
    set.frames.push({ ...set.frames[0], x: Float32Array.from(set.frames[0].x), y: Float32Array.from(set.frames[0].y) });
    const r = validateLabels(set, { keypoints: ['nose', 'eye(top)', 'whisker 1', 'paw'] });
    assert.equal(r.missing, 1);
    assert.deepEqual(r.missingPerKeypoint, [0, 0, 1]);
    assert.deepEqual(r.outOfBounds, [{ frame: 2, keypoint: 'nose', x: 45, y: 2.5, width: 40, height: 30 }]);
    assert.ok(Number.isNaN(r.set.frames[2].x[0]) && Number.isNaN(r.set.frames[2].y[0]));
    assert.equal(set.frames[2].x[0], 45, 'input not modified');
    assert.deepEqual(r.duplicates, [{ image: 'labeled-data/v/img0.png', frames: [0, 3] }]);
    assert.deepEqual(r.absentKeypoints, ['paw']);
    assert.deepEqual(r.identicalImages, []);
    assert.equal(r.warnings.length, 4);
    fs.copyFileSync(path.join(dir, 'labeled-data', 'v', 'img0.png'), path.join(dir, 'labeled-data', 'v', 'img1.png'));
    assert.deepEqual(validateLabels(set).identicalImages, [{ images: ['labeled-data/v/img0.png', 'labeled-data/v/img1.png'], frames: [0, 1] }]);
  });

  it('throws FormatError for unknown keypoints and for a missing image, naming image and label file', () => {
    const dir = tmpDir();
    const set = smallSet(dir);
    assert.throws(() => validateLabels(set, { keypoints: ['nose'], labelFile: 'L.csv' }), (e: unknown) => e instanceof FormatError && /eye\(top\)/.test(e.message) && /L\.csv/.test(e.message));
    fs.rmSync(path.join(dir, 'labeled-data', 'v', 'img1.png'));
    assert.throws(
      () => validateLabels(set, { labelFile: 'L.csv' }),
      (e: unknown) => e instanceof FormatError && e.file === path.join(dir, 'labeled-data', 'v', 'img1.png') && /L\.csv/.test(e.message),
    );
  });

  it('labelsToArrays gives nFrames x nKeypoints x 2 coordinates and a mask', () => {
    const dir = tmpDir();
    const a = labelsToArrays(smallSet(dir));
    assert.equal(a.xy.length, 3 * 3 * 2);
    assert.deepEqual([...a.mask], [1, 1, 1, 1, 1, 0, 1, 1, 1]);
    assert.deepEqual([a.xy[(1 * 3 + 0) * 2], a.xy[(1 * 3 + 0) * 2 + 1]], [Math.fround(2.25), 2.5]);
    assert.equal(a.images[2], path.join(dir, 'labeled-data', 'v', 'img2.png'));
    assert.deepEqual([...a.frameIndex], [-1, -1, -1]);
  });

  it('kFold: seeded, disjoint, covering, balanced', () => {
    const folds = kFold(11, 3, 5);
    assert.deepEqual(kFold(11, 3, 5), folds);
    assert.notDeepEqual(kFold(11, 3, 6), folds);
    const tests = folds.flatMap((f) => [...f.test]).sort((a, b) => a - b);
    assert.deepEqual(tests, Array.from({ length: 11 }, (_, i) => i));
    for (const f of folds) {
      assert.equal(f.train.length + f.test.length, 11);
      assert.ok(f.test.length === 3 || f.test.length === 4);
      assert.ok(![...f.train].some((i) => f.test.includes(i)));
    }
    assert.throws(() => kFold(3, 4, 0), ParamError);
  });

  it('unpickles the protocol-0 attributes pandas writes, and refuses objects', () => {
    assert.deepEqual(unpickle('(lp0\n(I1\n(lp1\n(Vrick\np2\nVpaw\\u00e9\np3\nVx\np4\ntp5\na(g2\ng3\nVy\np6\ntp7\natp8\na.', 'f'), [
      [1, [['rick', 'pawé', 'x'], ['rick', 'pawé', 'y']]],
    ]);
    assert.throws(() => unpickle("cos\nsystem\n(S'ls'\ntR.", 'f.h5'), (e: unknown) => e instanceof FormatError && e.file === 'f.h5');
  });
});
