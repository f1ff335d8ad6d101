/** Figure builders shared by notebooks, the HTML report and static export. */
import { ParamError, ShapeError } from '../errors';
import type { Figure } from './notebook';

/** A set of markers drawn over an image (frame pixels), e.g. true or predicted keypoints. */
export interface ImageMarkers {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  text?: string[];
  /** One CSS colour, or one per marker (default '#e4572e'). */
  color?: string | string[];
  /** Plotly marker symbol, e.g. 'circle', 'x', 'cross' (default 'circle'). */
  symbol?: string;
  /** Marker size, px (default 7). */
  size?: number;
}

/**
 * A grey image as a plotly heatmap, y axis pointing down as in image coordinates.
 * frame: height x width, row-major, any numeric range (shown 0..255 unless `zmax` is given).
 * `bin` (integer >= 1, default 1) draws the mean of bin x bin blocks (remainder rows and columns
 * dropped) with the axes still in frame pixels: a smaller page for big frames. `points` (one set,
 * no legend) and `markers` (named sets with a legend, e.g. true and predicted keypoints) are in
 * frame pixels; NaN coordinates are left out. The axes span the frame exactly (markers outside are clipped).
 */
export function imageFigure(
  frame: ArrayLike<number>,
  height: number,
  width: number,
  options: { title?: string; zmin?: number; zmax?: number; bin?: number; points?: { x: number[]; y: number[]; text?: string[] }; markers?: ImageMarkers[] } = {},
): Figure {
  if (frame.length !== height * width) {
    throw new ShapeError(`image has ${frame.length} values, expected height x width = ${height} x ${width} = ${height * width}`);
  }
  const bin = options.bin ?? 1;
  if (!Number.isInteger(bin) || bin < 1 || bin > Math.min(height, width)) throw new ParamError('bin', bin, `an integer from 1 to ${Math.min(height, width)}`);
  const ly = Math.floor(height / bin);
  const lx = Math.floor(width / bin);
  const z: number[][] = [];
  for (let r = 0; r < ly; r++) {
    const row = new Array<number>(lx);
    for (let c = 0; c < lx; c++) {
      let s = 0;
      for (let i = 0; i < bin; i++) for (let j = 0; j < bin; j++) s += frame[(r * bin + i) * width + c * bin + j];
      row[c] = bin === 1 ? s : Math.round((10 * s) / (bin * bin)) / 10;
    }
    z.push(row);
  }
  const heatmap: Record<string, unknown> = { type: 'heatmap', z, colorscale: [[0, 'rgb(0,0,0)'], [1, 'rgb(255,255,255)']], zmin: options.zmin ?? 0, zmax: options.zmax ?? 255, showscale: false };
  if (bin > 1) Object.assign(heatmap, { x0: (bin - 1) / 2, dx: bin, y0: (bin - 1) / 2, dy: bin, hovertemplate: 'x %{x}, y %{y}: %{z}<extra></extra>' });
  const data: object[] = [heatmap];
  if (options.points) {
    data.push({ type: 'scatter', mode: 'markers', x: options.points.x, y: options.points.y, text: options.points.text, marker: { size: 7, color: '#e4572e' }, showlegend: false });
  }
  for (const m of options.markers ?? []) {
    if (m.y.length !== m.x.length) throw new ShapeError(`markers '${m.name}': ${m.x.length} x but ${m.y.length} y coordinates`);
    const keep = Array.from({ length: m.x.length }, (_, i) => i).filter((i) => Number.isFinite(m.x[i]) && Number.isFinite(m.y[i]));
    const color = Array.isArray(m.color) ? keep.map((i) => (m.color as string[])[i]) : (m.color ?? '#e4572e');
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: m.name,
      x: keep.map((i) => m.x[i]),
      y: keep.map((i) => m.y[i]),
      text: m.text ? keep.map((i) => m.text![i]) : undefined,
      hovertemplate: `${m.name}${m.text ? ' %{text}' : ''}: (%{x:.1f}, %{y:.1f})<extra></extra>`,
      marker: { size: m.size ?? 7, color, symbol: m.symbol ?? 'circle', line: { width: 1, color: '#000' } },
    });
  }
  return {
    data,
    layout: {
      title: options.title ? { text: options.title } : undefined,
      // Fixed to the frame (y down): markers outside it are clipped rather than shrinking the image.
      yaxis: { range: [height - 0.5, -0.5], scaleanchor: 'x', constrain: 'domain', showgrid: false },
      xaxis: { range: [-0.5, width - 0.5], constrain: 'domain', showgrid: false },
      showlegend: (options.markers ?? []).length > 0,
      legend: { orientation: 'h', y: -0.08 },
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
