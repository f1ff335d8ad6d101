import * as assert from 'node:assert/strict';
import { ParamError, ShapeError } from '../../src/errors';
import { figureHtml, imageFigure, keypointColors, keypointTracesFigure } from '../../src/plot';

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

describe('plot/figures: imageFigure', () => {
  // 5 x 7 frame whose value is 10 * row + column.
  const H = 5;
  const W = 7;
  const frame = Float32Array.from({ length: H * W }, (_, i) => 10 * Math.floor(i / W) + (i % W));

  it('draws the frame as it is by default, and bins blocks keeping frame-pixel axes', () => {
    const plain = imageFigure(frame, H, W).data[0] as { z: number[][]; dx?: number };
    assert.equal(plain.z.length, H);
    assert.equal(plain.z[4][6], 46);
    assert.equal(plain.dx, undefined);
    const binned = imageFigure(frame, H, W, { bin: 2 }).data[0] as { z: number[][]; x0: number; dx: number; y0: number; dy: number };
    assert.deepEqual([binned.z.length, binned.z[0].length], [2, 3]);
    // block rows 2-3, columns 4-5: mean of 24, 25, 34, 35
    assert.equal(binned.z[1][2], 29.5);
    assert.deepEqual([binned.x0, binned.dx, binned.y0, binned.dy], [0.5, 2, 0.5, 2]);
    assert.throws(() => imageFigure(frame, H, W, { bin: 0 }), ParamError);
    assert.throws(() => imageFigure(frame, H, W, { bin: 6 }), ParamError);
    assert.throws(() => imageFigure(frame, H + 1, W), ShapeError);
  });

  it('adds named marker sets with a legend, leaving out NaN points', () => {
    const fig = imageFigure(frame, H, W, {
      markers: [
        { name: 'true', x: [1, NaN, 3], y: [1, 2, 3], text: ['a', 'b', 'c'], color: ['red', 'green', 'blue'] },
        { name: 'predicted', x: [1.5], y: [2.5], symbol: 'x' },
      ],
    });
    const d = fig.data as { name?: string; x?: number[]; text?: string[]; marker?: { color: unknown; symbol: string } }[];
    assert.equal(d.length, 3);
    assert.deepEqual([d[1].name, d[1].x, d[1].text, d[1].marker!.color], ['true', [1, 3], ['a', 'c'], ['red', 'blue']]);
    assert.equal(d[2].marker!.symbol, 'x');
    const layout = fig.layout as { showlegend: boolean; xaxis: { range: number[] }; yaxis: { range: number[] } };
    assert.equal(layout.showlegend, true);
    assert.deepEqual([layout.xaxis.range, layout.yaxis.range], [[-0.5, W - 0.5], [H - 0.5, -0.5]]);
    assert.throws(() => imageFigure(frame, H, W, { markers: [{ name: 'bad', x: [1, 2], y: [1] }] }), ShapeError);
  });
});
