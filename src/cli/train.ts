/** `facemap-ts train`: train (or fine-tune) FMnet on labelled frames and save a model folder. */
import * as path from 'node:path';
import { describeBackend, initBackend } from '../engine/backend';
import { ortAvailable } from '../engine/onnx';
import { ParamError } from '../errors';
import { cardImagePaths, saveModel } from '../pose/model-io';
import { inferenceExpand } from '../pose/preprocess';
import { type PoseTrainConfig, type PoseTrainEngine, type PoseTrainResult, type TrainProgress, fineTune, loadLabelledFrames, modelFromCheckpoint, trainPoseModel } from '../pose/train';
import { progressBar, type ProgressBar } from '../util/progress';
import type { Command } from './command';
import { parseOptions } from './command';
import { boxOption, intListOption, numberOption, readLabelFiles } from './pose-args';

function engineOption(v: string | undefined): PoseTrainEngine | undefined {
  if (v === undefined || v === '') return undefined;
  if (v !== 'auto' && v !== 'ort' && v !== 'tfjs') throw new ParamError('--engine', v, 'auto, ort or tfjs');
  return v;
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'train or fine-tune the keypoint tracker (FMnet) on labelled frames',
  help: [
    'Usage: facemap-ts train --labels FILE... --out MODEL_DIR [--base MODEL_DIR] [options]',
    '',
    'Reads every labelled image once (a missing image fails before training), trains with',
    "Facemap's recipe (augmentation, AdamW, grad-norm clip 50, lr /10 then /25 over the last 6",
    'epochs), keeps the epoch with the lowest validation error (original-frame pixels) and writes',
    'MODEL_DIR/{model.json, weights.bin, card.json}. The same seed gives the same model.',
    '',
    '  --labels FILE...    label files (DeepLabCut CSV/.h5, SLEAP .slp); repeat or list several',
    '  --base MODEL_DIR    fine-tune this model (defaults become 36 epochs, batch 1, lr 1e-4, no',
    '                      weight decay); a different keypoint list gets new heads',
    '  --epochs N          default 100 (36 with --base)',
    '  --batch N           frames per optimiser step, default 8 (1 with --base)',
    '  --micro-batch N     frames per forward pass (gradient accumulation; divides --batch)',
    '  --lr F              base learning rate, default 1e-3 (1e-4 with --base)',
    '  --weight-decay F    default 1e-4 (0 with --base)',
    '  --val-fraction F    frames held out for checkpoint selection, default 0.1',
    '  --seed N            default 0',
    '  --input-size N      network input side, multiple of 16, default 256 (the base model\'s with --base)',
    '  --box x0,x1,y0,y1   crop box in frame pixels (end-exclusive), default the whole frame',
    '  --no-augment        no augmentation',
    '  --checkpoint DIR    save a checkpoint every epoch in DIR; run the same command again after an',
    '                      interruption to resume from the last epoch (same weights as an',
    '                      uninterrupted run); a DIR of another run is refused',
    '  --engine E          auto (default): each training step (forward, loss, backward) runs as',
    '                      one ONNX Runtime graph when ONNX Runtime is available, else on tfjs;',
    '                      ort: require that; tfjs: tf.variableGrads on the tfjs backend',
    '                      (FACEMAP_TRAIN_ENGINE sets the default)',
    '  --no-ort-conv       with the tfjs engine on wasm, keep convolutions on wasm (default: on',
    '                      ONNX Runtime; FACEMAP_ORT_CONV=0 does the same)',
    '  --quiet             no progress bars',
    '',
    '       facemap-ts train --from-checkpoint DIR --out MODEL_DIR',
    '',
    'writes the model of a checkpoint folder without training: the best epoch so far (by validation',
    'error; the last epoch without validation frames) of a run that was stopped or is still going.',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        labels: { type: 'string', multiple: true },
        out: { type: 'string' },
        base: { type: 'string' },
        epochs: { type: 'string' },
        batch: { type: 'string' },
        'micro-batch': { type: 'string' },
        lr: { type: 'string' },
        'weight-decay': { type: 'string' },
        'val-fraction': { type: 'string' },
        seed: { type: 'string' },
        'input-size': { type: 'string' },
        channels: { type: 'string' },
        box: { type: 'string' },
        'no-augment': { type: 'boolean' },
        checkpoint: { type: 'string' },
        'no-ort-conv': { type: 'boolean' },
        engine: { type: 'string' },
        quiet: { type: 'boolean' },
        'from-checkpoint': { type: 'string' },
      },
      true,
    );
    if (values['from-checkpoint'] !== undefined) {
      if (!values.out) throw new ParamError('--out', undefined, 'a model folder to write');
      await initBackend();
      const ck = modelFromCheckpoint(path.resolve(values['from-checkpoint']));
      try {
        await saveModel(values.out, ck.model, {
          keypoints: ck.keypoints,
          channels: ck.config.channels,
          inputSize: ck.config.inputSize,
          box: ck.config.box,
          inferenceExpand: inferenceExpand(ck.config.augment),
          trainingData: { files: ck.files, nFrames: ck.split.train.length + ck.split.val.length },
          trainingConfig: { ...ck.config, split: ck.split, checkpoint: path.resolve(values['from-checkpoint']), epochsDone: ck.epochsDone },
          metrics: { validationMeanPx: Number.isNaN(ck.valError) ? null : ck.valError, bestEpoch: ck.epoch, history: ck.history },
          crossValidated: false,
        });
      } finally {
        ck.model.dispose();
      }
      process.stdout.write(`${JSON.stringify({ out: path.resolve(values.out), epochsDone: ck.epochsDone, of: ck.config.epochs, epoch: ck.epoch, validationMeanPx: Number.isNaN(ck.valError) ? null : ck.valError })}\n`);
      return;
    }
    // `--labels a.csv b.csv`: files after the first arrive as positionals.
    const labelFiles = [...(values.labels ?? []), ...positionals];
    if (!values.out) throw new ParamError('--out', undefined, 'a model folder to write');
    const config: PoseTrainConfig = {
      epochs: numberOption('--epochs', values.epochs, 'int', 1),
      batchSize: numberOption('--batch', values.batch, 'int', 1),
      microBatch: numberOption('--micro-batch', values['micro-batch'], 'int', 1),
      lr: numberOption('--lr', values.lr, 'float', 0),
      weightDecay: numberOption('--weight-decay', values['weight-decay'], 'float', 0),
      valFraction: numberOption('--val-fraction', values['val-fraction'], 'float', 0),
      seed: numberOption('--seed', values.seed, 'int', 0),
      inputSize: numberOption('--input-size', values['input-size'], 'int', 32),
      channels: intListOption('--channels', values.channels, 5),
      box: boxOption(values.box),
      augment: values['no-augment'] ? false : undefined,
      engine: engineOption(values.engine ?? process.env.FACEMAP_TRAIN_ENGINE),
    };
    const labels = await readLabelFiles(labelFiles);
    const data = loadLabelledFrames(labels, { labelFile: labelFiles.join(', ') });
    const quiet = values.quiet ?? false;
    for (const w of data.warnings) process.stderr.write(`warning: ${w}\n`);
    const backend = await initBackend({ ortConv: !values['no-ort-conv'] && process.env.FACEMAP_ORT_CONV !== '0' && ortAvailable() });
    if (!quiet) process.stderr.write(`${describeBackend(backend)}\n`);
    if (!quiet && config.engine !== 'tfjs') process.stderr.write(`training steps on ${ortAvailable() ? 'ONNX Runtime (whole step as one graph)' : 'tfjs (ONNX Runtime unavailable)'}\n`);

    let bar: ProgressBar | null = null;
    const onProgress = (p: TrainProgress): void => {
      if (quiet) return;
      bar ??= progressBar(`epoch ${p.epoch + 1}/${p.epochs}`, 'steps');
      if (!p.epochDone) return bar.update(p.step, p.stepsPerEpoch);
      bar.done(`loss ${p.loss.toFixed(3)}, validation error ${Number.isNaN(p.valError) ? '-' : `${p.valError.toFixed(2)} px`} (best epoch ${p.bestEpoch + 1})`);
      bar = null;
    };
    const result: PoseTrainResult = values.base
      ? await fineTune(values.base, labels, config, { onProgress, data, checkpointDir: values.checkpoint })
      : await trainPoseModel(labels, config, { onProgress, data, checkpointDir: values.checkpoint });
    try {
      await saveModel(values.out, result.model, {
        keypoints: result.keypoints,
        channels: result.config.channels,
        inputSize: result.config.inputSize,
        box: result.config.box,
        inferenceExpand: inferenceExpand(result.config.augment),
        trainingData: { files: cardImagePaths(result.files, labels.root), nFrames: result.nFrames, labelFiles: labelFiles.map((f) => path.resolve(f)) },
        trainingConfig: { ...result.config, split: result.split },
        metrics: { validationMeanPx: Number.isNaN(result.bestValError) ? null : result.bestValError, bestEpoch: result.bestEpoch, history: result.history },
        crossValidated: false,
        ...(values.base ? { base: path.resolve(values.base) } : {}),
      });
    } finally {
      result.model.dispose();
    }
    const summary = {
      out: path.resolve(values.out),
      keypoints: result.keypoints.length,
      frames: result.nFrames,
      epochs: result.config.epochs,
      bestEpoch: result.bestEpoch,
      validationMeanPx: Number.isNaN(result.bestValError) ? null : result.bestValError,
      engine: result.engine.used,
      secondsPerEpoch: result.history.reduce((s, h) => s + h.seconds, 0) / result.history.length,
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  },
};
