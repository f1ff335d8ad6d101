/** `facemap-ts label-video`: draw tracked keypoints on a video's frames. */
import { ParamError } from '../errors';
import { labelVideo } from '../pose/label-video';
import type { Command } from './command';
import { parseOptions } from './command';
import { numberOption } from './pose-args';

export const labelVideoCommand: Command = {
  name: 'label-video',
  summary: 'draw tracked keypoints on the frames of a video -> OUT.mp4',
  help: [
    'Usage: facemap-ts label-video VIDEO --keypoints FILE --out OUT.mp4 [--radius PX] [--min-likelihood P] [--start N] [--count N]',
    '',
    'FILE: keypoint traces of VIDEO (<video>_FacemapPose.h5, a DeepLabCut .csv or .h5). One colour per',
    'keypoint (the colours of keypointTracesFigure); dot opacity follows the likelihood. H.264 when',
    'ffmpeg has libx264, else MPEG-4. OUT appears only when complete.',
    '',
    '  --radius PX          dot radius, default 1% of the larger frame side',
    '  --min-likelihood P   hide keypoints below this likelihood (default 0: show all)',
    '  --start N, --count N frames to draw (default the whole video)',
    '  --quiet              no progress on stderr',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        keypoints: { type: 'string' },
        out: { type: 'string' },
        radius: { type: 'string' },
        'min-likelihood': { type: 'string' },
        start: { type: 'string' },
        count: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      true,
    );
    if (positionals.length !== 1) throw new ParamError('VIDEO', positionals.join(' ') || undefined, 'exactly one video file');
    if (!values.keypoints) throw new ParamError('--keypoints', undefined, 'a keypoint trace file of the video (e.g. <video>_FacemapPose.h5)');
    if (!values.out) throw new ParamError('--out', undefined, 'the video file to write (e.g. labelled.mp4)');
    const r = await labelVideo(positionals[0], values.keypoints, values.out, {
      radius: numberOption('--radius', values.radius, 'float', 0),
      minLikelihood: numberOption('--min-likelihood', values['min-likelihood'], 'float', 0),
      start: numberOption('--start', values.start, 'int', 0),
      count: numberOption('--count', values.count, 'int', 1),
      quiet: values.quiet ?? false,
    });
    process.stdout.write(`${JSON.stringify({ out: values.out, frames: r.frames, codec: r.codec })}\n`);
  },
};
