/** `facemap-ts track`: keypoints of every frame of one or more videos. */
import * as path from 'node:path';
import { ParamError } from '../errors';
import type { TraceFilterConfig } from '../pose/filters';
import { trackVideos } from '../pose/track';
import type { Command } from './command';
import { parseOptions } from './command';
import { boxOption, numberOption } from './pose-args';

export const trackCommand: Command = {
  name: 'track',
  summary: 'track keypoints in videos -> <video>_FacemapPose.h5 (+ DeepLabCut CSV, filtered traces)',
  help: [
    'Usage: facemap-ts track VIDEO... --model MODEL_DIR [--box X0,X1,Y0,Y1] [--expand F] [--flip-average] [--int8] [--batch N] [--out DIR] [--csv] [--filter]',
    '',
    'Streams each video through ffmpeg -> crop/pad/resize/normalise -> FMnet on ONNX Runtime (in a',
    'worker thread, overlapping decoding) -> keypoints in original-frame pixels + likelihood, and',
    'writes (in --out, default beside each video):',
    '  <video>_FacemapPose.h5     Facemap\'s layout: /Facemap/<keypoint>/{x,y,likelihood}, float32 [frames]',
    '  <video>_FacemapPose.csv    with --csv: DeepLabCut CSV (scorer/bodyparts/coords rows, frame index)',
    '  <video>_FacemapPose_filtered.{h5,csv}  with --filter: cleaned traces (the raw ones are kept)',
    '  <video>_FacemapPose.json   metadata (model, box, engine, frames, fps, speed), written last',
    'Outputs appear only when a video is complete; a truncated or corrupt video is an error naming',
    'the file and frame. Finished videos (matching metadata) are skipped on a re-run; --csv or',
    '--filter on a finished video derives those outputs from its saved traces. Prints one JSON line',
    'per run on stdout (status, frames, frames/s per video).',
    '',
    '  --model MODEL_DIR        model folder (uses MODEL_DIR/model.onnx; exported in memory if missing)',
    '  --box X0,X1,Y0,Y1        crop box in frame pixels (end-exclusive); default the model card\'s box, else the whole frame',
    '  --expand F               grow the box by F of its width/height on each side (clamped to the frame)',
    '                           before cropping; default the model card\'s (0.2: the mean training expansion)',
    '  --flip-average           also run each frame mirrored and average the two predictions (lower',
    '                           error, twice the inference time)',
    '  --int8                   run MODEL_DIR/model.int8.onnx (export-onnx --int8): ~2x faster on CPUs with',
    '                           int8 dot-product instructions, keypoints within ~1 px of float32',
    '  --batch N                frames per forward pass, default 4 (memory grows ~35 MB a frame and worker)',
    '  --out DIR                output folder',
    '  --csv                    also write DeepLabCut CSV',
    '  --engine auto|onnx|tfjs  default auto: ONNX Runtime, or tfjs when it cannot load (FACEMAP_ORT=off forces that)',
    '  --workers N              ONNX Runtime workers taking batches in turn, default 2 (on 2 cores, two',
    '                           single-threaded workers beat one two-threaded session; --workers 1 uses one)',
    '  --threads N              ONNX Runtime threads per worker, default the cores divided among the workers',
    '  --force                  track again even if finished outputs exist',
    '  --quiet                  no progress on stderr',
    'Clean-up (Facemap\'s filters; --filter turns both on):',
    '  --filter                 write filtered traces',
    '  --no-confidence-filter   skip the likelihood filter (baseline-subtracted likelihood < -N std -> NaN)',
    '  --confidence-std N       default 8',
    '  --confidence-sigma F     Gaussian baseline sigma in frames, default 200',
    '  --no-outlier-filter      skip the jump/spike filter and interpolation',
    '  --max-jump PX            largest frame-to-frame jump, default 25',
    '  --max-spike PX           largest distance from the running median, default 25',
    '  --baseline-window N      running-median window for spikes, default 50 frames',
    '  --fill-window N          running-median window that fills dropped frames, default 15',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        model: { type: 'string' },
        box: { type: 'string' },
        expand: { type: 'string' },
        int8: { type: 'boolean' },
        'flip-average': { type: 'boolean' },
        batch: { type: 'string' },
        out: { type: 'string' },
        csv: { type: 'boolean' },
        engine: { type: 'string' },
        threads: { type: 'string' },
        workers: { type: 'string' },
        force: { type: 'boolean' },
        quiet: { type: 'boolean' },
        filter: { type: 'boolean' },
        'no-confidence-filter': { type: 'boolean' },
        'confidence-std': { type: 'string' },
        'confidence-sigma': { type: 'string' },
        'no-outlier-filter': { type: 'boolean' },
        'max-jump': { type: 'string' },
        'max-spike': { type: 'string' },
        'baseline-window': { type: 'string' },
        'fill-window': { type: 'string' },
      },
      true,
    );
    if (!values.model) throw new ParamError('--model', undefined, 'a model folder (facemap-ts train, or a shipped model under models/)');
    if (positionals.length === 0) throw new ParamError('VIDEO', undefined, 'one or more video files');
    const engine = values.engine ?? 'auto';
    if (!['auto', 'onnx', 'tfjs'].includes(engine)) throw new ParamError('--engine', engine, 'auto, onnx or tfjs');
    const filterFlags = ['no-confidence-filter', 'confidence-std', 'confidence-sigma', 'no-outlier-filter', 'max-jump', 'max-spike', 'baseline-window', 'fill-window'] as const;
    const used = filterFlags.filter((f) => values[f] !== undefined);
    if (!values.filter && used.length) throw new ParamError(`--${used[0]}`, values[used[0]], 'to be used with --filter');
    let filter: TraceFilterConfig | null = null;
    if (values.filter) {
      if (values['no-confidence-filter'] && values['no-outlier-filter']) throw new ParamError('--filter', 'both filters off', 'at least one of the confidence and outlier filters');
      filter = {
        confidence: values['no-confidence-filter']
          ? false
          : { nStd: numberOption('--confidence-std', values['confidence-std'], 'float', 0), sigma: numberOption('--confidence-sigma', values['confidence-sigma'], 'float', 0) },
        outliers: values['no-outlier-filter']
          ? false
          : {
              maxJump: numberOption('--max-jump', values['max-jump'], 'float', 0),
              maxSpike: numberOption('--max-spike', values['max-spike'], 'float', 0),
              baselineWindow: numberOption('--baseline-window', values['baseline-window'], 'int', 1),
              fillWindow: numberOption('--fill-window', values['fill-window'], 'int', 1),
            },
      };
      // Unset options keep Facemap's defaults.
      for (const part of [filter.confidence, filter.outliers]) {
        if (part) for (const [k, v] of Object.entries(part)) if (v === undefined) delete (part as Record<string, unknown>)[k];
      }
    }
    const controller = new AbortController();
    const onSigint = () => {
      process.stderr.write('\ninterrupted: stopping after the current batch (Ctrl-C again to quit at once)\n');
      controller.abort();
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSigint);
    try {
      const results = await trackVideos(positionals, {
        model: values.model,
        box: boxOption(values.box),
        expand: numberOption('--expand', values.expand, 'float', 0),
        precision: values.int8 ? 'int8' : 'float32',
        flipAverage: values['flip-average'] ?? false,
        batchSize: numberOption('--batch', values.batch, 'int', 1),
        outDir: values.out,
        csv: values.csv ?? false,
        filter,
        engine: engine as 'auto' | 'onnx' | 'tfjs',
        threads: numberOption('--threads', values.threads, 'int', 1),
        workers: numberOption('--workers', values.workers, 'int', 1),
        force: values.force ?? false,
        quiet: values.quiet ?? false,
        signal: controller.signal,
      });
      const summary = {
        videos: results.map((r) => ({
          video: path.resolve(r.video),
          status: r.status,
          frames: r.metadata?.video.nFrames ?? null,
          framesPerSecond: r.status === 'tracked' ? (r.metadata?.speed.framesPerSecond ?? null) : null,
          h5: r.status === 'failed' ? null : r.outputs.h5,
          error: r.error?.message ?? null,
        })),
        engine: results.find((r) => r.metadata)?.metadata?.engine.description ?? null,
        peakRssMB: +((process.resourceUsage().maxRSS * 1024) / 2 ** 20).toFixed(1),
      };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      const failed = results.filter((r) => r.status === 'failed');
      if (failed.length) {
        if (failed.length > 1) process.stderr.write(`${failed.length} of ${results.length} videos failed\n`);
        throw failed[0].error;
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
