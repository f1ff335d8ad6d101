/** Figure builders shared by notebooks, the HTML report and static export. */
import { ShapeError } from '../errors';
import type { Figure } from './notebook';

/**
 * A grey image as a plotly heatmap, y axis pointing down as in image coordinates.
 * frame: height x width, row-major, any numeric range (shown 0..255 unless `zmax` is given).
 */
export function imageFigure(
  frame: ArrayLike<number>,
  height: number,
  width: number,
  options: { title?: string; zmin?: number; zmax?: number; points?: { x: number[]; y: number[]; text?: string[] } } = {},
): Figure {
  if (frame.length !== height * width) {
    throw new ShapeError(`image has ${frame.length} values, expected height x width = ${height} x ${width} = ${height * width}`);
  }
  const z: number[][] = [];
  for (let r = 0; r < height; r++) z.push(Array.from({ length: width }, (_, c) => frame[r * width + c]));
  const data: object[] = [
    { type: 'heatmap', z, colorscale: [[0, 'rgb(0,0,0)'], [1, 'rgb(255,255,255)']], zmin: options.zmin ?? 0, zmax: options.zmax ?? 255, showscale: false },
  ];
  if (options.points) {
    data.push({ type: 'scatter', mode: 'markers', x: options.points.x, y: options.points.y, text: options.points.text, marker: { size: 7, color: '#e4572e' } });
  }
  return {
    data,
    layout: {
      title: options.title ? { text: options.title } : undefined,
      yaxis: { autorange: 'reversed', scaleanchor: 'x', constrain: 'domain', showgrid: false },
      xaxis: { constrain: 'domain', showgrid: false },
      margin: { l: 40, r: 10, t: options.title ? 40 : 10, b: 30 },
    },
  };
}

/** A horizontal bar chart of named numbers, e.g. GFLOP/s per engine. */
export function barFigure(values: Record<string, number>, options: { title?: string; unit?: string } = {}): Figure {
  const names = Object.keys(values);
  return {
    data: [{ type: 'bar', orientation: 'h', y: names, x: names.map((n) => values[n]), text: names.map((n) => values[n].toFixed(1)), textposition: 'auto' }],
    layout: {
      title: options.title ? { text: options.title } : undefined,
      xaxis: { title: { text: options.unit ?? '' } },
      yaxis: { automargin: true },
      margin: { l: 10, r: 10, t: options.title ? 40 : 10, b: 40 },
    },
  };
}

/** n distinct colours (hue wheel, full saturation and value), RGB 0..255; keypoint k gets colour k. */
export function keypointColors(n: number): [number, number, number][] {
  return Array.from({ length: n }, (_, i) => {
    const h = (i / Math.max(n, 1)) * 6;
    const x = 1 - Math.abs((h % 2) - 1);
    const [r, g, b] = h < 1 ? [1, x, 0] : h < 2 ? [x, 1, 0] : h < 3 ? [0, 1, x] : h < 4 ? [0, x, 1] : h < 5 ? [x, 0, 1] : [1, 0, x];
    return [Math.round(255 * r), Math.round(255 * g), Math.round(255 * b)];
  });
}

/** Keypoint traces: x, y (px) and likelihood, each nFrames x K row-major, with keypoint names. */
export interface TracesLike {
  names: readonly string[];
  nFrames: number;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  likelihood: ArrayLike<number>;
}

/**
 * Keypoint traces over time with their likelihood: three stacked panels sharing the time axis,
 * x (px), y (px) and likelihood (0..1), one colour per keypoint (the colours of label-video), each
 * keypoint one legend entry that toggles its three lines. Long traces are thinned to at most
 * `maxPoints` samples per line (every s-th frame). `fps` puts time in seconds on the axis (else frames);
 * `start`/`end` (frames, end exclusive) select a window; NaN (dropped frames) leave gaps.
 */
export function keypointTracesFigure(
  traces: TracesLike,
  options: { keypoints?: readonly string[]; fps?: number; start?: number; end?: number; maxPoints?: number; title?: string } = {},
): Figure {
  const { names, nFrames } = traces;
  const K = names.length;
  for (const f of ['x', 'y', 'likelihood'] as const) {
    if (traces[f].length !== nFrames * K) throw new ShapeError(`traces.${f} has ${traces[f].length} values; expected nFrames x K = ${nFrames} x ${K}`);
  }
  const start = Math.max(0, Math.floor(options.start ?? 0));
  const end = Math.min(nFrames, Math.floor(options.end ?? nFrames));
  const step = Math.max(1, Math.ceil((end - start) / (options.maxPoints ?? 5000)));
  const frames: number[] = [];
  for (let t = start; t < end; t += step) frames.push(t);
  const time = frames.map((t) => (options.fps ? t / options.fps : t));
  const colors = keypointColors(K);
  const pick = options.keypoints ?? names;
  const data: object[] = [];
  for (const name of pick) {
    const k = names.indexOf(name);
    if (k < 0) throw new ShapeError(`keypoint '${name}' is not in the traces (${names.join(', ')})`);
    const color = `rgb(${colors[k].join(',')})`;
    const col = (a: ArrayLike<number>) => frames.map((t) => (Number.isNaN(a[t * K + k]) ? null : a[t * K + k]));
    (['x', 'y', 'likelihood'] as const).forEach((f, panel) => {
      data.push({
        type: 'scattergl',
        mode: 'lines',
        name,
        legendgroup: name,
        showlegend: panel === 0,
        x: time,
        y: col(traces[f]),
        xaxis: 'x',
        yaxis: panel === 0 ? 'y' : `y${panel + 1}`,
        line: { color, width: 1 },
        hovertemplate: `${name} ${f}: %{y:.2f}<extra></extra>`,
      });
    });
  }
  return {
    data,
    layout: {
      title: options.title ? { text: options.title } : undefined,
      xaxis: { title: { text: options.fps ? 'time (s)' : 'frame' }, anchor: 'y3' },
      yaxis: { domain: [0.68, 1], title: { text: 'x (px)' } },
      yaxis2: { domain: [0.35, 0.65], title: { text: 'y (px)' }, autorange: 'reversed' },
      yaxis3: { domain: [0, 0.3], title: { text: 'likelihood' }, range: [0, 1.02] },
      legend: { orientation: 'v' },
      hovermode: 'x unified',
      margin: { l: 60, r: 10, t: options.title ? 40 : 10, b: 40 },
    },
  };
}
