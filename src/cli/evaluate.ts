/** `facemap-ts evaluate`: pixel error and PCK of a model folder on labelled frames. */
import { describeBackend, initBackend } from '../engine/backend';
import { ParamError } from '../errors';
import { evaluateModelDir } from '../pose/evaluate';
import type { Command } from './command';
import { parseOptions } from './command';
import { numberOption, readLabelFiles } from './pose-args';

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'pixel error and PCK of a keypoint model on labelled frames',
  help: [
    'Usage: facemap-ts evaluate --model MODEL_DIR --labels FILE... [--batch N] [--expand F] [--flip-average] [--int8] [--quiet]',
    '',
    'Predicts every labelled frame (with the crop box the model was trained with, grown by the',
    'model card\'s expansion as in `track`) and prints a',
    'human summary on stderr, then one JSON line of the metrics on stdout: pixel error mean, median',
    'and 95th percentile, PCK at 5 and 10 px and at 5% of the crop side, overall and per keypoint',
    '(missing labels ignored; errors in original-frame pixels).',
    '',
    '  --expand F        box growth per side (fraction of its size); default the model card\'s',
    '  --flip-average    also predict each frame mirrored and average the two (twice the cost)',
    '  --int8            predict with MODEL_DIR/model.int8.onnx (export-onnx --int8) on ONNX Runtime',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        model: { type: 'string' },
        labels: { type: 'string', multiple: true },
        batch: { type: 'string' },
        expand: { type: 'string' },
        'flip-average': { type: 'boolean' },
        int8: { type: 'boolean' },
        quiet: { type: 'boolean' },
      },
      true,
    );
    if (!values.model) throw new ParamError('--model', undefined, 'a model folder written by facemap-ts train');
    const labelFiles = [...(values.labels ?? []), ...positionals];
    const labels = await readLabelFiles(labelFiles);
    const backend = await initBackend();
    if (!values.quiet) process.stderr.write(`${describeBackend(backend)}\n`);
    const r = await evaluateModelDir(values.model, labels, {
      batchSize: numberOption('--batch', values.batch, 'int', 1),
      expand: numberOption('--expand', values.expand, 'float', 0),
      flipAverage: values['flip-average'] ?? false,
      precision: values.int8 ? 'int8' : 'float32',
      labelFile: labelFiles.join(', '),
    });
    const m = r.metrics;
    if (!values.quiet) {
      process.stderr.write(`${m.n} labelled keypoints in ${r.indices.length} frames: mean ${m.mean.toFixed(2)} px, median ${m.median.toFixed(2)} px, p95 ${m.p95.toFixed(2)} px\n`);
      for (const k of m.perKeypoint) process.stderr.write(`  ${k.keypoint.padEnd(16)} mean ${k.mean.toFixed(2)} px  (n ${k.n})\n`);
    }
    process.stdout.write(`${JSON.stringify({ model: values.model, frames: r.indices.length, expand: r.expand, flipAverage: values['flip-average'] ?? false, precision: values.int8 ? 'int8' : 'float32', ...m })}\n`);
  },
};
