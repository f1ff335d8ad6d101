import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FormatError, ShapeError } from '../../src/errors';
import { encodeNpy, parseNpy, readNpy, toFloat64, writeNpy } from '../../src/io/npy';
import { pythonOrSkip, runPython } from '../helpers/python';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fm-npy-'));
}

describe('io/npy', () => {
  it('round-trips every writable dtype with its shape', () => {
    const dir = tmpDir();
    const cases = [
      new Float32Array([1.5, -2, 3, 4, 5, 6]),
      new Float64Array([1e-300, 2, 3, 4, 5, Math.PI]),
      new Int8Array([-128, 127, 0, 1, 2, 3]),
      new Int16Array([-32768, 32767, 0, 1, 2, 3]),
      new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0, 1, 2, 3]),
      new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, 1n, 2n, 3n]),
      new Uint8Array([0, 255, 1, 2, 3, 4]),
      new Uint16Array([0, 65535, 1, 2, 3, 4]),
      new Uint32Array([0, 2 ** 32 - 1, 1, 2, 3, 4]),
      new BigUint64Array([0n, 2n ** 64n - 1n, 1n, 2n, 3n, 4n]),
    ];
    for (const data of cases) {
      const file = path.join(dir, 'a.npy');
      writeNpy(file, data, [2, 3]);
      const r = readNpy(file);
      assert.deepEqual(r.shape, [2, 3]);
      assert.equal(r.data.constructor, data.constructor);
      assert.deepEqual(Array.from(r.data as ArrayLike<number>), Array.from(data as ArrayLike<number>));
    }
    writeNpy(path.join(dir, 'b.npy'), new Uint8Array([1, 0, 1]), [3], { bool: true });
    const b = readNpy(path.join(dir, 'b.npy'));
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(Array.from(b.data as Uint8Array), [1, 0, 1]);
    const s = parseNpy(encodeNpy(new Float64Array([7]), []), 'scalar');
    assert.deepEqual(s.shape, []);
    assert.equal(s.data[0], 7);
  });

  it('starts the data on a 64-byte boundary', () => {
    const bytes = encodeNpy(new Float32Array(5), [5]);
    assert.equal((bytes.length - 20) % 64, 0);
  });

  it('throws FormatError naming the file for missing, bad magic, truncated and unsupported dtype', () => {
    const dir = tmpDir();
    const missing = path.join(dir, 'nope.npy');
    assert.throws(() => readNpy(missing), (e: unknown) => e instanceof FormatError && e.file === missing);
    assert.throws(() => parseNpy(Buffer.from('hello world, not npy'), 'x.npy'), /x\.npy: not a NumPy \.npy file/);
    const full = encodeNpy(new Float32Array(100), [10, 10]);
    assert.throws(
      () => parseNpy(full.subarray(0, full.length - 4), 't.npy'),
      /t\.npy: truncated data: shape \[10, 10\] of float32 needs 400 bytes, the file has 396/,
    );
    const complex = Buffer.from(full);
    complex.write("'<c8'", complex.indexOf("'<f4'"), 'latin1');
    assert.throws(() => parseNpy(complex, 'c.npy'), /c\.npy: unsupported dtype '<c8' \(supported: float32/);
  });

  it('reads format versions 2.0 and 3.0 (4-byte header length)', () => {
    const v1 = encodeNpy(new Int16Array([1, -2, 3]), [3]);
    const headerLen = v1[8] | (v1[9] << 8);
    for (const major of [2, 3]) {
      const v = new Uint8Array(v1.length + 2);
      v.set(v1.subarray(0, 8));
      v[6] = major;
      new DataView(v.buffer).setUint32(8, headerLen, true);
      v.set(v1.subarray(10), 12);
      const r = parseNpy(v, `v${major}.npy`);
      assert.deepEqual(Array.from(r.data as Int16Array), [1, -2, 3]);
    }
    const bad = new Uint8Array(v1);
    bad[6] = 4;
    assert.throws(() => parseNpy(bad, 'v4.npy'), /v4\.npy: unsupported \.npy format version 4\.0/);
  });

  it('rejects data whose length does not match the shape', () => {
    assert.throws(() => encodeNpy(new Float32Array(5), [2, 3]), ShapeError);
  });

  it('widens int64 to Float64Array', () => {
    assert.deepEqual(Array.from(toFloat64(new BigInt64Array([-3n, 4n]))), [-3, 4]);
  });

  describe('interop with numpy', function () {
    before(function () {
      pythonOrSkip(this, 'numpy');
    });

    it('reads numpy-written files: C, Fortran order, big-endian, bool, int64, v3.0; rejects object and str', () => {
      const dir = tmpDir();
      runPython(`
import numpy as np
a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5
np.save('${dir}/c.npy', a)
np.save('${dir}/f.npy', np.asfortranarray(a.astype(np.float64)))
np.save('${dir}/be.npy', a.astype('>i4'))
np.save('${dir}/bef.npy', np.asfortranarray(a.astype('>f8')))
np.save('${dir}/bool.npy', np.array([[True, False], [False, True]]))
np.save('${dir}/i8.npy', np.array([-5, 2**40], dtype=np.int64))
np.save('${dir}/obj.npy', np.array(['a', None], dtype=object), allow_pickle=True)
np.save('${dir}/str.npy', np.array(['ab', 'c']))
with open('${dir}/v3.npy', 'wb') as f:
    np.lib.format.write_array(f, np.array([[1, 2], [3, 4]], dtype='>u2'), version=(3, 0))
`);
      const expected = Array.from({ length: 24 }, (_, i) => i * 0.5);
      for (const name of ['c', 'f', 'bef']) {
        const r = readNpy(path.join(dir, `${name}.npy`));
        assert.deepEqual(r.shape, [2, 3, 4], name);
        assert.deepEqual(Array.from(r.data as Float64Array), expected, name);
      }
      const be = readNpy(path.join(dir, 'be.npy'));
      assert.equal(be.dtype, 'int32');
      assert.deepEqual(Array.from(be.data as Int32Array), expected.map(Math.trunc));
      const bool = readNpy(path.join(dir, 'bool.npy'));
      assert.equal(bool.dtype, 'bool');
      assert.deepEqual(Array.from(bool.data as Uint8Array), [1, 0, 0, 1]);
      assert.deepEqual(Array.from(readNpy(path.join(dir, 'i8.npy')).data as BigInt64Array), [-5n, 2n ** 40n]);
      const v3 = readNpy(path.join(dir, 'v3.npy'));
      assert.equal(v3.dtype, 'uint16');
      assert.deepEqual(Array.from(v3.data as Uint16Array), [1, 2, 3, 4]);
      assert.throws(() => readNpy(path.join(dir, 'obj.npy')), /obj\.npy: unsupported dtype '\|O'/);
      assert.throws(() => readNpy(path.join(dir, 'str.npy')), /str\.npy: unsupported dtype '<U2'/);
    });

    it('numpy reads files we wrote', () => {
      const dir = tmpDir();
      writeNpy(path.join(dir, 'a.npy'), new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
      writeNpy(path.join(dir, 'b.npy'), new Uint8Array([1, 0]), [2], { bool: true });
      writeNpy(path.join(dir, 'c.npy'), new BigInt64Array([-(2n ** 62n)]), [1]);
      const out = runPython(`
import numpy as np
a = np.load('${dir}/a.npy'); b = np.load('${dir}/b.npy'); c = np.load('${dir}/c.npy')
print(a.dtype, a.shape, a[1, 2], a.flags['C_CONTIGUOUS'], b.dtype, b.tolist(), c.dtype, c[0])
`);
      assert.equal(out.trim(), `float32 (2, 3) 6.0 True bool [True, False] int64 ${-(2n ** 62n)}`);
    });
  });
});
