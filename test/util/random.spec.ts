import * as assert from 'node:assert/strict';
import { Rng } from '../../src/util/random';
import { ParamError } from '../../src/errors';

describe('util/random: seeded Rng', () => {
  it('same seed gives the same stream; different seeds differ', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xa = Array.from({ length: 100 }, () => a.nextUint32());
    const xb = Array.from({ length: 100 }, () => b.nextUint32());
    const xc = Array.from({ length: 100 }, () => c.nextUint32());
    assert.deepEqual(xa, xb);
    assert.notDeepEqual(xa, xc);
  });

  it('uniform lies in [0, 1) with mean 1/2 and variance 1/12 (tolerance 0.01 at n = 1e5)', () => {
    const r = new Rng(1);
    const n = 100000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      assert.ok(u >= 0 && u < 1);
      s += u;
      s2 += u * u;
    }
    const mean = s / n;
    assert.ok(Math.abs(mean - 0.5) < 0.01);
    assert.ok(Math.abs(s2 / n - mean * mean - 1 / 12) < 0.01);
  });

  it('normal has mean 0, variance 1 and kurtosis 3 (tolerances 0.02, 0.02, 0.1 at n = 1e5)', () => {
    const x = new Rng(7).fillNormal(new Float64Array(100000));
    const n = x.length;
    const mean = x.reduce((a, v) => a + v, 0) / n;
    const v = x.reduce((a, xi) => a + (xi - mean) ** 2, 0) / n;
    const k = x.reduce((a, xi) => a + (xi - mean) ** 4, 0) / n / (v * v);
    assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    assert.ok(Math.abs(v - 1) < 0.02, `variance ${v}`);
    assert.ok(Math.abs(k - 3) < 0.1, `kurtosis ${k}`);
  });

  it('int(n) covers [0, n) and rejects bad n and seeds', () => {
    const r = new Rng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(r.int(5));
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
    assert.throws(() => r.int(0), ParamError);
    assert.throws(() => new Rng(1.5), ParamError);
  });
});
