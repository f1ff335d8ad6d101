/** `facemap-ts svd`: motion/movie SVDs, motion energy, pupil, blink and running of videos. */
import * as fs from 'node:fs';
import { ParamError } from '../errors';
import { loadRois } from '../motion/rois';
import { procPath, writeProc } from '../motion/proc';
import { MotionSVD, type MotionStage } from '../motion/svd';
import { videoSource } from '../motion/source';
import { progressBar, type ProgressBar } from '../util/progress';
import type { Command } from './command';
import { parseOptions } from './command';

function positiveInt(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ParamError(flag, v, 'an integer >= 1');
  return n;
}

export const svdCommand: Command = {
  name: 'svd',
  summary: 'motion SVD (and movie SVD, pupil, blink, running) of one or several simultaneous videos -> _proc.h5',
  help: [
    'Usage: facemap-ts svd VIDEO... [--sbin N] [--rois FILE] [--components N] [--movie] [--out DIR]',
    '',
    'Several videos are processed as one recording (pixels concatenated; equal frame counts).',
    'Writes DIR/<first video name>_proc.h5 (default DIR: the first video\'s folder); layout in src/motion/proc.ts.',
    '',
    '  --sbin N         spatial binning (default 4)',
    '  --rois FILE      JSON array of {type: motion|movie|pupil|blink|running, box: {x0,x1,y0,y1}, video?, options?}',
    '  --components N   spatial masks per target (default 500)',
    '  --movie          also a movie SVD (frames - mean frame) of the whole frame',
    '  --out DIR        output folder',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        sbin: { type: 'string' },
        rois: { type: 'string' },
        components: { type: 'string' },
        movie: { type: 'boolean' },
        out: { type: 'string' },
      },
      true,
    );
    if (positionals.length === 0) throw new ParamError('VIDEO', undefined, 'one or more video files');
    const src = await videoSource(positionals);
    const rois = values.rois ? loadRois(values.rois, src.sizes) : [];
    const bars: Partial<Record<MotionStage, ProgressBar>> = {};
    const labels = { mean: 'mean frame', masks: 'masks', project: 'projection' } as const;
    const model = new MotionSVD({
      sbin: positiveInt('--sbin', values.sbin, 4),
      nComponents: positiveInt('--components', values.components, 500),
      movie: values.movie ?? false,
      rois,
      onProgress(stage, done, total) {
        const bar = (bars[stage] ??= progressBar(labels[stage].padEnd(10), 'frames'));
        bar.update(done, total);
        if (done >= total) bar.done();
      },
    });
    await model.fit(src);
    const result = await model.transform(src);
    const file = procPath(positionals[0], values.out);
    if (values.out) fs.mkdirSync(values.out, { recursive: true });
    await writeProc(file, model, result);
    const k = model.targets.map((t) => `${t.kind}${t.roi === null ? '' : ` roi ${t.roi}`}: ${t.masks.cols}`).join(', ');
    process.stdout.write(`${file}: ${result.nFrames} frames, ${model.nPixels} binned pixels, components (${k})\n`);
  },
};
