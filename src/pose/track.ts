/**
 * Tracking whole videos: a streaming pipeline from video files to keypoint files.
 *
 *   ffmpeg decode (child process; grey, cropped to the box)
 *     -> crop/pad/resize/normalise (FramePreprocessor, main thread)
 *     -> FMnet in batches (ONNX Runtime in a worker thread; tfjs as fallback)
 *     -> sub-pixel decode -> original-frame pixels + likelihood
 *     -> `<video>_FacemapPose.h5` (Facemap's layout), optionally `<video>_FacemapPose.csv`
 *        (DeepLabCut's), then `<video>_FacemapPose.json` (metadata) last.
 *
 * Overlap: while the worker runs batch i, the main thread reads and preprocesses batch i + 1 (and
 * ffmpeg decodes ahead into its pipe); at most 2 batches per inference worker are in flight.
 * Memory is bounded whatever the video length: a few batches of frames, and traces buffered for
 * `BLOCK_FRAMES` frames at a time before they are written (HDF5 chunked datasets, CSV rows).
 *
 * Failure leaves nothing that looks complete: the HDF5 and CSV files are written under temporary
 * names and renamed only once every frame is in; the metadata JSON, written last, marks a video as
 * finished (a failed re-run leaves the earlier run's files as they were; a successful one removes
 * the earlier CSV or filtered traces that it did not make again). A truncated or corrupt video is a FormatError naming the file and frame (see
 * io/video.ts). Re-running skips videos whose metadata matches (same video file size and time,
 * same model weights, same box) unless `force`; a finished video that lacks an output asked for
 * now (CSV, filtered traces) gets just that output, from its saved traces.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FacemapError, InterruptedError, ParamError } from '../errors';
import { writeH5, type H5DatasetWriter } from '../io/hdf5';
import { probeVideo, readFrames, type VideoInfo } from '../io/video';
import { removeStalePartials, tempPathFor, writeFileAtomicSync } from '../util/fsx';
import { progressBar } from '../util/progress';
import { filterTraces, resolveFilterConfig, type FilterReport, type TraceFilterConfig } from './filters';
import { formatFloat32 } from './labels/dlc-csv';
import { readPoseH5, writePoseH5 } from './labels/facemap-h5';
import { writeTraces } from './labels/registry';
import { cardBoxFor, cardInferenceExpand, facemapTsVersion, modelFolderFingerprint, readModelCard, type ModelCard } from './model-io';
import { appendMirrored, averageMirrored } from './maps';
import { EnginePool, openPoseEngine, type PoseEngine, type PoseEngineOptions, type PosePrecision } from './pose-engine';
import { type CropBox, cropTransform, expandBox, FramePreprocessor, fullFrameBox, toFrameCoords } from './preprocess';

/** Batches in flight at once per inference worker (being inferred, or waiting for it). */
const QUEUE_PER_WORKER = 2;
/** Frames of traces buffered before they are written; also the HDF5 chunk length. */
const BLOCK_FRAMES = 16384;
/** DeepLabCut's scorer column for our predictions. */
const SCORER = 'facemap-ts';

/** Options of {@link trackVideos}. */
export interface TrackOptions extends PoseEngineOptions {
  /** Model folder (tfjs model + card.json, and model.onnx after export-onnx). */
  model: string;
  /** Crop box in original-frame pixels (end-exclusive); default the model card's box when it fits the video, else the whole frame. */
  box?: CropBox | null;
  /**
   * Fraction of the box's width/height added on each side before cropping (clamped to the frame).
   * Default the model card's (cardInferenceExpand: the mean training expansion, 0.2 for models
   * trained with the default augmentation), so that frames are seen at the scale trained on.
   */
  expand?: number;
  /**
   * Also run each frame's network input mirrored left-right and average the two predictions
   * (test-time augmentation: about 14% lower error in cross-validation of the shipped face model,
   * at twice the inference cost). Default false.
   */
  flipAverage?: boolean;
  /** Frames per batch and worker (integer >= 1). Default 4: larger batches run no faster on CPU and each frame adds ~35 MB of activations. */
  batchSize?: number;
  /** Output folder; default beside each video. */
  outDir?: string;
  /** Also write a DeepLabCut CSV. */
  csv?: boolean;
  /** Also write filtered traces (`_FacemapPose_filtered.h5`, and `.csv` with `csv`); raw traces are kept. */
  filter?: TraceFilterConfig | null;
  /** Track again even when finished outputs exist. */
  force?: boolean;
  /** No progress bars or notes on stderr. */
  quiet?: boolean;
  /** Stops between batches; the current video's outputs are then not written. */
  signal?: AbortSignal;
  /** Called after each batch. */
  onProgress?: (p: { video: string; index: number; done: number; total: number }) => void;
  /** Where notes go (default stderr unless quiet). */
  log?: (message: string) => void;
}

/** Output files of one video. */
export interface TrackOutputs {
  h5: string;
  csv: string;
  json: string;
  filteredH5: string;
  filteredCsv: string;
}

/** The metadata JSON written beside the traces; its presence marks a finished video. */
export interface TrackMetadata {
  format: 'facemap-ts track';
  formatVersion: 1;
  video: { file: string; bytes: number; mtimeMs: number; nFrames: number; fps: number; width: number; height: number; codec: string };
  model: { dir: string; fingerprint: string; keypoints: string[]; inputSize: number; channels: number[]; onnx: 'file' | 'memory' | null; precision: PosePrecision };
  /** Crop box used (original-frame pixels, end-exclusive) and where it came from. */
  box: CropBox;
  boxSource: 'option' | 'model card' | 'whole frame';
  /** Expansion per side applied to `box` (fraction of its size), and the crop the network saw. */
  expand: number;
  inputBox: CropBox;
  /** Whether each frame was also predicted mirrored and the two averaged. */
  flipAverage: boolean;
  engine: { kind: string; description: string; batchSize: number };
  /** Output file names (in the same folder as this JSON). */
  outputs: { h5: string; csv: string | null; filtered: { h5: string; csv: string | null; config: ReturnType<typeof resolveFilterConfig>; report: FilterReport } | null };
  /** Wall time of tracking this video (probe to outputs renamed) and frames per second. */
  speed: { seconds: number; framesPerSecond: number };
  /** Peak resident memory of the tracking process so far, MB. */
  peakRssMB: number;
  facemapTsVersion: string;
  finished: string;
}

/** Result per video. */
export interface TrackedVideo {
  video: string;
  status: 'tracked' | 'skipped' | 'updated' | 'failed';
  outputs: TrackOutputs;
  metadata?: TrackMetadata;
  error?: Error;
  /** Why a video was skipped or updated. */
  note?: string;
}

/** Output paths for `video`: `<stem>_FacemapPose.{h5,csv,json}` in `outDir` (default the video's folder). */
export function trackOutputs(video: string, outDir?: string): TrackOutputs {
  const dir = path.resolve(outDir ?? path.dirname(video));
  const stem = path.join(dir, `${path.basename(video, path.extname(video))}_FacemapPose`);
  return { h5: `${stem}.h5`, csv: `${stem}.csv`, json: `${stem}.json`, filteredH5: `${stem}_filtered.h5`, filteredCsv: `${stem}_filtered.csv` };
}

/** Peak resident set size of this process, MB. */
function peakRssMB(): number {
  return +((process.resourceUsage().maxRSS * 1024) / 2 ** 20).toFixed(1);
}

/** The box expansion of a run: the option, else the model card's; validated. */
function trackExpand(o: Pick<TrackOptions, 'expand'>, card: ModelCard): number {
  const e = o.expand ?? cardInferenceExpand(card);
  if (!(e >= 0 && e <= 10)) throw new ParamError('expand', e, 'a fraction of the box per side in [0, 10]');
  return e;
}

function resolveBox(option: CropBox | null | undefined, card: ModelCard, info: VideoInfo): { box: CropBox; source: TrackMetadata['boxSource'] } {
  if (option) {
    cropTransform(option, info.width, info.height);
    return { box: { ...option }, source: 'option' };
  }
  const b = cardBoxFor(card, info.width, info.height);
  if (b) return { box: b, source: 'model card' };
  return { box: fullFrameBox(info.width, info.height), source: 'whole frame' };
}

function readMetadata(file: string): TrackMetadata | null {
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as TrackMetadata;
    return m.format === 'facemap-ts track' ? m : null;
  } catch {
    return null;
  }
}

const sameBox = (a: CropBox, b: CropBox): boolean => a.x0 === b.x0 && a.x1 === b.x1 && a.y0 === b.y0 && a.y1 === b.y1;

/** Why a finished run's metadata does not match this run, or null when it does. */
function mismatch(m: TrackMetadata, video: string, fingerprint: string, box: CropBox | null, expand: number, precision: PosePrecision, flipAverage: boolean): string | null {
  const st = fs.statSync(video);
  if (m.video.bytes !== st.size || m.video.mtimeMs !== st.mtimeMs) return 'the video file changed since';
  if (m.model.fingerprint !== fingerprint) return 'it was tracked with other model weights';
  if (box && !sameBox(box, m.box)) return 'it was tracked with another box';
  if ((m.model.precision ?? 'float32') !== precision) return `it was tracked in ${m.model.precision ?? 'float32'} (now ${precision})`;
  if ((m.flipAverage ?? false) !== flipAverage) return `it was tracked ${m.flipAverage ? 'with' : 'without'} flip-averaging`;
  if ((m.expand ?? 0) !== expand) return `it was tracked with another box expansion (${m.expand ?? 0}, now ${expand})`;
  return null;
}

/** DeepLabCut CSV header rows for keypoints `names`. */
function csvHeader(names: readonly string[]): string {
  const cols = names.flatMap((n) => [n, n, n]);
  const cell = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return [
    ['scorer', ...cols.map(() => SCORER)],
    ['bodyparts', ...cols],
    ['coords', ...names.flatMap(() => ['x', 'y', 'likelihood'])],
  ]
    .map((r) => r.map(cell).join(','))
    .join('\n')
    .concat('\n');
}

/** Traces of `block` frames being collected, then written to the HDF5 datasets and CSV rows. */
class TraceSink {
  private readonly x: Float32Array;
  private readonly y: Float32Array;
  private readonly l: Float32Array;
  private filled = 0;
  private written = 0;
  private readonly col: Float32Array;

  constructor(
    private readonly names: readonly string[],
    private readonly datasets: H5DatasetWriter[][],
    private readonly csvFd: number | null,
    private readonly block: number,
  ) {
    const K = names.length;
    this.x = new Float32Array(block * K);
    this.y = new Float32Array(block * K);
    this.l = new Float32Array(block * K);
    this.col = new Float32Array(block);
  }

  /** Appends n frames (x, y, likelihood each n x K). */
  push(x: Float32Array, y: Float32Array, l: Float32Array, n: number): void {
    const K = this.names.length;
    let off = 0;
    while (off < n) {
      const take = Math.min(n - off, this.block - this.filled);
      this.x.set(x.subarray(off * K, (off + take) * K), this.filled * K);
      this.y.set(y.subarray(off * K, (off + take) * K), this.filled * K);
      this.l.set(l.subarray(off * K, (off + take) * K), this.filled * K);
      this.filled += take;
      off += take;
      if (this.filled === this.block) this.flush();
    }
  }

  flush(): void {
    const n = this.filled;
    if (n === 0) return;
    const K = this.names.length;
    const col = this.col.subarray(0, n);
    [this.x, this.y, this.l].forEach((src, f) => {
      for (let k = 0; k < K; k++) {
        for (let t = 0; t < n; t++) col[t] = src[t * K + k];
        this.datasets[k][f].writeBlock(col.slice(), [n], [this.written]);
      }
    });
    if (this.csvFd !== null) {
      const lines: string[] = [];
      for (let t = 0; t < n; t++) {
        const cells = [String(this.written + t)];
        for (let k = 0; k < K; k++) {
          const i = t * K + k;
          cells.push(formatFloat32(this.x[i]), formatFloat32(this.y[i]), formatFloat32(this.l[i]));
        }
        lines.push(cells.join(','));
      }
      fs.writeSync(this.csvFd, `${lines.join('\n')}\n`);
    }
    this.written += n;
    this.filled = 0;
  }

  get framesWritten(): number {
    return this.written;
  }
}

interface VideoJob {
  video: string;
  index: number;
  count: number;
  outputs: TrackOutputs;
}

/**
 * Runs the pipeline on one video into its outputs (see the module comment). Returns the metadata
 * written. Throws FormatError for a truncated or corrupt video, InterruptedError when aborted.
 */
async function trackOne(
  job: VideoJob,
  engine: PoseEngine,
  card: ModelCard,
  fingerprint: string,
  onnxSource: TrackMetadata['model']['onnx'],
  o: TrackOptions & { batchSize: number },
): Promise<TrackMetadata> {
  const t0 = performance.now();
  const { video, outputs } = job;
  const info = await probeVideo(video);
  const { box, source: boxSource } = resolveBox(o.box, card, info);
  const S = engine.inputSize;
  const K = engine.nKeypoints;
  const expand = trackExpand(o, card);
  const inputBox = expand > 0 ? expandBox(box, info.width, info.height, expand) : box;
  const transform = cropTransform(inputBox, info.width, info.height, S);
  const bw = inputBox.x1 - inputBox.x0;
  const bh = inputBox.y1 - inputBox.y0;
  // ffmpeg crops to the box; the preprocessor then sees the box as the whole frame.
  const pre = new FramePreprocessor(bw, bh, cropTransform(fullFrameBox(bw, bh), bw, bh, S));
  const nFrames = info.nFrames;
  const workers = engine instanceof EnginePool ? engine.size : 1;
  fs.mkdirSync(path.dirname(outputs.h5), { recursive: true });
  for (const f of Object.values(outputs)) removeStalePartials(f);
  const bar = progressBar(`track ${job.count > 1 ? `${job.index + 1}/${job.count} ` : ''}${path.basename(video)}`, 'frames', { quiet: o.quiet });
  const csvTmp = o.csv ? tempPathFor(outputs.csv) : null;
  let csvFd: number | null = null;
  try {
    if (csvTmp) {
      csvFd = fs.openSync(csvTmp, 'w');
      fs.writeSync(csvFd, csvHeader(card.keypoints));
    }
    await writeH5(outputs.h5, async (w) => {
      const chunk = Math.min(nFrames, BLOCK_FRAMES);
      const datasets = card.keypoints.map((name) =>
        ['x', 'y', 'likelihood'].map((f) => w.createDataset(`/Facemap/${name}/${f}`, [nFrames], 'float32', { chunks: [chunk] })),
      );
      const sink = new TraceSink(card.keypoints, datasets, csvFd, BLOCK_FRAMES);
      const free: Float32Array[] = [];
      const flip = o.flipAverage ?? false;
      const copies = flip ? 2 : 1;
      const queue: { n: number; p: ReturnType<PoseEngine['infer']> }[] = [];
      let done = 0;
      const consume = async (): Promise<void> => {
        const item = queue.shift() as (typeof queue)[number];
        const { keypoints: raw, pixels } = await item.p;
        free.push(pixels);
        const kp = flip ? averageMirrored(raw, item.n, S) : raw;
        for (let i = 0; i < item.n * K; i++) [kp.x[i], kp.y[i]] = toFrameCoords(transform, kp.x[i], kp.y[i]);
        sink.push(kp.x, kp.y, kp.likelihood, item.n);
        done += item.n;
        bar.update(done, nFrames);
        o.onProgress?.({ video, index: job.index, done, total: nFrames });
      };
      try {
        const frameBytes = bw * bh;
        for await (const c of readFrames(video, { info, chunk: o.batchSize, crop: inputBox, dtype: 'uint8' })) {
          if (o.signal?.aborted) throw new InterruptedError(`${video}: interrupted at frame ${c.start}; no output written`);
          const pixels = free.pop() ?? new Float32Array(copies * o.batchSize * S * S);
          for (let i = 0; i < c.n; i++) pre.run(c.frames.subarray(i * frameBytes, (i + 1) * frameBytes), pixels, i * S * S);
          if (flip) appendMirrored(pixels, c.n, S);
          const p = engine.infer(pixels, copies * c.n);
          // Handled here so that a batch failing before its turn is not an unhandled rejection;
          // consume() still sees the error.
          p.catch(() => undefined);
          queue.push({ n: c.n, p });
          while (queue.length >= QUEUE_PER_WORKER * workers) await consume();
        }
        while (queue.length > 0) await consume();
      } catch (e) {
        await Promise.allSettled(queue.map((q) => q.p));
        throw e;
      }
      sink.flush();
      if (sink.framesWritten !== nFrames) {
        throw new FacemapError(`${video}: ${sink.framesWritten} frames tracked, expected ${nFrames} (internal error)`);
      }
    });
    if (csvFd !== null && csvTmp) {
      fs.closeSync(csvFd);
      csvFd = null;
      fs.renameSync(csvTmp, outputs.csv);
    }
  } catch (e) {
    if (csvFd !== null) fs.closeSync(csvFd);
    if (csvTmp) fs.rmSync(csvTmp, { force: true });
    throw e;
  }
  const seconds = (performance.now() - t0) / 1000;
  bar.done(`${nFrames} frames, ${(nFrames / seconds).toFixed(1)} frames/s`);
  const st = fs.statSync(video);
  return {
    format: 'facemap-ts track',
    formatVersion: 1,
    video: { file: path.resolve(video), bytes: st.size, mtimeMs: st.mtimeMs, nFrames, fps: info.fps, width: info.width, height: info.height, codec: info.codec },
    model: { dir: path.resolve(o.model), fingerprint, keypoints: [...card.keypoints], inputSize: card.inputSize, channels: [...card.channels], onnx: onnxSource, precision: o.precision ?? 'float32' },
    box,
    boxSource,
    expand,
    inputBox,
    flipAverage: o.flipAverage ?? false,
    engine: { kind: engine.kind, description: engine.description, batchSize: o.batchSize },
    outputs: { h5: path.basename(outputs.h5), csv: o.csv ? path.basename(outputs.csv) : null, filtered: null },
    speed: { seconds: +seconds.toFixed(3), framesPerSecond: +(nFrames / seconds).toFixed(2) },
    peakRssMB: peakRssMB(),
    facemapTsVersion: facemapTsVersion(),
    finished: new Date().toISOString(),
  };
}

/**
 * Filters the raw traces of a tracked video into `_FacemapPose_filtered.h5` (and `.csv` with
 * `csv`), keeping the raw ones. Returns the metadata entry.
 */
export async function writeFilteredTraces(
  outputs: Pick<TrackOutputs, 'h5' | 'filteredH5' | 'filteredCsv'>,
  config: TraceFilterConfig,
  csv: boolean,
): Promise<NonNullable<TrackMetadata['outputs']['filtered']>> {
  const resolved = resolveFilterConfig(config);
  const raw = await readPoseH5(outputs.h5);
  const { traces, report } = filterTraces(raw, config);
  await writePoseH5(outputs.filteredH5, traces);
  if (csv) await writeTraces(outputs.filteredCsv, traces, { format: 'dlc-csv' });
  return { h5: path.basename(outputs.filteredH5), csv: csv ? path.basename(outputs.filteredCsv) : null, config: resolved, report };
}

/** Writes `<video>_FacemapPose.csv` from the saved `.h5` (for a finished video asked for CSV later). */
async function csvFromH5(outputs: TrackOutputs): Promise<void> {
  await writeTraces(outputs.csv, await readPoseH5(outputs.h5), { format: 'dlc-csv' });
}

/**
 * Tracks every video (see the module comment) and returns what happened to each. A failing video
 * is reported (status 'failed', with its error) and the next one is tracked; an interruption
 * (options.signal) stops at once and throws InterruptedError.
 */
export async function trackVideos(videos: readonly string[], options: TrackOptions): Promise<TrackedVideo[]> {
  if (videos.length === 0) throw new ParamError('videos', [], 'one or more video files');
  const batchSize = options.batchSize ?? 4;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ParamError('batchSize', batchSize, 'an integer >= 1');
  if (options.filter) resolveFilterConfig(options.filter);
  const log = options.log ?? ((s: string) => (options.quiet ? undefined : process.stderr.write(`${s}\n`)));
  const o = { ...options, batchSize };
  const card0 = readModelCard(options.model);
  const expand = trackExpand(options, card0);
  const fingerprint = modelFolderFingerprint(options.model);
  const results: TrackedVideo[] = [];
  let opened: Awaited<ReturnType<typeof openPoseEngine>> | null = null;
  try {
    for (let index = 0; index < videos.length; index++) {
      const video = videos[index];
      const outputs = trackOutputs(video, options.outDir);
      try {
        const prev = !options.force && fs.existsSync(video) ? readMetadata(outputs.json) : null;
        const why = prev ? mismatch(prev, video, fingerprint, options.box ?? null, expand, options.precision ?? 'float32', options.flipAverage ?? false) : null;
        if (prev && !why && fs.existsSync(outputs.h5)) {
          const updates: string[] = [];
          if (options.csv && !(prev.outputs.csv && fs.existsSync(outputs.csv))) {
            await csvFromH5(outputs);
            prev.outputs.csv = path.basename(outputs.csv);
            updates.push('CSV written');
          }
          const wantFilter = options.filter ? JSON.stringify(resolveFilterConfig(options.filter)) : null;
          const hasFilter = prev.outputs.filtered && fs.existsSync(outputs.filteredH5) ? JSON.stringify(prev.outputs.filtered.config) : null;
          if (wantFilter && (wantFilter !== hasFilter || (options.csv && !fs.existsSync(outputs.filteredCsv)))) {
            prev.outputs.filtered = await writeFilteredTraces(outputs, options.filter as TraceFilterConfig, !!options.csv);
            updates.push('filtered traces written');
          }
          if (updates.length) writeFileAtomicSync(outputs.json, `${JSON.stringify(prev, null, 2)}\n`);
          const note = updates.length ? `already tracked; ${updates.join(', ')}` : 'already tracked';
          log(`${video}: ${note} (${path.basename(outputs.json)}; --force to track again)`);
          results.push({ video, status: updates.length ? 'updated' : 'skipped', outputs, metadata: prev, note });
          continue;
        }
        if (prev && why) log(`${video}: tracking again: ${why}`);
        if (!opened) {
          opened = await openPoseEngine(options.model, options);
          for (const n of opened.notes) log(n);
          log(`engine: ${opened.engine.description}`);
        }
        const meta = await trackOne({ video, index, count: videos.length, outputs }, opened.engine, opened.card, fingerprint, opened.onnxSource, o);
        if (options.filter) meta.outputs.filtered = await writeFilteredTraces(outputs, options.filter, !!options.csv);
        // Outputs of an earlier run that this one did not make would not match the new traces.
        const made = new Set([meta.outputs.h5, meta.outputs.csv, meta.outputs.filtered?.h5, meta.outputs.filtered?.csv]);
        for (const f of [outputs.csv, outputs.filteredH5, outputs.filteredCsv]) if (!made.has(path.basename(f))) fs.rmSync(f, { force: true });
        writeFileAtomicSync(outputs.json, `${JSON.stringify(meta, null, 2)}\n`);
        results.push({ video, status: 'tracked', outputs, metadata: meta });
      } catch (e) {
        if (e instanceof InterruptedError) throw e;
        const err = e instanceof Error ? e : new Error(String(e));
        log(`${video}: failed: ${err.message}`);
        results.push({ video, status: 'failed', outputs, error: err });
      }
    }
  } finally {
    await opened?.engine.dispose();
  }
  return results;
}
