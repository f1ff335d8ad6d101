/** Cluster figures: traces, shapes and the data they carry. */
import * as assert from 'node:assert/strict';
import { ShapeError } from '../../src/errors';
import { clusterMapFigure, cortexMapFigure, figureHtml, sortedRasterFigure, spreadVeFigure, varianceMapFigure } from '../../src/plot';

type Trace = { x: number[]; y: number[]; z: number[][]; marker: { color: number[] | string; cmin: number; cmax: number; size: number[] }; xaxis: string };

describe('plot: cluster figures', () => {
  const N = 10;
  const pos = Float32Array.from({ length: 2 * N }, (_, i) => 10 * i);
  const labels = Int32Array.from([0, 1, 2, -1, 0, 1, 2, -1, 0, 1]);

  it('cortex maps: background grey, clusters coloured by id, VE from 0; every k-th neuron beyond maxPoints', () => {
    const f = clusterMapFigure(pos, labels);
    const [grey, main] = f.data as Trace[];
    assert.equal(grey.x.length, 2);
    assert.equal(grey.marker.color, '#bbbbbb');
    assert.deepEqual(main.marker.color, [0, 1, 2, 0, 1, 2, 0, 1]);
    assert.deepEqual([main.x[1], main.y[1]], [20, 30]);
    const ve = Float32Array.from([0.1, 0.5, NaN, 0.3, 0.2, 0.4, 0.6, 0.1, 0.2, 0.3]);
    const v = varianceMapFigure(pos, ve).data as Trace[];
    assert.equal(v.length, 2);
    assert.deepEqual([v[1].marker.cmin, v[1].marker.cmax], [0, 0.6]);
    const sub = cortexMapFigure(pos, ve, { maxPoints: 5 }).data as Trace[];
    assert.equal(sub.reduce((s, t) => s + t.x.length, 0), 5);
    assert.throws(() => cortexMapFigure(pos.subarray(2), ve), ShapeError);
  });

  it('spread versus VE: finite clusters only, size sets the marker, correlation in the title', () => {
    const f = spreadVeFigure([0.1, NaN, 0.5], [1, 0.5, 0.2], [10, 20, 40], { model: 'ridge', correlation: { r: -0.9, lo: -1, hi: -0.5, level: 0.95 } });
    const t = (f.data as Trace[])[0];
    assert.deepEqual(t.x, [0.1, 0.5]);
    assert.ok(t.marker.size[1] > t.marker.size[0]);
    assert.match(JSON.stringify(f.layout), /r = -0.90, 95% CI \[-1.00, -0.50\]/);
    assert.throws(() => spreadVeFigure([1], [1, 2], [1]), ShapeError);
    // coherent flags: two traces, incoherent clusters as rings; the title names the coherent clusters
    const g = spreadVeFigure([0.1, 0.3, 0.5], [1, 0.5, 0.2], [10, 20, 40], { coherent: [1, 0, 1], correlation: { r: -0.8, lo: -1, hi: -0.2, level: 0.95 } });
    const [on, off] = g.data as Trace[];
    assert.deepEqual([on.x, off.x], [[0.1, 0.5], [0.3]]);
    assert.match(JSON.stringify(g.layout), /coherent clusters: r = -0.80/);
    assert.throws(() => spreadVeFigure([1], [1], [1], { coherent: [1, 0] }), ShapeError);
  });

  it('sorted raster: two panels of rows x cols, rows z-scored; one panel without a prediction', () => {
    const rows = 3;
    const cols = 4;
    const act = Float32Array.from({ length: rows * cols }, (_, i) => i * i);
    const pred = Float32Array.from(act, (v) => 2 * v + 1);
    const f = sortedRasterFigure(act, pred, rows, cols, { model: 'enc' });
    const [a, p] = f.data as Trace[];
    assert.equal(a.z.length, rows);
    assert.equal(a.z[0].length, cols);
    for (const row of a.z) assert.ok(Math.abs(row.reduce((s, v) => s + v, 0)) < 0.05);
    assert.deepEqual(p.z, a.z);
    assert.equal(p.xaxis, 'x2');
    assert.equal(sortedRasterFigure(act, null, rows, cols).data.length, 1);
    assert.throws(() => sortedRasterFigure(act, pred.subarray(1), rows, cols), ShapeError);
    assert.match(figureHtml(f), /Plotly\.newPlot/);
  });
});
