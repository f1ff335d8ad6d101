/**
 * `buildReport(dir)`: the HTML report of any facemap-ts output folder. The folder (and its
 * sub-folders, 3 levels deep) is scanned for the files each stage writes, and each kind found
 * becomes a section (collectors below). Nothing is recomputed: the report shows what the files
 * hold, so it can be rebuilt at any time (`facemap-ts report DIR`).
 *
 * Files recognised:
 *  - `run.json`: settings and timings of a `facemap-ts demo` run (shown at the top);
 *  - `session.json`: a simulated session (its settings and planted truth per cluster);
 *  - `card.json`: a keypoint model folder (training data, validation / cross-validated errors
 *    per keypoint);
 *  - `*_proc.h5`: motion SVD output (mean frame, top motion masks, motion energy and the first
 *    motion SVD components).
 * More stages add collectors to {@link REPORT_COLLECTORS}.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FormatError } from '../errors';
import { withH5 } from '../io/hdf5';
import type { Figure } from '../plot/notebook';
import { barFigure, imageFigure, keypointTracesFigure } from '../plot/figures';
import { spreadVeFigure, varianceMapFigure } from '../plot/clusters';
import { readPoseH5 } from '../pose/labels/facemap-h5';
import { readSessionManifest } from '../synth/session';
import { sessionTruthTable } from '../synth/truth';
import { writeFileAtomicSync } from '../util/fsx';
import { renderReport, type ReportBlock, type ReportPage, type ReportSection } from './html';

/** Files found under the report folder, relative paths. */
export interface ReportFiles {
  root: string;
  files: string[];
}

/** Turns some of the files into sections; returns [] when none of its files are there. */
export type ReportCollector = (found: ReportFiles) => Promise<ReportSection[]>;

function listFiles(root: string, depth = 3): string[] {
  const out: string[] = [];
  const walk = (rel: string, d: number): void => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const r = rel ? path.join(rel, e.name) : e.name;
      if (e.isDirectory() && d > 0) walk(r, d - 1);
      else if (e.isFile()) out.push(r);
    }
  };
  walk('', depth);
  return out.sort();
}

const sectionId = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** Line plot of several traces sharing an x axis. */
export function tracesFigure(traces: { name: string; y: ArrayLike<number>; x?: ArrayLike<number> }[], options: { title?: string; xTitle?: string; yTitle?: string; maxPoints?: number } = {}): Figure {
  const maxPoints = options.maxPoints ?? 4000;
  return {
    data: traces.map((t) => {
      const n = t.y.length;
      const step = Math.max(1, Math.ceil(n / maxPoints));
      const xs: number[] = [];
      const ys: number[] = [];
      for (let i = 0; i < n; i += step) {
        xs.push(t.x ? t.x[i] : i);
        ys.push(Number.isFinite(t.y[i]) ? t.y[i] : NaN);
      }
      return { type: 'scattergl', mode: 'lines', name: t.name, x: xs, y: ys, line: { width: 1 } };
    }),
    layout: {
      title: options.title ? { text: options.title } : undefined,
      xaxis: { title: { text: options.xTitle ?? '' } },
      yaxis: { title: { text: options.yTitle ?? '' } },
      margin: { l: 60, r: 10, t: options.title ? 40 : 10, b: 40 },
      legend: { orientation: 'h' },
    },
  };
}

const sessionCollector: ReportCollector = async ({ root, files }) => {
  const out: ReportSection[] = [];
  for (const f of files.filter((x) => path.basename(x) === 'session.json')) {
    const dir = path.join(root, path.dirname(f));
    const m = readSessionManifest(dir);
    const blocks: ReportBlock[] = [
      {
        kind: 'table',
        caption: 'Simulated session',
        rows: [
          {
            preset: m.preset,
            seed: m.seed,
            'duration (s)': m.seconds,
            'camera fps': m.cameraFps,
            frames: m.nFrames,
            'frame size': m.width ? `${m.width}x${m.height}` : '–',
            neurons: m.nNeurons,
            'neural Hz': m.neuralFps,
            samples: m.nTimepoints,
            'mean oracle VE': m.oracleVeMean,
            'keypoint-visible oracle VE': m.oracleVeVisibleMean ?? 'not known (drive partly invisible in keypoints)',
          },
        ],
      },
    ];
    const truth = await sessionTruthTable(dir);
    blocks.push({
      kind: 'table',
      caption: 'Planted truth per cluster (oracle VE: test variance explained by the true behaviour signal; spread KL: lower = more spread)',
      rows: truth.map((r) => ({ cluster: r.cluster < 0 ? 'background' : r.cluster, neurons: r.nNeurons, drive: r.drive, 'oracle VE': r.oracleVe, 'spread KL': r.spreadKL })),
    });
    const clustered = truth.filter((r) => r.cluster >= 0);
    if (clustered.length) {
      blocks.push({
        kind: 'figure',
        height: 360,
        caption: 'Planted relation: clusters driven more strongly by behaviour are spread wider across cortex (lower KL).',
        figure: {
          data: [{ type: 'scatter', mode: 'markers+text', x: clustered.map((r) => r.spreadKL), y: clustered.map((r) => r.oracleVe), text: clustered.map((r) => String(r.cluster)), textposition: 'top center', marker: { size: clustered.map((r) => 6 + Math.sqrt(r.nNeurons)), color: '#2a5db0' } }],
          layout: { xaxis: { title: { text: 'spatial spread (KL, lower = more spread)' } }, yaxis: { title: { text: 'oracle variance explained' } }, margin: { l: 60, r: 10, t: 10, b: 50 } },
        },
      });
    }
    out.push({ id: sectionId(`session ${f}`), title: `Simulated session (${m.preset})`, sources: [f], blocks });
  }
  return out;
};

interface CardLike {
  keypoints?: string[];
  channels?: number[];
  inputSize?: number;
  trainingData?: { nFrames?: number };
  metrics?: { validationMeanPx?: number | null; bestEpoch?: number; history?: { epoch: number; loss: number; valError: number | null }[]; crossValidation?: { perKeypoint?: { keypoint: string; mean: number; median?: number; p95?: number }[]; mean?: number; median?: number; p95?: number; k?: number } };
  crossValidated?: boolean;
}

const modelCollector: ReportCollector = async ({ root, files }) => {
  const out: ReportSection[] = [];
  for (const f of files.filter((x) => path.basename(x) === 'card.json')) {
    let card: CardLike;
    try {
      card = JSON.parse(fs.readFileSync(path.join(root, f), 'utf8')) as CardLike;
    } catch (e) {
      throw new FormatError(path.join(root, f), `not readable JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(card.keypoints)) continue;
    const blocks: ReportBlock[] = [
      {
        kind: 'table',
        caption: 'Keypoint model',
        rows: [{ keypoints: card.keypoints.length, channels: (card.channels ?? []).join(','), 'input size': card.inputSize, 'training frames': card.trainingData?.nFrames, 'validation mean (px)': card.metrics?.validationMeanPx ?? NaN, 'best epoch': card.metrics?.bestEpoch }],
      },
    ];
    const cv = card.metrics?.crossValidation;
    if (cv?.perKeypoint?.length) {
      blocks.push({
        kind: 'figure',
        height: 360,
        caption: `${cv.k ?? ''}-fold cross-validated error per keypoint, original-frame pixels (mean ${cv.mean?.toFixed(2)} px).`,
        figure: {
          data: [{ type: 'bar', x: cv.perKeypoint.map((p) => p.keypoint), y: cv.perKeypoint.map((p) => p.mean), name: 'mean' }, ...(cv.perKeypoint[0].median !== undefined ? [{ type: 'bar', x: cv.perKeypoint.map((p) => p.keypoint), y: cv.perKeypoint.map((p) => p.median), name: 'median' }] : [])],
          layout: { barmode: 'group', yaxis: { title: { text: 'error (px)' } }, margin: { l: 60, r: 10, t: 10, b: 80 } },
        },
      });
    }
    const h = card.metrics?.history;
    if (h?.length) {
      blocks.push({ kind: 'figure', height: 320, caption: 'Training history.', figure: tracesFigure([{ name: 'training loss', x: h.map((r) => r.epoch + 1), y: h.map((r) => r.loss) }, { name: 'validation error (px)', x: h.map((r) => r.epoch + 1), y: h.map((r) => r.valError ?? NaN) }], { xTitle: 'epoch' }) });
    }
    out.push({ id: sectionId(`model ${f}`), title: `Keypoint model (${path.dirname(f) || '.'})`, sources: [f], blocks });
  }
  return out;
};

const motionCollector: ReportCollector = async ({ root, files }) => {
  const out: ReportSection[] = [];
  for (const f of files.filter((x) => x.endsWith('_proc.h5'))) {
    const blocks: ReportBlock[] = [];
    await withH5(path.join(root, f), (h5) => {
      const sbin = Number((h5.read('/sbin').data as Int32Array)[0]);
      const nFrames = Number(h5.attrs('/').nFrames ?? NaN);
      if (h5.has('/avgframe_reshape/0')) {
        const a = h5.read('/avgframe_reshape/0');
        blocks.push({ kind: 'figure', height: 340, caption: `Mean frame (binned ${sbin}x).`, figure: imageFigure(a.data as Float32Array, a.shape[0], a.shape[1], { zmin: 0, zmax: 255 }) });
      }
      if (h5.has('/motMask_reshape/0') && h5.info('/motMask_reshape/0').shape.length === 3) {
        const m = h5.read('/motMask_reshape/0');
        const [Ly, Lx, k] = m.shape;
        const show = Math.min(4, k);
        const data: object[] = [];
        const layout: Record<string, unknown> = { margin: { l: 10, r: 10, t: 30, b: 10 }, annotations: [] as object[] };
        for (let c = 0; c < show; c++) {
          const z: number[][] = [];
          let amax = 0;
          for (let r = 0; r < Ly; r++) {
            const row: number[] = [];
            for (let x = 0; x < Lx; x++) {
              const v = (m.data as Float32Array)[(r * Lx + x) * k + c];
              row.push(v);
              amax = Math.max(amax, Math.abs(v));
            }
            z.push(row);
          }
          const ax = c === 0 ? '' : String(c + 1);
          data.push({ type: 'heatmap', z, xaxis: `x${ax}`, yaxis: `y${ax}`, colorscale: 'RdBu', zmin: -amax, zmax: amax, showscale: false });
          layout[`xaxis${ax}`] = { domain: [c / show + 0.01, (c + 1) / show - 0.01], visible: false, anchor: `y${ax}` };
          layout[`yaxis${ax}`] = { autorange: 'reversed', visible: false, scaleanchor: `x${ax}`, anchor: `x${ax}` };
          (layout.annotations as object[]).push({ text: `mask ${c + 1}`, x: (c + 0.5) / show, y: 1.06, xref: 'paper', yref: 'paper', showarrow: false });
        }
        blocks.push({ kind: 'figure', height: 260, caption: 'Top motion-SVD masks of the whole frame (red/blue: sign).', figure: { data, layout } });
      }
      const traces: { name: string; y: ArrayLike<number> }[] = [];
      if (h5.has('/motion/0')) {
        const me = h5.read('/motion/0').data as Float32Array;
        blocks.push({ kind: 'figure', height: 260, caption: 'Motion energy (sum of |frame difference| over binned pixels).', figure: tracesFigure([{ name: 'motion energy', y: me }], { xTitle: 'frame' }) });
      }
      if (h5.has('/motSVD/0')) {
        const info = h5.info('/motSVD/0');
        const k = Math.min(3, info.shape[1]);
        const v = h5.readSlice('/motSVD/0', [[0, info.shape[0]]]).data as Float32Array;
        for (let c = 0; c < k; c++) traces.push({ name: `motion SVD ${c + 1}`, y: Float32Array.from({ length: info.shape[0] }, (_, t) => v[t * info.shape[1] + c]) });
        blocks.push({ kind: 'figure', height: 300, caption: `First motion SVD components over ${Number.isFinite(nFrames) ? nFrames : info.shape[0]} frames.`, figure: tracesFigure(traces, { xTitle: 'frame' }) });
      }
    });
    if (blocks.length) out.push({ id: sectionId(`motion ${f}`), title: `Motion SVD (${path.basename(f)})`, sources: [f], blocks });
  }
  return out;
};

/** Rows of a CSV written by facemap-ts (no quoted commas in fields); numbers parsed. */
export function readCsvRows(file: string): Record<string, string | number>[] {
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.length);
  if (!lines.length) return [];
  const unq = (v: string): string => (v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/""/g, '"') : v);
  const head = lines[0].split(',').map(unq);
  return lines.slice(1).map((l) => {
    const cells = l.split(',').map(unq);
    return Object.fromEntries(head.map((h, i) => [h, cells[i] === undefined || cells[i] === '' ? NaN : Number.isFinite(Number(cells[i])) ? Number(cells[i]) : cells[i]]));
  });
}

const trackCollector: ReportCollector = async ({ root, files }) => {
  const out: ReportSection[] = [];
  for (const f of files.filter((x) => x.endsWith('_FacemapPose.h5'))) {
    const traces = await readPoseH5(path.join(root, f));
    const metaFile = f.replace(/\.h5$/, '.json');
    const blocks: ReportBlock[] = [];
    if (files.includes(metaFile)) {
      const m = JSON.parse(fs.readFileSync(path.join(root, metaFile), 'utf8')) as Record<string, unknown>;
      const speed = m.speed as Record<string, unknown> | undefined;
      blocks.push({ kind: 'table', caption: 'Tracking run', rows: [{ frames: traces.nFrames, keypoints: traces.names.length, engine: m.engine as string, 'frames/s': (speed?.framesPerSecond as number) ?? NaN, box: m.box }] });
    }
    let meanLik = 0;
    for (const v of traces.likelihood) meanLik += v;
    blocks.push({ kind: 'figure', height: 520, caption: `Keypoint traces (x, y in frame pixels) with likelihood; mean likelihood ${(meanLik / Math.max(1, traces.likelihood.length)).toFixed(3)}.`, figure: keypointTracesFigure(traces, { maxPoints: 3000 }) });
    out.push({ id: sectionId(`track ${f}`), title: `Tracked keypoints (${path.basename(f)})`, sources: [f, ...(files.includes(metaFile) ? [metaFile] : [])], blocks });
  }
  return out;
};

const encodeCollector: ReportCollector = async ({ root, files }) => {
  const out: ReportSection[] = [];
  for (const f of files.filter((x) => path.basename(x) === 'models.csv')) {
    const dir = path.dirname(f);
    const models = readCsvRows(path.join(root, f));
    if (!models.length || !('pcVe' in models[0])) continue;
    const name = (r: Record<string, string | number>): string => (r.model === 'keypoint network' ? 'keypoint network' : `${r.model} (${r.input})`);
    const blocks: ReportBlock[] = [
      {
        kind: 'table',
        caption: 'Variance explained on test segments (normalised VE = mean neuron VE / mean explainable variance, as in the paper)',
        rows: models.map((r) => ({ model: r.model, input: r.input, rank: r.rank, 'test VE (PCs)': r.pcVe, 'mean neuron VE': r.meanNeuronVe, 'normalised VE (%)': r.normalizedVe })),
        digits: 4,
      },
      {
        kind: 'figure',
        height: 340,
        caption: 'Mean variance explained per neuron on the test segments, by model.',
        figure: barFigure(Object.fromEntries(models.map((r) => [name(r), Number(r.meanNeuronVe)])), { unit: 'mean neuron VE' }),
      },
    ];
    const neuronsFile = path.join(dir, 'neurons.csv');
    if (files.includes(neuronsFile)) {
      const rows = readCsvRows(path.join(root, neuronsFile)).filter((r) => r.model === 'keypoint network');
      if (rows.length && Number.isFinite(rows[0].x as number)) {
        const pos = new Float32Array(rows.length * 2);
        const ve = new Float32Array(rows.length);
        rows.forEach((r, i) => {
          pos[2 * i] = Number(r.x);
          pos[2 * i + 1] = Number(r.y);
          ve[i] = Number(r.ve);
        });
        blocks.push({ kind: 'figure', height: 460, caption: 'Test variance explained of each neuron by the keypoint network, at its position in cortex.', figure: varianceMapFigure(pos, ve, { colorTitle: 'VE' }) });
      }
    }
    out.push({ id: sectionId(`encode ${f}`), title: `Neural encoding (${dir || '.'})`, sources: [f, ...(files.includes(neuronsFile) ? [neuronsFile] : [])], blocks });
  }
  return out;
};

const clusterCollector: ReportCollector = async ({ root, files }) => {
  const out: ReportSection[] = [];
  for (const f of files.filter((x) => path.basename(x) === 'clusters.csv')) {
    const dir = path.dirname(f);
    const rows = readCsvRows(path.join(root, f));
    if (!rows.length || !('spread_kl' in rows[0])) continue;
    const veCols = Object.keys(rows[0]).filter((k) => k.startsWith('ve_'));
    const blocks: ReportBlock[] = [];
    const summaryFile = path.join(dir, 'summary.json');
    type Corr = { r: number; lo: number; hi: number };
    let summary: { models?: { name: string; meanClusterVe: number; spreadVsVe?: Corr; spreadVsVeCoherent?: Corr | null }[]; adjustedRandIndexPlantedMembers?: number | null; adjustedRandIndexGroupsPlantedMembers?: number | null; nGroups?: number } = {};
    if (files.includes(summaryFile)) summary = JSON.parse(fs.readFileSync(path.join(root, summaryFile), 'utf8')) as typeof summary;
    if (summary.models?.length) {
      blocks.push({
        kind: 'table',
        caption: `Per model: mean VE of the clusters' mean activity and the correlation of spread (KL) with VE, 95% bootstrap interval over clusters, over the coherent clusters (coherence above a sign-flip null) and over all${typeof summary.adjustedRandIndexPlantedMembers === 'number' ? `; adjusted Rand index vs planted clusters (planted members): clusters ${summary.adjustedRandIndexPlantedMembers.toFixed(3)}${typeof summary.adjustedRandIndexGroupsPlantedMembers === 'number' ? `, ${summary.nGroups ?? '?'} merged groups ${summary.adjustedRandIndexGroupsPlantedMembers.toFixed(3)}` : ''}` : ''}`,
        rows: summary.models.map((m) => ({
          model: m.name,
          'mean cluster VE': m.meanClusterVe,
          'spread-VE r (coherent)': m.spreadVsVeCoherent?.r ?? NaN,
          'CI low (coherent)': m.spreadVsVeCoherent?.lo ?? NaN,
          'CI high (coherent)': m.spreadVsVeCoherent?.hi ?? NaN,
          'spread-VE r (all)': m.spreadVsVe?.r ?? NaN,
          'CI low (all)': m.spreadVsVe?.lo ?? NaN,
          'CI high (all)': m.spreadVsVe?.hi ?? NaN,
        })),
      });
    }
    if (veCols.length) {
      const col = veCols[0];
      const model = summary.models?.find((m) => `ve_${m.name.replace(/[^A-Za-z0-9]+/g, '_').replace(/_+$/, '')}` === col);
      blocks.push({
        kind: 'figure',
        height: 420,
        caption: `Spatial spread (KL, lower = more spread) versus test VE of each cluster's mean activity (${col.slice(3)}); marker size = cluster size.`,
        figure: spreadVeFigure(
          rows.map((r) => Number(r[col])),
          rows.map((r) => Number(r.spread_kl)),
          rows.map((r) => Number(r.size)),
          {
            model: col.slice(3),
            ...('coherent' in rows[0] ? { coherent: rows.map((r) => Number(r.coherent)) } : {}),
            ...(() => {
              const c = 'coherent' in rows[0] ? model?.spreadVsVeCoherent : model?.spreadVsVe;
              return c ? { correlation: { ...c, level: 0.95 } } : {};
            })(),
          },
        ),
      });
    }
    blocks.push({ kind: 'table', caption: 'One row per cluster (ids along the similarity axis)', rows: rows.map((r) => ({ ...r })) });
    const fig = path.join(dir, 'figures.html');
    if (files.includes(fig)) blocks.push({ kind: 'text', text: `Cluster maps and sorted rasters: ${fig}` });
    out.push({ id: sectionId(`clusters ${f}`), title: `Neuron clusters (${dir || '.'})`, sources: [f, ...(files.includes(summaryFile) ? [summaryFile] : [])], blocks });
  }
  return out;
};

/** Collectors, in report order. Later stages add theirs here. */
export const REPORT_COLLECTORS: ReportCollector[] = [sessionCollector, modelCollector, trackCollector, motionCollector, encodeCollector, clusterCollector];

export interface BuildReportOptions {
  /** Output file (default `<dir>/report.html`). */
  out?: string;
  title?: string;
  /** Extra settings for the top table (merged over run.json's). */
  settings?: Record<string, unknown>;
}

/**
 * Builds the report of `dir` (see the file comment) and writes it atomically.
 * @throws FormatError when `dir` is missing or holds none of the recognised files.
 */
export async function buildReport(dir: string, options: BuildReportOptions = {}): Promise<{ file: string; sections: ReportSection[] }> {
  const root = path.resolve(dir);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new FormatError(root, 'not a folder');
  const files = listFiles(root);
  const sections: ReportSection[] = [];
  for (const c of REPORT_COLLECTORS) sections.push(...(await c({ root, files })));
  if (!sections.length) {
    throw new FormatError(root, 'no facemap-ts outputs found (expected e.g. session.json, card.json, *_proc.h5, encoder or cluster tables)');
  }
  let settings: Record<string, unknown> = {};
  const runJson = files.find((f) => f === 'run.json');
  if (runJson) settings = JSON.parse(fs.readFileSync(path.join(root, runJson), 'utf8')) as Record<string, unknown>;
  const page: ReportPage = { title: options.title ?? `facemap-ts report: ${path.basename(root)}`, settings: { folder: root, ...settings, ...(options.settings ?? {}) }, sections };
  const file = path.resolve(options.out ?? path.join(root, 'report.html'));
  writeFileAtomicSync(file, renderReport(page));
  return { file, sections };
}
