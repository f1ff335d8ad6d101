/**
 * Labelled frames of the synthetic face, for training a tracker on simulated video: frames rendered
 * at random moments of simulated behaviour (so pupil, blink, whisking, sniffing, licking and the
 * paw take their natural joint distribution), by several renderers with different seeds (fur
 * texture, illumination phase, sensor noise), written as a DeepLabCut project:
 * `DIR/labeled-data/synth/imgNNNNN.png` and `DIR/CollectedData.csv` with the true keypoints
 * (the paw's cells empty when it is out of view).
 *
 * The folder appears only once complete (written as `DIR.partial-<pid>`, then renamed).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ParamError } from '../errors';
import { writePngGrey } from '../io/png';
import { writeLabels } from '../pose/labels/registry';
import type { LabelSet } from '../pose/labels/types';
import { Rng } from '../util/random';
import { simulateBehavior } from './behavior';
import { FaceRenderer, faceStateAt } from './face';

export interface LabelledFramesOptions {
  /** Number of frames (integer >= 1). */
  n: number;
  /** Folder to create (the DeepLabCut project). */
  outDir: string;
  /** Seed of behaviour, frame choice and renderer seeds (integer >= 0). Default 0. */
  seed?: number;
  /** Frame size, px. Default 256 x 256 (the sessions' size). */
  width?: number;
  height?: number;
  /** Number of different renderers (textures, illumination, noise), frames spread evenly. Default 4. */
  renderers?: number;
  /** Replace outDir if it exists. Default false (ParamError). */
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface LabelledFramesResult {
  /** The DeepLabCut CSV. */
  labelFile: string;
  nFrames: number;
  keypoints: string[];
  /** Seeds of the face renderers used. */
  rendererSeeds: number[];
}

/** Renderer seeds of labelled sets start here, away from the seeds sessions use for their videos. */
const RENDERER_SEED_BASE = 7_000_000;

export async function simulateLabelledFrames(options: LabelledFramesOptions): Promise<LabelledFramesResult> {
  const { n, outDir } = options;
  const seed = options.seed ?? 0;
  const width = options.width ?? 256;
  const height = options.height ?? 256;
  const nRenderers = options.renderers ?? 4;
  if (!Number.isInteger(n) || n < 1) throw new ParamError('n', n, 'an integer >= 1');
  if (!Number.isInteger(seed) || seed < 0) throw new ParamError('seed', seed, 'an integer >= 0');
  if (!Number.isInteger(nRenderers) || nRenderers < 1) throw new ParamError('renderers', nRenderers, 'an integer >= 1');
  if (fs.existsSync(outDir) && !options.force) throw new ParamError('outDir', outDir, 'a folder that does not exist yet (or force)');

  const rng = new Rng(seed);
  const fps = 50;
  // About 2 s of behaviour per frame: consecutive picks are nearly independent.
  const latents = simulateBehavior({ fps, nFrames: Math.max(2 * fps, n * 2 * fps) }, rng);
  const picks = Array.from({ length: n }, () => Math.floor(rng.uniform() * latents.nFrames));
  const rendererSeeds = Array.from({ length: nRenderers }, (_, r) => RENDERER_SEED_BASE + seed * 100 + r);
  const renderers = rendererSeeds.map((s) => new FaceRenderer({ width, height, seed: s }));

  const tmp = `${outDir}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const sub = path.join(tmp, 'labeled-data', 'synth');
  fs.mkdirSync(sub, { recursive: true });
  try {
    let keypoints: string[] = [];
    const frames: LabelSet['frames'] = [];
    for (let i = 0; i < n; i++) {
      const t = picks[i];
      const r = renderers[i % nRenderers].render(faceStateAt(latents, t), t, fps);
      keypoints = r.names;
      const image = `labeled-data/synth/img${String(i).padStart(5, '0')}.png`;
      writePngGrey(path.join(tmp, image), r.frame, r.height, r.width);
      frames.push({ image, x: Float32Array.from(r.x), y: Float32Array.from(r.y) });
      options.onProgress?.(i + 1, n);
    }
    const labelSet: LabelSet = { keypoints, frames, root: tmp, scorer: 'facemap-ts-synth' };
    await writeLabels(path.join(tmp, 'CollectedData.csv'), labelSet);
    if (fs.existsSync(outDir)) fs.rmSync(outDir, { recursive: true, force: true });
    fs.renameSync(tmp, outDir);
    return { labelFile: path.join(outDir, 'CollectedData.csv'), nFrames: n, keypoints, rendererSeeds };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
