import * as assert from 'node:assert/strict';
import { ShapeError } from '../../src/errors';
import { figureHtml, keypointColors, keypointTracesFigure } from '../../src/plot';

describe('plot/figures: keypointTracesFigure', () => {
  const n = 1000;
  const K = 2;
  const traces = {
    names: ['eye', 'nose'],
    nFrames: n,
    x: Float32Array.from({ length: n * K }, (_, i) => i),
    y: Float32Array.from({ length: n * K }, (_, i) => -i),
    likelihood: Float32Array.from({ length: n * K }, (_, i) => (i % K) * 0.5 + 0.25),
  };
  traces.x[10 * K + 1] = NaN;

  it('stacks x, y and likelihood panels per keypoint, one legend entry each, gaps for NaN', () => {
    const fig = keypointTracesFigure(traces, { fps: 50 });
    const data = fig.data as { name: string; yaxis: string; showlegend: boolean; x: number[]; y: (number | null)[]; line: { color: string } }[];
    assert.equal(data.length, 6);
    assert.deepEqual(data.map((d) => d.yaxis), ['y', 'y2', 'y3', 'y', 'y2', 'y3']);
    assert.deepEqual(data.map((d) => d.showlegend), [true, false, false, true, false, false]);
    assert.equal(data[3].line.color, `rgb(${keypointColors(2)[1].join(',')})`);
    assert.equal(data[0].x[50], 1); // frame 50 at 50 fps
    assert.equal(data[3].y[10], null);
    assert.equal(data[5].y[0], 0.75);
    assert.equal(data[1].y[3], -6);
    assert.match(figureHtml(fig), /Plotly\.newPlot/);
  });

  it('thins long traces, selects keypoints and windows, and checks shapes', () => {
    const fig = keypointTracesFigure(traces, { keypoints: ['nose'], start: 100, end: 600, maxPoints: 100 });
    const d = fig.data as { x: number[] }[];
    assert.equal(d.length, 3);
    assert.equal(d[0].x.length, 100);
    assert.equal(d[0].x[0], 100);
    assert.equal(d[0].x[1], 105);
    assert.throws(() => keypointTracesFigure(traces, { keypoints: ['paw'] }), ShapeError);
    assert.throws(() => keypointTracesFigure({ ...traces, nFrames: n + 1 }), ShapeError);
  });
});
