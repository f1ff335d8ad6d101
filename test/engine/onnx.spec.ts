import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineError, ParamError } from '../../src/errors';
import { buildModel, matmulModel, node, valueInfo } from '../../src/engine/onnx-build';
import { cachedSession, createSession, createSessionAsync, float32Tensor, ortInfo } from '../../src/engine/onnx';

describe('engine/onnx: ONNX Runtime sessions', () => {
  it('reports version, provider, threads and synchronous runs', () => {
    const info = ortInfo();
    assert.equal(info.available, true);
    assert.match(info.version ?? '', /^\d+\.\d+\.\d+/);
    assert.equal(info.threads, os.availableParallelism());
    assert.equal(info.syncRun, true);
    // CUDA binaries are not installed by the npm package: CPU unless a GPU build is present.
    assert.equal(info.provider, info.cudaLibrary ? info.provider : 'cpu');
    assert.ok(info.listedProviders.includes('cpu'));
  });

  it('one MatMul model with symbolic dims serves several shapes, sync and async', async () => {
    const s = createSession(matmulModel());
    assert.deepEqual([...s.inputNames], ['A', 'B']);
    assert.equal(s.sync, true);
    assert.equal(s.threads, os.availableParallelism());
    const a = float32Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const b = float32Tensor(Float32Array.from([1, 0, 0, 1, 1, 1]), [3, 2]);
    assert.deepEqual([...s.runSync({ A: a, B: b }).C.data as Float32Array], [4, 5, 10, 11]);
    const c = float32Tensor(Float32Array.from([2]), [1, 1]);
    const r = await s.run({ A: c, B: c });
    assert.deepEqual(r.C.dims, [1, 1]);
    assert.equal((r.C.data as Float32Array)[0], 4);
    s.dispose();
  });

  it('loads from a file path and asynchronously', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-onnx-'));
    const file = path.join(dir, 'mm.onnx');
    fs.writeFileSync(file, matmulModel(false, true));
    const s = await createSessionAsync(file);
    // Gemm with transB: A (1 x 2) @ B^T where B is (3 x 2)
    const out = s.runSync({
      A: float32Tensor(Float32Array.from([1, 2]), [1, 2]),
      B: float32Tensor(Float32Array.from([1, 0, 0, 1, 1, 1]), [3, 2]),
    });
    assert.deepEqual([...(out.C.data as Float32Array)], [1, 2, 3]);
    s.dispose();
    fs.rmSync(dir, { recursive: true });
  });

  it('builds multi-node graphs with attributes', () => {
    const bytes = buildModel({
      name: 'scale_t',
      nodes: [node('Transpose', ['X'], ['T'], { perm: [1, 0] }), node('Mul', ['T', 'T'], ['Y'])],
      inputs: [valueInfo('X', ['a', 'b'])],
      outputs: [valueInfo('Y', ['b', 'a'])],
    });
    const s = createSession(bytes);
    const y = s.runSync({ X: float32Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]) }).Y;
    assert.deepEqual(y.dims, [3, 2]);
    assert.deepEqual([...(y.data as Float32Array)], [1, 16, 4, 25, 9, 36]);
    s.dispose();
  });

  it('caches sessions per key and options', () => {
    let builds = 0;
    const build = (): Uint8Array => (builds++, matmulModel());
    const a = cachedSession('test-cache', build);
    const b = cachedSession('test-cache', build);
    const c = cachedSession('test-cache', build, { threads: 1 });
    assert.equal(a, b);
    assert.notEqual(a, c);
    assert.equal(builds, 2);
  });

  it('throws typed errors for bad models, providers and options', () => {
    assert.throws(() => createSession(Uint8Array.from([1, 2, 3])), EngineError);
    if (!ortInfo().cudaLibrary) assert.throws(() => createSession(matmulModel(), { providers: ['cuda'] }), EngineError);
    assert.throws(() => createSession(matmulModel(), { threads: 0 }), ParamError);
  });
});
