/** `facemap-ts synth`: simulate a session with known ground truth. */
import { ParamError } from '../errors';
import { simulateLabelledFrames } from '../synth/labelled';
import { SESSION_PRESETS, simulateSession } from '../synth/session';
import { progressBar, type ProgressBar } from '../util/progress';
import type { Command } from './command';
import { parseOptions } from './command';

export const synthCommand: Command = {
  name: 'synth',
  summary: 'simulate a session (face video, true keypoints, behaviour latents, neural population)',
  help: [
    'Usage: facemap-ts synth --preset NAME --out DIR [--seed N] [--force] [--no-video]',
    '       facemap-ts synth --labelled N --out DIR [--seed N] [--size WxH] [--force]',
    '',
    'With --labelled N: N frames of the synthetic face at random moments of simulated behaviour, with',
    'their true keypoints, as a DeepLabCut project (DIR/CollectedData.csv, DIR/labeled-data/synth/):',
    'training data for `facemap-ts train` (models/fmnet-synth, the tracker the demo runs, is trained so).',
    '',
    'Writes DIR/face.mp4, DIR/neural.h5, DIR/truth/{face_keypoints,latents}.h5 and DIR/session.json.',
    'The folder appears only when the session is complete; the same seed gives identical files.',
    '',
    'Presets:',
    ...Object.entries(SESSION_PRESETS).map(([name, p]) => `  ${name.padEnd(7)} ${p.description}`),
    '',
    '  --seed N     integer >= 0 (default 0)',
    '  --force      replace DIR if it exists (only once the new session is complete)',
    '  --no-video   skip the face video and keypoints (latents and neural data only)',
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(argv, {
      preset: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
      force: { type: 'boolean' },
      'no-video': { type: 'boolean' },
      labelled: { type: 'string' },
      size: { type: 'string' },
    });
    if (values.labelled !== undefined) return labelledFrames(values);
    if (!values.preset) throw new ParamError('--preset', undefined, Object.keys(SESSION_PRESETS).join(' | '));
    if (!values.out) throw new ParamError('--out', undefined, 'a folder to create');
    const seed = values.seed === undefined ? 0 : Number(values.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new ParamError('--seed', values.seed, 'an integer >= 0');
    const bars: Partial<Record<string, ProgressBar>> = {};
    const units = { behavior: 'steps', video: 'frames', neural: 'neurons' } as const;
    const m = await simulateSession({
      preset: values.preset,
      outDir: values.out,
      seed,
      force: values.force ?? false,
      video: !values['no-video'],
      onProgress(stage, done, total) {
        const bar = (bars[stage] ??= progressBar(stage.padEnd(8), units[stage]));
        bar.update(done, total);
        if (done >= total) bar.done();
      },
    });
    process.stdout.write(
      `session '${m.preset}' (seed ${m.seed}) in ${values.out}: ${m.nFrames} frames at ${m.cameraFps} fps` +
        `${m.width ? ` (${m.width}x${m.height})` : ''}, ${m.nNeurons} neurons x ${m.nTimepoints} samples at ${m.neuralFps} Hz, ` +
        `mean oracle variance explained ${m.oracleVeMean.toFixed(3)}` +
        `${m.oracleVeVisibleMean === null ? ' (drive partly invisible in the keypoints: keypoint-visible oracle not known)' : ` (drive keypoint-visible: the keypoint-visible oracle is the same)`}\n`,
    );
  },
};

async function labelledFrames(values: { labelled?: string; out?: string; seed?: string; size?: string; force?: boolean; preset?: string }): Promise<void> {
  const n = Number(values.labelled);
  if (!Number.isInteger(n) || n < 1) throw new ParamError('--labelled', values.labelled, 'an integer >= 1 (frames)');
  if (values.preset) throw new ParamError('--preset', values.preset, 'not with --labelled');
  if (!values.out) throw new ParamError('--out', undefined, 'a folder to create');
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new ParamError('--seed', values.seed, 'an integer >= 0');
  const size = /^(\d+)x(\d+)$/.exec(values.size ?? '256x256');
  if (!size || Number(size[1]) < 64 || Number(size[2]) < 64) throw new ParamError('--size', values.size, 'WxH, each >= 64 (e.g. 256x256)');
  const bar = progressBar('render', 'frames');
  const r = await simulateLabelledFrames({
    n,
    outDir: values.out,
    seed,
    width: Number(size[1]),
    height: Number(size[2]),
    force: values.force ?? false,
    onProgress: (done, total) => bar.update(done, total),
  });
  bar.done();
  process.stdout.write(`${r.nFrames} labelled frames (${r.keypoints.length} keypoints) in ${values.out}: ${r.labelFile}\n`);
}
