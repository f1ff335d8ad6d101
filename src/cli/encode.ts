/** `facemap-ts encode`: keypoint encoder and linear baselines -> variance-explained tables. */
import { describeBackend, initBackend } from '../engine/backend';
import { ParamError } from '../errors';
import { readTimesNpy, runEncode } from '../neural/analysis';
import type { ModelRow } from '../neural/tables';
import { readSessionOracles } from '../synth/truth';
import { progressBar, type ProgressBar } from '../util/progress';
import type { Command } from './command';
import { parseOptions } from './command';

function positiveNumber(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new ParamError(flag, v, 'a number > 0');
  return n;
}

function integer(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ParamError(flag, v, `an integer >= ${min}`);
  return n;
}

const pct = (v: number | null) => (v === null || !Number.isFinite(v) ? '—' : `${v.toFixed(1)}%`);
const num = (v: number | null) => (v === null || !Number.isFinite(v) ? '—' : v.toFixed(4));

/** The variance table as aligned text, one row per model. */
export function formatModelTable(rows: ModelRow[]): string {
  const head = ['model', 'input', 'rank', 'test VE (targets)', 'mean neuron VE', 'normalised VE'];
  const body = rows.map((r) => [r.model, r.input, r.rank === null ? '' : String(r.rank), num(r.pcVe), num(r.meanNeuronVe), pct(r.normalizedVe)]);
  const w = head.map((h, j) => Math.max(h.length, ...body.map((b) => b[j].length)));
  const line = (cells: string[]) => cells.map((c, j) => (j < 2 ? c.padEnd(w[j]) : c.padStart(w[j]))).join('  ');
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}

export const encodeCommand: Command = {
  name: 'encode',
  summary: 'predict neural activity from keypoints (Facemap keypoint network + linear baselines) -> variance-explained tables',
  help: [
    'Usage: facemap-ts encode --neural FILE --keypoints FILE [--svd FILE] [--target pcs|neurons] [--out DIR] [options]',
    '',
    'Fits Facemap\'s keypoint network (linear, Gabor-initialised per-feature conv, 50, 256 latents,',
    'readout; AdamW) and the linear baselines (ridge and reduced-rank regression from the',
    'keypoints, and from the motion and movie SVDs of --svd), on the first 75% of each of 10 segments of',
    'the neural recording, and scores them on the rest (3-sample gaps). Prints one row per model: test',
    'VE of the targets, mean VE over neurons, and that mean divided by the mean explainable variance',
    '(peer prediction on a 400 um checkerboard; needs neuron positions) as in the paper.',
    '',
    '  --neural FILE       neurons x time: .npy, HDF5 (/neural/activity), NWB, or a suite2p folder',
    '  --keypoints FILE    Facemap pose .h5 (/Facemap/<keypoint>/{x,y,likelihood}) of the same session',
    '  --svd FILE          _proc.h5 from `facemap-ts svd` (motSVD/0, movSVD/0) of the same video',
    '  --target pcs|neurons  encoder targets: the top --pcs PCs of the normalised activity (default),',
    '                      or every neuron (small recordings only); linear baselines always predict PCs',
    '  --out DIR           writes models.csv, neurons.csv (one row per neuron and model), split.json,',
    '                      tables.h5 (the same tables as HDF5 columns) and encoder/ (the fitted network)',
    '  --camera-fps HZ     camera rate when the keypoint file has no times (simulated sessions: read',
    '                      from session.json)',
    '  --camera-times FILE .npy of camera frame times (s), one per keypoint frame',
    '  --neural-fps HZ     neural rate when the recording has no timestamps',
    '  --exclude NAMES     keypoints left out, comma-separated (default paw; "" keeps all)',
    '  --pcs N             neural PCs (default 128)',
    '  --epochs N          encoder epochs: at most N (validated schedule), exactly N (fixed); default 300',
    '  --schedule validated|fixed  validated (default): the last 15% of each training segment (after a',
    '                      3-sample gap) chooses when to divide the learning rate by 10 (20 epochs',
    '                      without improvement; twice) and when to stop, then the encoder is trained',
    '                      again on every training sample with that schedule; fixed: Facemap\'s N',
    '                      epochs with lr /10 at N-100 and N-50 (overfits short recordings)',
    '  --seed N            encoder seed (default 0)',
    '  --no-peer           skip the explainable variance',
    '  --quiet             no progress bars',
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(argv, {
      neural: { type: 'string' },
      keypoints: { type: 'string' },
      svd: { type: 'string' },
      target: { type: 'string' },
      out: { type: 'string' },
      'camera-fps': { type: 'string' },
      'camera-times': { type: 'string' },
      'neural-fps': { type: 'string' },
      exclude: { type: 'string' },
      pcs: { type: 'string' },
      epochs: { type: 'string' },
      schedule: { type: 'string' },
      seed: { type: 'string' },
      'no-peer': { type: 'boolean' },
      quiet: { type: 'boolean' },
    });
    if (!values.neural) throw new ParamError('--neural', undefined, 'a neural recording (.npy, .h5, .nwb or a suite2p folder)');
    if (!values.keypoints) throw new ParamError('--keypoints', undefined, 'a Facemap pose .h5 file');
    const target = values.target ?? 'pcs';
    if (target !== 'pcs' && target !== 'neurons') throw new ParamError('--target', target, 'pcs | neurons');
    const epochs = integer('--epochs', values.epochs, 1);
    const seed = integer('--seed', values.seed, 0);
    const schedule = values.schedule ?? 'validated';
    if (schedule !== 'validated' && schedule !== 'fixed') throw new ParamError('--schedule', schedule, 'validated | fixed');
    const info = await initBackend();
    const quiet = values.quiet ?? false;
    if (!quiet) process.stderr.write(`${describeBackend(info)}\n`);
    const bars = new Map<string, ProgressBar>();
    const ctx = await runEncode(
      {
        neural: values.neural,
        keypoints: values.keypoints,
        svd: values.svd,
        target,
        out: values.out,
        cameraFps: positiveNumber('--camera-fps', values['camera-fps']),
        cameraTimes: values['camera-times'] ? readTimesNpy(values['camera-times']) : undefined,
        neuralFps: positiveNumber('--neural-fps', values['neural-fps']),
        exclude: values.exclude === undefined ? undefined : values.exclude.split(',').map((s) => s.trim()).filter((s) => s.length > 0),
        nPC: integer('--pcs', values.pcs, 1),
        encoder: { ...(epochs === undefined ? {} : { epochs }), ...(seed === undefined ? {} : { seed }), ...(schedule === 'fixed' ? { validationFraction: 0 } : {}) },
        peer: !values['no-peer'],
        onProgress(what, done, total, unit) {
          if (quiet) return;
          let bar = bars.get(what);
          if (!bar) bars.set(what, (bar = progressBar(what.padEnd(20), unit)));
          bar.update(done, total);
          if (done >= total) {
            bar.done();
            bars.delete(what);
          }
        },
        onNote: (m) => process.stderr.write(`note: ${m}\n`),
      },
      undefined,
      (name, s) => {
        if (!quiet) process.stderr.write(`step ${name}: ${s.toFixed(1)} s\n`);
      },
    );
    const rec = ctx.recording!;
    const ev = ctx.models[0]?.meanExplainable;
    process.stdout.write(
      `${rec.nNeurons} neurons x ${rec.nTime} samples, ${ctx.keypoints!.nFrames} camera frames, ${ctx.keypoints!.nFeatures} keypoint columns; ` +
        `${ctx.split!.train.length} train / ${ctx.split!.test.length} test samples; ` +
        `mean explainable variance ${ev === null || ev === undefined ? '— (no positions)' : ev.toFixed(4)}\n\n`,
    );
    const tr = ctx.encoder?.training;
    if (tr) {
      const v = tr.validation;
      process.stdout.write(
        `encoder schedule: ${tr.schedule === 'fixed' ? `fixed, ${tr.epochs} epochs` : `validated on ${v!.nValidation} held-out training samples: best epoch ${v!.bestEpoch + 1} of ${v!.selectionEpochs} (validation VE ${v!.ve.toFixed(4)}), ${v!.refit ? `then ${tr.epochs} epochs on all ${tr.nTrain} training samples` : 'its weights kept'}`}` +
          `${tr.annealEpochs.length ? `; lr / 10 at epoch ${tr.annealEpochs.map((e) => e + 1).join(', ')}` : ''}; ${tr.seconds.toFixed(1)} s\n\n`,
      );
    }
    process.stdout.write(`${formatModelTable(ctx.models)}\n`);
    const oracles = await readSessionOracles(values.neural);
    if (oracles) {
      const ratio = (o: number) => ctx.models.filter((m) => m.meanNeuronVe !== null).map((m) => `${m.model} (${m.input}) ${((100 * (m.meanNeuronVe as number)) / o).toFixed(1)}%`).join(', ');
      process.stdout.write(
        `\nsimulated truth: mean oracle VE ${oracles.full.toFixed(4)} (ideal predictor from all the behaviour that drives the neurons); mean neuron VE / oracle: ${ratio(oracles.full)}\n` +
          (oracles.visible === null
            ? 'keypoint-visible oracle: not known (the neurons also follow behaviour no keypoint shows)\n'
            : `keypoint-visible oracle VE ${oracles.visible.toFixed(4)} (ideal predictor from what the keypoints show, within +-2 s); mean neuron VE / it: ${ratio(oracles.visible)}\n`),
      );
    }
    if (ctx.files.length) process.stdout.write(`\nwrote ${ctx.files.join(', ')}\n`);
  },
};
