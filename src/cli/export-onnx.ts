/** `facemap-ts export-onnx`: write model.onnx beside a model folder's tfjs model. */
import { ParamError } from '../errors';
import { exportOnnx } from '../pose/onnx-export';
import type { Command } from './command';
import { parseOptions } from './command';

export const exportOnnxCommand: Command = {
  name: 'export-onnx',
  summary: 'export a keypoint model folder to ONNX (MODEL_DIR/model.onnx) for fast tracking',
  help: [
    'Usage: facemap-ts export-onnx --model MODEL_DIR [--no-fold]',
    '',
    'Writes MODEL_DIR/model.onnx: input "image" [N,1,S,S] (preprocessed frames), outputs "heatmap",',
    '"row_offset", "col_offset" [N,K,S/4,S/4] (NCHW). Batch norms are folded into the convolutions',
    'where that is exact; the metadata records the tfjs weights it came from, so `track` notices a',
    'model.onnx older than its weights. Prints one JSON line (file, size, folded/kept batch norms, nodes).',
    '',
    '  --model MODEL_DIR   a folder written by facemap-ts train (model.json, weights.bin, card.json)',
    '  --no-fold           keep every batch norm as a BatchNormalization node',
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(argv, { model: { type: 'string' }, 'no-fold': { type: 'boolean' } });
    if (!values.model) throw new ParamError('--model', undefined, 'a model folder written by facemap-ts train');
    const r = await exportOnnx(values.model, { foldBatchNorm: !values['no-fold'] });
    process.stderr.write(`${r.file}: ${(r.bytes / 2 ** 20).toFixed(1)} MB, ${r.foldedBatchNorms} batch norms folded, ${r.keptBatchNorms} kept\n`);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  },
};
