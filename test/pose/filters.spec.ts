/**
 * Trace clean-up. Against Facemap's own functions (facemap.utils.filter_outliers,
 * facemap.keypoints.get_confidence_threshold) when FACEMAP_SRC points to a Facemap checkout and the
 * system Python has its imports; against scipy's gaussian_filter1d when scipy is there. Tolerance
 * 1e-9 (both sides compute in float64).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ParamError } from '../../src/errors';
import { writeNpy, readNpy } from '../../src/io/npy';
import { confidenceOutliers, filterOutliers, filterTraces, gaussianFilter1d, nanMedianFilter, resolveFilterConfig } from '../../src/pose';
import { Rng } from '../../src/util/random';
import { pythonOrSkip, runPython } from '../helpers/python';
import { tempDir } from './pose-data';

/** A whisker-like trace: slow sine + noise, with planted spikes and a jump, nFrames long. */
function plantedTrace(n: number, seed: number): { x: Float64Array; y: Float64Array; spikes: number[] } {
  const rng = new Rng(seed);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    x[t] = 100 + 10 * Math.sin(t / 20) + rng.normal() * 0.5;
    y[t] = 50 + 5 * Math.cos(t / 30) + rng.normal() * 0.5;
  }
  const spikes = [40, 41, 130, 250, 251, 252];
  for (const t of spikes) x[t] += 60;
  x[300] = NaN;
  y[300] = NaN;
  return { x, y, spikes };
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
};

describe('pose/filters', () => {
  let dir: string;
  before(() => {
    dir = tempDir('filters');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('nanMedianFilter: Facemap window placement, repeated edges, NaN skipped, even counts averaged', () => {
    // win 3: frame t sees x[t-1..t+1] (edges repeated).
    assert.deepEqual([...nanMedianFilter([5, 1, 3, 9, 2], 3)], [5, 3, 3, 3, 2]);
    // win 4: frame t sees x[t-2..t+1]: [5,5,5,1] -> 5, [5,5,1,3] -> 4, [5,1,3,9] -> 4, [1,3,9,2] -> 2.5, [3,9,2,2] -> 2.5.
    assert.deepEqual([...nanMedianFilter([5, 1, 3, 9, 2], 4)], [5, 4, 4, 2.5, 2.5]);
    assert.deepEqual([...nanMedianFilter([NaN, 2, NaN, 4], 3)], [2, 2, 3, 4]);
    assert.ok(Number.isNaN(nanMedianFilter([NaN, NaN, NaN], 3)[1]));
  });

  it('gaussianFilter1d keeps constants and matches scipy (reflected edges, kernels longer than the trace)', function () {
    const c = gaussianFilter1d(new Float64Array(50).fill(3), 7);
    c.forEach((v) => assert.ok(Math.abs(v - 3) < 1e-12));
    const rng = new Rng(2);
    const x = Float64Array.from({ length: 300 }, () => rng.uniform());
    pythonOrSkip(this, 'numpy', 'scipy');
    const inFile = path.join(dir, 'g.npy');
    writeNpy(inFile, x, [x.length]);
    for (const sigma of [3, 200]) {
      const out = path.join(dir, `g${sigma}.npy`);
      runPython(`import numpy as np; from scipy.ndimage import gaussian_filter1d as g; np.save(${JSON.stringify(out)}, g(np.load(${JSON.stringify(inFile)}), ${sigma}))`);
      close(gaussianFilter1d(x, sigma), readNpy(out).data as Float64Array, 1e-9, `sigma ${sigma}`);
    }
  });

  it('filterOutliers removes planted spikes and refills them near the true trace', () => {
    const n = 400;
    const { x, y, spikes } = plantedTrace(n, 3);
    const clean = plantedTrace(n, 3);
    for (const t of spikes) clean.x[t] -= 60;
    const r = filterOutliers(x, y);
    assert.ok(r.replaced >= spikes.length + 1, `replaced ${r.replaced}`);
    for (const t of spikes) assert.ok(Math.abs(r.x[t] - clean.x[t]) < 3, `frame ${t}: ${r.x[t]} vs ${clean.x[t]}`);
    // The missing frame is filled between its neighbours.
    assert.ok(Math.abs(r.x[300] - (x[299] + x[301]) / 2) < 3 && Math.abs(r.y[300] - (y[299] + y[301]) / 2) < 3, `frame 300: ${r.x[300]}, ${r.y[300]}`);
    // Untouched frames stay exactly as they were; the input is not modified.
    assert.equal(r.x[10], x[10]);
    assert.equal(x[40], clean.x[40] + 60);
  });

  it('confidenceOutliers flags a sudden drop of the likelihood, not slow drifts or noise', () => {
    const rng = new Rng(4);
    const n = 2000;
    const l = Float64Array.from({ length: n }, (_, t) => 0.8 + 0.1 * Math.sin(t / 300) + 0.005 * rng.normal());
    for (let t = 1000; t < 1004; t++) l[t] = 0.05;
    const drop = confidenceOutliers(l);
    const flagged = drop.flatMap((d, t) => (d ? [t] : []));
    assert.deepEqual(flagged, [1000, 1001, 1002, 1003]);
  });

  it('filterTraces: per keypoint, raw traces untouched, likelihood kept, each filter optional', () => {
    const n = 400;
    const a = plantedTrace(n, 5);
    const b = plantedTrace(n, 6);
    const K = 2;
    const traces = { names: ['a', 'b'], nFrames: n, x: new Float32Array(n * K), y: new Float32Array(n * K), likelihood: new Float32Array(n * K).fill(0.9) };
    for (let t = 0; t < n; t++) {
      traces.x[t * K] = a.x[t];
      traces.y[t * K] = a.y[t];
      traces.x[t * K + 1] = b.x[t];
      traces.y[t * K + 1] = b.y[t];
    }
    const rawX = traces.x.slice();
    const { traces: f, report } = filterTraces(traces);
    assert.deepEqual(traces.x, rawX);
    assert.deepEqual(f.likelihood, traces.likelihood);
    assert.deepEqual(report.keypoints, ['a', 'b']);
    assert.deepEqual(report.lowConfidence, [0, 0]);
    assert.ok(report.replaced.every((r) => r >= 7));
    assert.ok(f.x.every((v) => !Number.isNaN(v)));
    const only = filterTraces(traces, { outliers: false });
    assert.ok(Number.isNaN(only.traces.x[300 * K]), 'without the outlier filter NaN frames stay NaN');
    assert.equal(only.traces.x[40 * K], traces.x[40 * K]);
    assert.throws(() => resolveFilterConfig({ outliers: { baselineWindow: 2.5 } }), ParamError);
  });

  it("matches Facemap's own filter_outliers and confidence threshold", function () {
    const src = process.env.FACEMAP_SRC;
    if (!src || !fs.existsSync(path.join(src, 'facemap', 'utils.py'))) {
      console.log('      (skipped: FACEMAP_SRC does not point to a Facemap checkout)');
      this.skip();
    }
    pythonOrSkip(this, 'numpy', 'scipy', 'cv2', 'h5py', 'torch', 'sklearn', 'pandas');
    const n = 3000;
    const { x, y } = plantedTrace(n, 7);
    const rng = new Rng(8);
    const l = Float64Array.from({ length: n }, (_, t) => 0.7 + 0.1 * Math.sin(t / 400) + 0.02 * rng.normal());
    for (const t of [500, 501, 1700]) l[t] = 0.01;
    const files = { x: path.join(dir, 'x.npy'), y: path.join(dir, 'y.npy'), l: path.join(dir, 'l.npy') };
    writeNpy(files.x, x, [n]);
    writeNpy(files.y, y, [n]);
    writeNpy(files.l, l, [n]);
    const out = (k: string) => path.join(dir, `fm_${k}.npy`);
    runPython(
      [
        'import sys, numpy as np',
        `sys.path.insert(0, ${JSON.stringify(src)})`,
        'from facemap.utils import filter_outliers',
        'from facemap.keypoints import get_confidence_threshold',
        `x = np.load(${JSON.stringify(files.x)}); y = np.load(${JSON.stringify(files.y)}); l = np.load(${JSON.stringify(files.l)})`,
        'b, thr = get_confidence_threshold(l[:, None])',
        `np.save(${JSON.stringify(out('drop'))}, (b[:, 0] < thr[0]).astype(np.float64))`,
        'fx, fy = filter_outliers(x.copy(), y.copy())',
        `np.save(${JSON.stringify(out('x'))}, fx); np.save(${JSON.stringify(out('y'))}, fy)`,
      ].join('\n'),
    );
    const drop = confidenceOutliers(l).map((d) => (d ? 1 : 0));
    close(drop, readNpy(out('drop')).data as Float64Array, 0, 'confidence drops');
    const r = filterOutliers(x, y);
    close(r.x, readNpy(out('x')).data as Float64Array, 1e-9, 'x');
    close(r.y, readNpy(out('y')).data as Float64Array, 1e-9, 'y');
  });
});
