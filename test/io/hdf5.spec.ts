import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FormatError, ParamError } from '../../src/errors';
import { defaultChunks, openH5, withH5, writeH5 } from '../../src/io/hdf5';
import { pythonOrSkip, runPython } from '../helpers/python';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fm-h5-'));
}

describe('io/hdf5', () => {
  it('round-trips datasets of each dtype, groups and attributes (Facemap pose layout)', async () => {
    const file = path.join(tmpDir(), 'pose.h5');
    const x = Float32Array.from({ length: 10 }, (_, i) => i * 1.5);
    await writeH5(file, (w) => {
      for (const kp of ['eye(back)', 'nose(tip)']) {
        w.writeDataset(`/Facemap/${kp}/x`, x, [10]);
        w.writeDataset(`/Facemap/${kp}/y`, x.map((v) => -v), [10]);
        w.writeDataset(`/Facemap/${kp}/likelihood`, new Float32Array(10).fill(0.9), [10]);
      }
      w.writeDataset('/m/f64', new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]);
      w.writeDataset('/m/i32', new Int32Array([-1, 2]), [2]);
      w.writeDataset('/m/u8', new Uint8Array([0, 255]), [2, 1]);
      w.writeDataset('/m/i64', new BigInt64Array([-(2n ** 40n)]), [1]);
      w.setAttr('/', 'version', 'facemap-ts');
      w.setAttr('/Facemap', 'fps', 30);
      w.setAttr('/m/f64', 'scale', [0.5, 2]);
    });
    await withH5(file, (r) => {
      assert.deepEqual(r.list('/').map((e) => [e.name, e.kind]), [['Facemap', 'group'], ['m', 'group']]);
      assert.deepEqual(r.list('/Facemap').map((e) => e.name), ['eye(back)', 'nose(tip)']);
      assert.equal(r.datasets().length, 10);
      const info = r.info('/Facemap/eye(back)/x');
      assert.deepEqual([info.shape, info.dtype], [[10], 'float32']);
      assert.deepEqual(r.read('/Facemap/nose(tip)/y').data, x.map((v) => -v));
      const m = r.read('/m/f64');
      assert.deepEqual(m.shape, [2, 3]);
      assert.deepEqual(Array.from(m.data as Float64Array), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(
        ['/m/i32', '/m/u8', '/m/i64'].map((p) => r.info(p).dtype),
        ['int32', 'uint8', 'int64'],
      );
      assert.deepEqual(Array.from(r.read('/m/i64').data as BigInt64Array), [-(2n ** 40n)]);
      assert.equal(r.attrs('/').version, 'facemap-ts');
      assert.equal(Number(r.attrs('/Facemap').fps), 30);
      assert.deepEqual(Array.from(r.attrs('/m/f64').scale as Float64Array), [0.5, 2]);
      assert.ok(r.has('/m/u8') && !r.has('/m/nope'));
      assert.throws(() => r.read('/nope'), /pose\.h5: no object at '\/nope'/);
    });
  });

  it('reads a hyperslab equal to the matching part of what was written; rejects out-of-range slices', async () => {
    const file = path.join(tmpDir(), 's.h5');
    const [R, C] = [50, 7];
    const all = Float32Array.from({ length: R * C }, (_, i) => i);
    await writeH5(file, (w) => w.writeDataset('/X', all, [R, C]));
    await withH5(file, (r) => {
      const rows = r.readSlice('/X', [[10, 13]]);
      assert.deepEqual(rows.shape, [3, C]);
      assert.deepEqual(rows.data, all.subarray(10 * C, 13 * C));
      const block = r.readSlice('/X', [[5, 7], [2, 4]]);
      assert.deepEqual(block.shape, [2, 2]);
      assert.deepEqual(Array.from(block.data as Float32Array), [5 * C + 2, 5 * C + 3, 6 * C + 2, 6 * C + 3]);
      assert.deepEqual(r.readSlice('/X', [[3, 3]]).shape, [0, C]);
      assert.throws(() => r.readSlice('/X', [[45, 51]]), ParamError);
    });
  });

  it(`writes 2000 x 5000 float32 in 100-row blocks without holding the array, then reads slices back`, async function () {
    this.timeout(20000);
    const file = path.join(tmpDir(), 'big.h5');
    const [R, C, B] = [2000, 5000, 100];
    const value = (r: number, c: number): number => r * 0.5 - c;
    let peakGrowth = 0;
    const base = process.memoryUsage().arrayBuffers;
    await writeH5(file, (w) => {
      const d = w.createDataset('/neural/X', [R, C], 'float32', { chunks: [B, C] });
      const block = new Float32Array(B * C);
      for (let r0 = 0; r0 < R; r0 += B) {
        for (let i = 0; i < B; i++) for (let c = 0; c < C; c++) block[i * C + c] = value(r0 + i, c);
        d.writeRows(r0, block);
        peakGrowth = Math.max(peakGrowth, process.memoryUsage().arrayBuffers - base);
      }
    });
    // The whole array is 40 MB; block + wasm heap growth must stay well below it.
    assert.ok(peakGrowth < 20e6, `array-buffer memory grew by ${(peakGrowth / 1e6).toFixed(1)} MB`);
    assert.equal(fs.statSync(file).size > R * C * 4, true);
    await withH5(file, (r) => {
      assert.deepEqual(r.info('/neural/X'), { path: '/neural/X', shape: [R, C], dtype: 'float32', chunks: [B, C] });
      const s = r.readSlice('/neural/X', [[1234, 1236], [4998, 5000]]);
      assert.deepEqual(Array.from(s.data as Float32Array), [value(1234, 4998), value(1234, 4999), value(1235, 4998), value(1235, 4999)]);
    });
  });

  it('chooses ~1 MiB default chunks of whole rows', () => {
    assert.deepEqual(defaultChunks([2000, 5000], 4), [52, 5000]);
    assert.deepEqual(defaultChunks([10, 3], 4), [10, 3]);
    assert.deepEqual(defaultChunks([4, 1000, 1000], 4), [1, 262, 1000]);
  });

  it('fills block by block at offsets, with gzip, and unwritten parts read 0', async () => {
    const file = path.join(tmpDir(), 'b.h5');
    await writeH5(file, (w) => {
      const d = w.createDataset('/u', [4, 6], 'uint8', { gzip: 4 });
      d.writeBlock(new Uint8Array([1, 2, 3, 4]), [2, 2], [1, 3]);
      assert.throws(() => d.writeBlock(new Uint8Array(4), [2, 2], [3, 0]), ParamError);
      assert.throws(() => d.writeRows(0, new Float32Array(6)), /write a Uint8Array, not a Float32Array/);
      w.createDataset('/f64', [3], 'float64').writeRows(0, new Float64Array([1, 2, 3]));
      w.createDataset('/i32', [2, 2], 'int32').writeRows(1, new Int32Array([-7, 7]));
    });
    await withH5(file, (r) => {
      assert.deepEqual(Array.from(r.read('/u').data as Uint8Array), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0]);
      assert.deepEqual(Array.from(r.read('/f64').data as Float64Array), [1, 2, 3]);
      assert.deepEqual(Array.from(r.read('/i32').data as Int32Array), [0, 0, -7, 7]);
    });
  });

  it('a failed write leaves no file; the old file survives', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'out.h5');
    await writeH5(file, (w) => w.writeDataset('/a', new Float32Array([1]), [1]));
    await assert.rejects(
      writeH5(file, (w) => {
        w.writeDataset('/a', new Float32Array([2]), [1]);
        throw new Error('interrupted');
      }),
      /interrupted/,
    );
    assert.deepEqual(fs.readdirSync(dir), ['out.h5']);
    await withH5(file, (r) => assert.deepEqual(Array.from(r.read('/a').data as Float32Array), [1]));
  });

  it('writes fixed-length strings and reads them back; h5py sees numpy S strings; reads compound records', async function () {
    const file = path.join(tmpDir(), 's.h5');
    await writeH5(file, (w) => {
      w.writeStrings('/names', ['x', 'likelihood', 'pawé']);
      w.writeDataset('/n', new Float32Array(2), [2]);
    });
    await withH5(file, (r) => {
      assert.deepEqual(r.readStrings('/names'), ['x', 'likelihood', 'pawé']);
      assert.throws(() => r.readStrings('/n'), (e: unknown) => e instanceof FormatError && /not strings/.test(e.message));
      assert.throws(() => r.readCompound('/names'), (e: unknown) => e instanceof FormatError && /compound/.test(e.message));
    });
    pythonOrSkip(this, 'h5py', 'numpy');
    assert.equal(runPython(`import h5py; f = h5py.File(${JSON.stringify(file)}); d = f['names']; print(d.dtype.kind, [s.decode() for s in d[:]])`).trim(), "S ['x', 'likelihood', 'pawé']");
    const rec = path.join(tmpDir(), 'rec.h5');
    runPython(`import h5py, numpy as np
with h5py.File(${JSON.stringify(rec)}, 'w') as f:
    f['r'] = np.array([(1.5, 2, True), (3.0, 4, False)], dtype=[('x', '<f8'), ('i', '<u4'), ('v', '?')])`);
    await withH5(rec, (r) => assert.deepEqual(r.readCompound('/r'), { fields: ['x', 'i', 'v'], rows: [[1.5, 2, 1], [3, 4, 0]] }));
  });

  it('writes a string column of 300,000 rows (a per-neuron table)', async () => {
    const file = path.join(tmpDir(), 'many.h5');
    const names = Array.from({ length: 300000 }, (_, i) => (i % 3 ? 'rrr' : 'keypoint network'));
    await writeH5(file, (w) => w.writeStrings('/model', names));
    await withH5(file, (r) => {
      const back = r.readStrings('/model');
      assert.equal(back.length, 300000);
      assert.deepEqual([back[0], back[1], back[299999]], ['keypoint network', 'rrr', 'rrr']);
    });
  });

  it('throws FormatError naming the file for missing, garbage and truncated files', async () => {
    const dir = tmpDir();
    const missing = path.join(dir, 'nope.h5');
    await assert.rejects(openH5(missing), (e: unknown) => e instanceof FormatError && e.file === missing);
    const bad = path.join(dir, 'bad.h5');
    fs.writeFileSync(bad, Buffer.from('this is not an HDF5 file, just garbage bytes '.repeat(20)));
    await assert.rejects(openH5(bad), (e: unknown) => e instanceof FormatError && /bad\.h5: not an HDF5 file/.test(e.message));
    const good = path.join(dir, 'good.h5');
    await writeH5(good, (w) => w.writeDataset('/a', new Float32Array(1000), [1000]));
    const cut = path.join(dir, 'cut.h5');
    fs.writeFileSync(cut, fs.readFileSync(good).subarray(0, 1000));
    await assert.rejects(
      withH5(cut, (r) => r.read('/a')),
      (e: unknown) => e instanceof FormatError && e.file === cut,
    );
  });

  describe('interop with h5py', function () {
    before(function () {
      pythonOrSkip(this, 'h5py', 'numpy');
    });

    it('h5py reads our file, and we read an h5py file', async () => {
      const dir = tmpDir();
      const ours = path.join(dir, 'ours.h5');
      await writeH5(ours, (w) => {
        const d = w.createDataset('/X', [300, 20], 'float32', { chunks: [64, 20] });
        for (let r0 = 0; r0 < 300; r0 += 100) d.writeRows(r0, Float32Array.from({ length: 2000 }, (_, i) => r0 * 20 + i));
        w.writeDataset('/Facemap/eye/likelihood', new Float32Array([0.25, 0.5]), [2]);
        w.setAttr('/Facemap', 'units', 'pixels');
      });
      const out = runPython(`
import h5py, numpy as np
f = h5py.File('${ours}', 'r')
X = f['X']
assert X.shape == (300, 20) and X.dtype == np.float32 and X.chunks == (64, 20)
assert np.array_equal(X[:], np.arange(6000, dtype=np.float32).reshape(300, 20))
print(f['Facemap/eye/likelihood'][:].tolist(), f['Facemap'].attrs['units'])
theirs = h5py.File('${dir}/theirs.h5', 'w')
theirs.create_dataset('g/Y', data=np.arange(12, dtype='<f8').reshape(3, 4), chunks=(1, 4), compression='gzip')
theirs.create_dataset('Z', data=np.arange(6, dtype='>i2'))
theirs['g'].attrs['note'] = 'from h5py'
theirs.close()
`);
      assert.equal(out.trim(), '[0.25, 0.5] pixels');
      await withH5(path.join(dir, 'theirs.h5'), (r) => {
        assert.deepEqual(r.datasets(), ['/Z', '/g/Y']);
        const y = r.readSlice('/g/Y', [[1, 3]]);
        assert.deepEqual([y.shape, Array.from(y.data as Float64Array)], [[2, 4], [4, 5, 6, 7, 8, 9, 10, 11]]);
        assert.equal(r.info('/Z').dtype, 'int16');
        assert.deepEqual(Array.from(r.read('/Z').data as Int16Array), [0, 1, 2, 3, 4, 5]);
        assert.equal(r.attrs('/g').note, 'from h5py');
      });
    });
  });
});

describe('HDF5 reproducibility', () => {
  it('the same content written twice, seconds apart, gives byte-identical files', async function () {
    this.timeout(20000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-h5-det-'));
    const make = (name: string) =>
      writeH5(path.join(dir, name), (w) => {
        w.setAttr('/', 'note', 'same content');
        w.writeDataset('/g/a', new Float32Array([1, 2, 3]), [3]);
        w.createDataset('/g/b', [4, 2], 'float64').writeRows(0, new Float64Array(8).fill(0.5));
      });
    await make('a.h5');
    await new Promise((r) => setTimeout(r, 1100));
    await make('b.h5');
    assert.ok(fs.readFileSync(path.join(dir, 'a.h5')).equals(fs.readFileSync(path.join(dir, 'b.h5'))));
    assert.ok(Date.now() > 1e12, 'the real clock is untouched after writing');
  });
});
