/** `facemap-ts export-onnx`: write model.onnx (and, with --int8, model.int8.onnx) beside a model folder's tfjs model. */
import { initBackend } from '../engine/backend';
import { ParamError } from '../errors';
import { exportOnnx } from '../pose/onnx-export';
import { calibrationFrames, exportOnnxInt8 } from '../pose/onnx-int8';
import type { Command } from './command';
import { parseOptions } from './command';
import { numberOption } from './pose-args';

export const exportOnnxCommand: Command = {
  name: 'export-onnx',
  summary: 'export a keypoint model folder to ONNX (MODEL_DIR/model.onnx; --int8: model.int8.onnx) for fast tracking',
  help: [
    'Usage: facemap-ts export-onnx --model MODEL_DIR [--no-fold]',
    '       facemap-ts export-onnx --model MODEL_DIR --int8 --calibrate LABELS_OR_VIDEO [--calibration-frames N] [--percentile P]',
    '',
    'Writes MODEL_DIR/model.onnx: input "image" [N,1,S,S] (preprocessed frames), outputs "heatmap",',
    '"row_offset", "col_offset" [N,K,S/4,S/4] (NCHW). Batch norms are folded into the convolutions',
    'where that is exact; the metadata records the tfjs weights it came from, so `track` notices a',
    'model.onnx older than its weights. Prints one JSON line (file, size, folded/kept batch norms, nodes).',
    '',
    'With --int8 it writes MODEL_DIR/model.int8.onnx instead (used by `track --int8`): the same network',
    'with int8 weights (per channel) and uint8 activations whose ranges are calibrated on real frames,',
    'the heads kept in float. The JSON line reports how far its keypoints move from float32 on the',
    'calibration frames (network-input pixels; x (box side / input size) for frame pixels).',
    '',
    '  --model MODEL_DIR          a folder written by facemap-ts train (model.json, weights.bin, card.json)',
    '  --no-fold                  keep every batch norm as a BatchNormalization node',
    '  --int8                     write the int8 model',
    '  --calibrate FILE           frames to calibrate on: a label file (.csv, .h5, .slp: its images) or a',
    '                             video (frames evenly spaced); use frames like those you will track',
    '  --calibration-frames N     at most N frames, default 64',
    '  --percentile P             activation ranges from the central P% of values, default 100 (min/max)',
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(argv, {
      model: { type: 'string' },
      'no-fold': { type: 'boolean' },
      int8: { type: 'boolean' },
      calibrate: { type: 'string' },
      'calibration-frames': { type: 'string' },
      percentile: { type: 'string' },
    });
    if (!values.model) throw new ParamError('--model', undefined, 'a model folder written by facemap-ts train');
    if (!values.int8) {
      for (const f of ['calibrate', 'calibration-frames', 'percentile'] as const) if (values[f] !== undefined) throw new ParamError(`--${f}`, values[f], 'to be used with --int8');
      const r = await exportOnnx(values.model, { foldBatchNorm: !values['no-fold'] });
      process.stderr.write(`${r.file}: ${(r.bytes / 2 ** 20).toFixed(1)} MB, ${r.foldedBatchNorms} batch norms folded, ${r.keptBatchNorms} kept\n`);
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return;
    }
    if (values['no-fold']) throw new ParamError('--no-fold', true, 'not with --int8 (the int8 model is built from the folded export)');
    if (!values.calibrate) throw new ParamError('--calibrate', undefined, 'a label file or video to calibrate the int8 activation ranges on');
    await initBackend();
    const cal = await calibrationFrames(values.model, values.calibrate, numberOption('--calibration-frames', values['calibration-frames'], 'int', 1) ?? 64);
    process.stderr.write(`calibrating on ${cal.source}\n`);
    const r = await exportOnnxInt8(values.model, cal, { percentile: numberOption('--percentile', values.percentile, 'float', 50) });
    process.stderr.write(
      `${r.file}: ${(r.bytes / 2 ** 20).toFixed(1)} MB, ${r.quantizedConvs} convolutions int8, ${r.floatConvs} float; ` +
        `keypoints vs float32 on the calibration frames: mean ${r.deviation.mean} px, p95 ${r.deviation.p95} px (network input)\n`,
    );
    process.stdout.write(`${JSON.stringify(r)}\n`);
  },
};
