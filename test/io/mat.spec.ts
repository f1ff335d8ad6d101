import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FormatError } from '../../src/errors';
import { matNumeric, MatValue, parseMat, readMat } from '../../src/io/mat';
import { sharedOrSkip } from '../helpers/shared';
import { pythonOrSkip, runPython } from '../helpers/python';

/**
 * Tolerance against scipy.io.loadmat values: relative 1e-6 (max(1, |expected|) scale). The arrays are
 * float32; sums are taken in float64 on both sides, so only summation order differs.
 */
const REL_TOL = 1e-6;

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= REL_TOL * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

function num(v: MatValue | undefined): number[] {
  assert.ok(v && v.kind === 'numeric');
  return Array.from(v.data as ArrayLike<number>);
}

describe('io/mat', () => {
  it('rejects missing files, non-MAT files and v7.3 (HDF5) files with FormatError naming the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-mat-'));
    const missing = path.join(dir, 'nope.mat');
    assert.throws(() => readMat(missing), (e: unknown) => e instanceof FormatError && e.file === missing);
    assert.throws(() => parseMat(Buffer.alloc(200), 'zeros.mat'), /zeros\.mat: not a MATLAB v5\/v7 \.mat file/);
    const v73 = Buffer.alloc(600);
    v73.write('MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: ... HDF5 schema 1.00 .', 0, 'latin1');
    v73.writeUInt16LE(0x0200, 124);
    v73.write('IM', 126, 'latin1');
    assert.throws(() => parseMat(v73, 'new.mat'), /new\.mat: is a MATLAB v7\.3 \.mat file, which is HDF5: read it with the HDF5 reader/);
  });

  describe('real data: stringer2019', () => {
    it('reads exampleMovie.mat: exframes 240x320x2 and exmotionMask 240x320x5 single, row-major', function () {
      const file = sharedOrSkip(this, 'stringer2019', 'behavior', 'exampleMovie.mat');
      const vars = readMat(file);
      const ex = matNumeric(vars, 'exframes', file);
      assert.equal(ex.class, 'single');
      assert.deepEqual(ex.shape, [240, 320, 2]);
      assert.ok(ex.data instanceof Float32Array);
      // Checked against scipy.io.loadmat: exframes[0, :3, 0] = [36, 30, 34], exframes[100, 200, 1] = 456.
      const at = (i: number, j: number, k: number): number => ex.data[(i * 320 + j) * 2 + k] as number;
      assert.deepEqual([at(0, 0, 0), at(0, 1, 0), at(0, 2, 0), at(100, 200, 1)], [36, 30, 34, 456]);
      const mask = matNumeric(vars, 'exmotionMask', file);
      assert.deepEqual(mask.shape, [240, 320, 5]);
      close(mask.data[(10 * 320 + 20) * 5 + 3] as number, -0.00026594722, 'exmotionMask[10, 20, 3]');
      const colMajor = matNumeric(readMat(file, { order: 'F', only: ['exframes'] }), 'exframes', file);
      assert.equal(colMajor.data[1], at(1, 0, 0)); // column-major: element (1, 0, 0) comes second
    });

    it('reads PCApred.mat: expv_neurons 11x9 and the results struct of 1x9 cells of 1000x11', function () {
      const file = sharedOrSkip(this, 'stringer2019', 'multiDactivity', 'PCApred.mat');
      const vars = readMat(file);
      const expv = matNumeric(vars, 'expv_neurons', file);
      assert.deepEqual(expv.shape, [11, 9]);
      close(expv.data[0] as number, 0.02880508, 'expv_neurons[0, 0]');
      close(expv.data[1] as number, 0.05134737, 'expv_neurons[0, 1]');
      close(expv.data[10 * 9 + 8] as number, 0.0454731, 'expv_neurons[10, 8]');
      const results = vars.results;
      assert.ok(results.kind === 'struct');
      assert.deepEqual(results.fields, ['resid', 'totvar']);
      const resid = results.elements[0].resid;
      assert.ok(resid.kind === 'cell');
      assert.deepEqual(resid.shape, [1, 9]);
      assert.deepEqual(resid.cells[0].shape, [1000, 11]);
      close(num(resid.cells[0])[1], 13695.601, 'results.resid{1}(1, 2)');
      close(num(resid.cells[8])[0], 3717.1792, 'results.resid{9}(1, 1)');
    });

    it('agrees with scipy.io.loadmat on sums and samples of every array', function () {
      const file = sharedOrSkip(this, 'stringer2019', 'multiDactivity', 'PCApred.mat');
      const movie = sharedOrSkip(this, 'stringer2019', 'behavior', 'exampleMovie.mat');
      pythonOrSkip(this, 'scipy');
      const out = JSON.parse(
        runPython(`
import json, numpy as np, scipy.io as sio
m = sio.loadmat('${movie}'); p = sio.loadmat('${file}')
r = p['results'][0, 0]
print(json.dumps({
  'exframes': float(m['exframes'].astype(np.float64).sum()),
  'mask': m['exmotionMask'][239, 319, :].astype(float).tolist(),
  'expv': p['expv_neurons'].astype(float).ravel().tolist(),
  'totvar7': float(r['totvar'][0, 7].astype(np.float64).sum()),
}))`),
      ) as { exframes: number; mask: number[]; expv: number[]; totvar7: number };
      const m = readMat(movie);
      const ex = num(m.exframes);
      close(ex.reduce((a, b) => a + b, 0), out.exframes, 'sum(exframes)');
      num(m.exmotionMask).slice(-5).forEach((v, i) => close(v, out.mask[i], `exmotionMask[239, 319, ${i}]`));
      const p = readMat(file);
      num(p.expv_neurons).forEach((v, i) => close(v, out.expv[i], `expv_neurons flat ${i}`));
      const r = p.results;
      assert.ok(r.kind === 'struct');
      const tv = r.elements[0].totvar;
      assert.ok(tv.kind === 'cell');
      close(num(tv.cells[7]).reduce((a, b) => a + b, 0), out.totvar7, 'sum(totvar{8})');
    });
  });

  describe('files written by scipy.io.savemat', function () {
    let dir = '';
    before(function () {
      pythonOrSkip(this, 'scipy');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-mat-'));
      runPython(`
import numpy as np, scipy.io as sio, scipy.sparse as sp
a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
cell = np.empty((1, 2), dtype=object); cell[0, 0] = np.array([[1, 2, 3]], dtype=np.int16); cell[0, 1] = 'hi'
s = {'gain': np.float32(2.5), 'name': 'eye', 'mask': np.array([[True, False]])}
d = dict(a=a, i8=np.array([[-3, 4]], dtype=np.int64), u16=np.array([[7, 8]], dtype=np.uint16), c=np.array([[1+2j, 3-4j]]),
         txt='hello', rows=np.array(['ab', 'cd']), cell=cell, s=s, small=np.array([[5.0]]))
for comp in (False, True):
    sio.savemat('${dir}/d%d.mat' % comp, d, do_compression=comp)
sio.savemat('${dir}/sparse.mat', {'ok': np.eye(2), 'sp': sp.csc_matrix(np.eye(3))})
`);
    });

    for (const comp of [0, 1]) {
      it(`reads numeric, int64, complex, char, cell and struct values (${comp ? 'compressed' : 'uncompressed'})`, () => {
        const v = readMat(path.join(dir, `d${comp}.mat`));
        const a = v.a;
        assert.ok(a.kind === 'numeric');
        assert.equal(a.class, 'double');
        assert.deepEqual(a.shape, [2, 3, 4]);
        assert.deepEqual(num(a), Array.from({ length: 24 }, (_, i) => i));
        assert.ok(v.i8.kind === 'numeric' && v.i8.data instanceof BigInt64Array);
        assert.deepEqual(Array.from(v.i8.data), [-3n, 4n]);
        assert.ok(v.u16.kind === 'numeric' && v.u16.class === 'uint16');
        assert.ok(v.c.kind === 'numeric' && v.c.imag);
        assert.deepEqual([num(v.c), Array.from(v.c.imag as Float64Array)], [[1, 3], [2, -4]]);
        assert.deepEqual(v.txt, { kind: 'char', shape: [1, 5], rows: ['hello'] });
        assert.ok(v.rows.kind === 'char');
        assert.deepEqual(v.rows.rows, ['ab', 'cd']);
        assert.ok(v.cell.kind === 'cell');
        assert.deepEqual(num(v.cell.cells[0]), [1, 2, 3]);
        assert.ok(v.cell.cells[1].kind === 'char' && v.cell.cells[1].rows[0] === 'hi');
        assert.ok(v.s.kind === 'struct');
        assert.deepEqual(v.s.fields, ['gain', 'name', 'mask']);
        const rec = v.s.elements[0];
        assert.deepEqual(num(rec.gain), [2.5]);
        assert.ok(rec.mask.kind === 'numeric' && rec.mask.class === 'logical');
        assert.deepEqual(num(rec.mask), [1, 0]);
        assert.deepEqual(num(v.small), [5]);
      });
    }

    it('names the variable of an unsupported sparse array', () => {
      const file = path.join(dir, 'sparse.mat');
      assert.throws(() => readMat(file), /sparse\.mat: variable 'sp' holds a sparse array \(mxSPARSE_CLASS\)/);
      assert.deepEqual(num(readMat(file, { only: ['ok'] }).ok), [1, 0, 0, 1]);
    });
  });
});
