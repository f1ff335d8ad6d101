import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { BACKEND_ORDER, EngineError, ParamError, describeBackend, initBackend, parseBackendChoice, probeBackend } from '../../src';

const CLI = path.resolve(__dirname, '../../src/cli/main.js');

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('tfjs backend choice', () => {
  after(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('tries node-gpu, node, wasm, cpu in that order', () => {
    assert.deepEqual([...BACKEND_ORDER], ['node-gpu', 'node', 'wasm', 'cpu']);
  });

  it('picks the first candidate that works and says why earlier ones were skipped', async () => {
    const saved = process.env.FACEMAP_BACKEND;
    delete process.env.FACEMAP_BACKEND;
    try {
      const info = await initBackend({ refresh: true });
      assert.equal(tf.getBackend(), info.tfjsBackend);
      const order = BACKEND_ORDER.indexOf(info.choice);
      assert.deepEqual(
        info.skipped.map((s) => s.choice),
        BACKEND_ORDER.slice(0, order),
      );
      for (const s of info.skipped) assert.match(s.reason, /\S/);
      assert.match(describeBackend(info), new RegExp(`tfjs backend: ${info.choice}`));
      if (info.choice === 'wasm') assert.deepEqual(info.addedKernels.length, 4);
    } finally {
      if (saved !== undefined) process.env.FACEMAP_BACKEND = saved;
    }
  });

  it('accepts a package by capability, not by name: plain tfjs posing as tfjs-node is rejected', async () => {
    // danfojs-node's install override makes '@tensorflow/tfjs-node' an alias of plain tfjs.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-alias-'));
    const fake = path.join(dir, 'tfjs-node-alias.js');
    fs.writeFileSync(fake, `module.exports = require(${JSON.stringify(require.resolve('@tensorflow/tfjs'))});\n`);
    const reason = await probeBackend('node', fake);
    assert.match(reason ?? '', /registered no 'tensorflow' backend/);
  });

  it('FACEMAP_BACKEND forces a backend, and the choice is reported as forced', async () => {
    const saved = process.env.FACEMAP_BACKEND;
    process.env.FACEMAP_BACKEND = 'cpu';
    try {
      const info = await initBackend();
      assert.equal(info.choice, 'cpu');
      assert.equal(info.forcedBy, 'FACEMAP_BACKEND');
      assert.equal(tf.getBackend(), 'cpu');
      assert.match(info.warning ?? '', /100x slower/);
    } finally {
      if (saved === undefined) delete process.env.FACEMAP_BACKEND;
      else process.env.FACEMAP_BACKEND = saved;
    }
  });

  it('rejects unknown names with a ParamError naming the variable and the allowed values', () => {
    assert.throws(() => parseBackendChoice('gpux'), (e: unknown) => e instanceof ParamError && /FACEMAP_BACKEND = "gpux".*node-gpu, node, wasm, cpu/.test(e.message));
    assert.equal(parseBackendChoice('TensorFlow'), 'node');
  });

  it('forcing a backend that is not installed is an EngineError, not a silent fallback', async function () {
    let installed = true;
    try {
      require.resolve('@tensorflow/tfjs-node-gpu');
    } catch {
      installed = false;
    }
    if (installed) this.skip();
    await assert.rejects(initBackend({ backend: 'node-gpu' }), (e: unknown) => e instanceof EngineError && /node-gpu/.test(e.message));
  });
});

describe('facemap-ts CLI', () => {
  it('info reports the backend in use and exits 0', () => {
    const r = cli(['info'], { FACEMAP_BACKEND: 'wasm' });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /tfjs backend: wasm \(SIMD, \+4 gradient kernels, forced by FACEMAP_BACKEND\)/);
    assert.match(r.out, /onnxruntime/);
  });

  it('info --json prints one parsable object', () => {
    const r = cli(['info', '--json'], { FACEMAP_BACKEND: 'wasm' });
    assert.equal(r.code, 0, r.err);
    const parsed = JSON.parse(r.out) as { backend: { choice: string } };
    assert.equal(parsed.backend.choice, 'wasm');
  });

  it('errors are one readable line with a meaningful exit code', () => {
    const bad = cli(['info'], { FACEMAP_BACKEND: 'bogus' });
    assert.equal(bad.code, 2);
    assert.equal(bad.err.trim().split('\n').length, 1);
    assert.match(bad.err, /FACEMAP_BACKEND = "bogus"/);
    assert.equal(cli(['nonsense']).code, 2);
    assert.equal(cli(['info', '--frobnicate']).code, 2);
    assert.equal(cli(['info', '--help']).code, 0);
  });
});
