/**
 * Figures of neuron clusters (the paper's Fig. 4): maps of neurons on cortex coloured by cluster or
 * by variance explained, spread versus variance explained per cluster, and a raster sorted along
 * the similarity axis beside a model's prediction. Plain data in, plotly figures out.
 */
import { ParamError, ShapeError } from '../errors';
import type { Figure } from './notebook';

/** Rounds to `digits` decimals (smaller JSON for big heatmaps). */
function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Every `step`-th index so that at most `max` remain. */
function strideIndex(n: number, max: number): number[] {
  const step = Math.max(1, Math.ceil(n / max));
  const out: number[] = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

export interface CortexMapOptions {
  title?: string;
  /** 'cluster': values are cluster ids along the similarity axis (< 0 drawn grey); 'value': a continuous value (non-finite drawn grey). */
  kind?: 'cluster' | 'value';
  /** Colour bar title (default 'cluster' or 'value'). */
  colorTitle?: string;
  /** Colour range (default the finite values' range; for VE, 0..max). */
  cmin?: number;
  cmax?: number;
  /** At most this many neurons drawn (every k-th; default 50,000). */
  maxPoints?: number;
  /** Marker size, px (default 4). */
  markerSize?: number;
}

/**
 * Neurons at their positions on cortex (x, y in um; y down as in an image), coloured by cluster
 * id or by a value such as variance explained. One WebGL scatter (fast at 50,000 neurons).
 * @param positions N x 2 (x, y) um. @param values N cluster ids or values.
 */
export function cortexMapFigure(positions: ArrayLike<number>, values: ArrayLike<number>, opts: CortexMapOptions = {}): Figure {
  const N = values.length;
  if (positions.length !== 2 * N) throw new ShapeError(`positions hold ${positions.length / 2} neurons, values ${N}`);
  const kind = opts.kind ?? 'value';
  if (kind !== 'cluster' && kind !== 'value') throw new ParamError('kind', kind, "'cluster' | 'value'");
  const idx = strideIndex(N, opts.maxPoints ?? 50000);
  const good = idx.filter((i) => Number.isFinite(values[i]) && (kind === 'value' || values[i] >= 0));
  const grey = idx.filter((i) => !(Number.isFinite(values[i]) && (kind === 'value' || values[i] >= 0)));
  let lo = Infinity;
  let hi = -Infinity;
  for (const i of good) [lo, hi] = [Math.min(lo, values[i]), Math.max(hi, values[i])];
  const size = opts.markerSize ?? 4;
  const xy = (ii: number[]) => ({ x: ii.map((i) => round(positions[2 * i], 1)), y: ii.map((i) => round(positions[2 * i + 1], 1)) });
  const data: object[] = [];
  if (grey.length) {
    data.push({ type: 'scattergl', mode: 'markers', name: kind === 'cluster' ? 'no cluster' : 'undefined', ...xy(grey), marker: { size, color: '#bbbbbb' }, hoverinfo: 'skip' });
  }
  data.push({
    type: 'scattergl',
    mode: 'markers',
    name: kind === 'cluster' ? 'cluster' : (opts.colorTitle ?? 'value'),
    ...xy(good),
    text: good.map((i) => `neuron ${i}: ${kind === 'cluster' ? `cluster ${values[i]}` : round(values[i], 3)}`),
    hoverinfo: 'text',
    marker: {
      size,
      color: good.map((i) => round(values[i], 4)),
      colorscale: kind === 'cluster' ? 'Jet' : 'Viridis',
      cmin: opts.cmin ?? (good.length ? lo : 0),
      cmax: opts.cmax ?? (good.length ? hi : 1),
      showscale: true,
      colorbar: { title: { text: opts.colorTitle ?? (kind === 'cluster' ? 'cluster' : 'value') } },
    },
  });
  return {
    data,
    layout: {
      title: opts.title ? { text: opts.title } : undefined,
      xaxis: { title: { text: 'x (um)' }, constrain: 'domain' },
      yaxis: { title: { text: 'y (um)' }, autorange: 'reversed', scaleanchor: 'x' },
      showlegend: false,
      margin: { l: 50, r: 10, t: opts.title ? 40 : 10, b: 40 },
    },
  };
}

/** Neurons coloured by cluster (ids along the similarity axis; -1 grey). */
export function clusterMapFigure(positions: ArrayLike<number>, labels: ArrayLike<number>, opts: Omit<CortexMapOptions, 'kind'> = {}): Figure {
  return cortexMapFigure(positions, labels, { title: 'Clusters on cortex', ...opts, kind: 'cluster' });
}

/** Neurons coloured by variance explained (colour range 0 to the largest VE). */
export function varianceMapFigure(positions: ArrayLike<number>, ve: ArrayLike<number>, opts: Omit<CortexMapOptions, 'kind'> = {}): Figure {
  let hi = 0;
  for (let i = 0; i < ve.length; i++) if (Number.isFinite(ve[i])) hi = Math.max(hi, ve[i]);
  return cortexMapFigure(positions, ve, { title: 'Variance explained', colorTitle: 'VE', cmin: 0, cmax: round(hi, 4) || 1, ...opts, kind: 'value' });
}

export interface SpreadVeOptions {
  title?: string;
  /** Model name for the axis title. */
  model?: string;
  /** Correlation to print in the title, e.g. from bootstrapCorrelation (over the coherent clusters when `coherent` is given). */
  correlation?: { r: number; lo: number; hi: number; level: number; method?: string };
  /** C flags (NeuronClusters.coherent): incoherent clusters are drawn as grey rings, a trace of their own. */
  coherent?: ArrayLike<number>;
}

/**
 * Spatial spread (KL divergence; lower = more spread) against the VE of each cluster's mean
 * activity; marker area grows with cluster size, colour is the cluster id; with `coherent`,
 * incoherent clusters are grey rings.
 * @param ve C values; @param spread C values; @param sizes C cluster sizes.
 */
export function spreadVeFigure(ve: ArrayLike<number>, spread: ArrayLike<number>, sizes: ArrayLike<number>, opts: SpreadVeOptions = {}): Figure {
  const C = ve.length;
  if (spread.length !== C || sizes.length !== C) throw new ShapeError(`${C} VE values, ${spread.length} spreads, ${sizes.length} sizes: expected one each per cluster`);
  if (opts.coherent && opts.coherent.length !== C) throw new ShapeError(`${opts.coherent.length} coherence flags for ${C} clusters`);
  const finite = Array.from({ length: C }, (_, c) => c).filter((c) => Number.isFinite(ve[c]) && Number.isFinite(spread[c]));
  let maxSize = 1;
  for (const c of finite) maxSize = Math.max(maxSize, sizes[c]);
  const r = opts.correlation;
  const over = opts.coherent ? 'coherent clusters: ' : '';
  const stat = r && Number.isFinite(r.r) ? ` (${over}${r.method === 'spearman' ? 'Spearman ' : ''}r = ${r.r.toFixed(2)}, ${Math.round(100 * r.level)}% CI [${r.lo.toFixed(2)}, ${r.hi.toFixed(2)}])` : '';
  const trace = (idx: number[], name: string, ring: boolean) => ({
    type: 'scatter',
    mode: 'markers',
    name,
    x: idx.map((c) => round(ve[c], 4)),
    y: idx.map((c) => round(spread[c], 4)),
    text: idx.map((c) => `cluster ${c}: ${sizes[c]} neurons${ring ? ' (incoherent)' : ''}`),
    hoverinfo: 'text+x+y',
    marker: ring
      ? { size: idx.map((c) => 6 + 18 * Math.sqrt(sizes[c] / maxSize)), color: 'rgba(0,0,0,0)', line: { width: 1, color: '#888' } }
      : {
          size: idx.map((c) => 6 + 18 * Math.sqrt(sizes[c] / maxSize)),
          color: idx,
          colorscale: 'Jet',
          cmin: 0,
          cmax: Math.max(1, C - 1),
          line: { width: 0.5, color: '#333' },
          opacity: 0.85,
        },
  });
  const flags = opts.coherent;
  const data = flags
    ? [trace(finite.filter((c) => flags[c]), 'coherent', false), trace(finite.filter((c) => !flags[c]), 'incoherent', true)]
    : [trace(finite, 'clusters', false)];
  return {
    data,
    layout: {
      title: { text: `${opts.title ?? 'Spread versus variance explained'}${stat}` },
      xaxis: { title: { text: `VE of cluster mean${opts.model ? ` (${opts.model})` : ''}` } },
      yaxis: { title: { text: 'spatial KL divergence (lower = more spread)' } },
      margin: { l: 60, r: 10, t: 50, b: 50 },
    },
  };
}

/** Per-row z-score of a rows x cols raster (constant rows become 0). */
function zscoreRows(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m += a[r * cols + c];
    m /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (a[r * cols + c] - m) ** 2;
    const sd = Math.sqrt(v / cols);
    for (let c = 0; c < cols; c++) out[r * cols + c] = sd > 0 ? (a[r * cols + c] - m) / sd : 0;
  }
  return out;
}

export interface RasterFigureOptions {
  title?: string;
  /** Name of the model whose prediction is drawn (the right panel's title). */
  model?: string;
  /** Z-score each row of each panel before drawing (default true, as Rastermap shows rasters). */
  zscore?: boolean;
  /** Colour range (default 0..1.5 when z-scored, as Rastermap; else the data's 1st-99th percentile). */
  zmin?: number;
  zmax?: number;
  /** Time of a column, for the x axis (default the column index). */
  xLabel?: string;
}

function percentile(a: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(a).filter(Number.isFinite).sort();
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] : 0;
}

/**
 * A raster binned along the similarity axis (rows) and in time (columns), e.g. SortedRaster's
 * `activity`, beside a prediction of the same shape (omit it for the activity alone). Rows run
 * down the axis; grey scale, darker = more active.
 * @param activity rows x cols. @param predicted rows x cols or null.
 */
export function sortedRasterFigure(activity: ArrayLike<number>, predicted: ArrayLike<number> | null, rows: number, cols: number, opts: RasterFigureOptions = {}): Figure {
  if (activity.length !== rows * cols) throw new ShapeError(`raster has ${activity.length} values, expected rows x cols = ${rows} x ${cols}`);
  if (predicted && predicted.length !== rows * cols) throw new ShapeError(`predicted raster has ${predicted.length} values, expected ${rows} x ${cols}`);
  const z = opts.zscore ?? true;
  const prep = (a: ArrayLike<number>) => (z ? zscoreRows(a, rows, cols) : Float64Array.from(a));
  const panels = predicted ? [prep(activity), prep(predicted)] : [prep(activity)];
  const zmin = opts.zmin ?? (z ? 0 : percentile(panels[0], 0.01));
  const zmax = opts.zmax ?? (z ? 1.5 : percentile(panels[0], 0.99));
  const grid = (a: Float64Array) => Array.from({ length: rows }, (_, r) => Array.from(a.subarray(r * cols, (r + 1) * cols), (v) => round(v, 2)));
  const titles = predicted ? ['neural activity', `predicted${opts.model ? ` (${opts.model})` : ''}`] : ['neural activity'];
  const w = predicted ? 0.48 : 1;
  const data = panels.map((a, k) => ({
    type: 'heatmap',
    z: grid(a),
    xaxis: k === 0 ? 'x' : 'x2',
    yaxis: 'y',
    colorscale: [
      [0, 'rgb(255,255,255)'],
      [1, 'rgb(0,0,0)'],
    ],
    zmin,
    zmax,
    showscale: k === panels.length - 1,
    hovertemplate: 'row %{y}, column %{x}: %{z}<extra></extra>',
  }));
  const xTitle = opts.xLabel ?? 'time bin (test samples)';
  return {
    data,
    layout: {
      title: opts.title ? { text: opts.title } : undefined,
      xaxis: { domain: [0, w], title: { text: `${titles[0]}: ${xTitle}` }, showgrid: false },
      ...(predicted ? { xaxis2: { domain: [1 - w, 1], title: { text: `${titles[1]}: ${xTitle}` }, showgrid: false } } : {}),
      yaxis: { autorange: 'reversed', title: { text: 'neurons sorted on the similarity axis (bins)' }, showgrid: false },
      margin: { l: 60, r: 10, t: opts.title ? 40 : 10, b: 50 },
    },
  };
}
