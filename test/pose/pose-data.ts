/** Tiny labelled data sets for the training specs: synthetic faces (64x64) written as PNGs with their true keypoints. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writePngGrey } from '../../src/io/png';
import type { LabelSet } from '../../src/pose';
import { FaceRenderer, REST_STATE } from '../../src/synth/face';
import { Rng } from '../../src/util/random';

/** Keypoints used by the specs (a subset of the renderer's 15, to keep the heads tiny). */
export const TINY_KEYPOINTS = ['eye(front)', 'nose(tip)', 'mouth'];

/**
 * Renders `n` 64x64 faces with seeded random latents into `dir/labeled-data/s/imgNNN.png` and
 * returns their label set (root `dir`), keypoints `names`.
 */
export function tinyLabelSet(dir: string, n = 6, names: string[] = TINY_KEYPOINTS, seed = 1): LabelSet {
  const renderer = new FaceRenderer({ width: 64, height: 64, seed, noiseSd: 1 });
  const rng = new Rng(seed);
  const sub = path.join(dir, 'labeled-data', 's');
  fs.mkdirSync(sub, { recursive: true });
  const frames = Array.from({ length: n }, (_, i) => {
    const r = renderer.render({
      ...REST_STATE,
      pupil: rng.uniform(),
      whisk_phase: 6.28 * rng.uniform(),
      whisk_amp: rng.uniform(),
      sniff: rng.uniform(),
      lick: rng.uniform() < 0.5 ? 0 : rng.uniform(),
    });
    const image = `labeled-data/s/img${String(i).padStart(3, '0')}.png`;
    writePngGrey(path.join(dir, image), r.frame, r.height, r.width);
    const idx = names.map((k) => r.names.indexOf(k));
    return { image, x: Float32Array.from(idx, (j) => r.x[j]), y: Float32Array.from(idx, (j) => r.y[j]) };
  });
  return { keypoints: [...names], frames, root: dir, scorer: 'synth' };
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `facemap-${prefix}-`));
}

/** Tiny network settings: fast on wasm. */
export const TINY = { channels: [4, 8, 8, 8, 8], inputSize: 64 } as const;
