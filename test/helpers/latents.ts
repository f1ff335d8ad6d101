/**
 * Plausible behaviour latents for tests and benchmarks that must not depend on the face
 * simulator: OU processes at several time scales (pupil, slow arousal), a whisking oscillation
 * with OU-modulated amplitude, and a rectified "running" trace.
 */
import { BehaviorLatents } from '../../src/synth/types';
import { Rng } from '../../src/util/random';

/** nFrames x nLatents latents at `fps` (float32, row-major), deterministic in `seed`. */
export function makeTestLatents(nFrames: number, fps: number, seed: number, nLatents = 10): BehaviorLatents {
  const rng = new Rng(seed);
  const data = new Float32Array(nFrames * nLatents);
  const names: string[] = [];
  const units: string[] = [];
  for (let l = 0; l < nLatents; l++) {
    const kind = l % 4;
    const tau = 0.2 * 2 ** (l % 7);
    const a = Math.exp(-1 / (fps * tau));
    const b = Math.sqrt(1 - a * a);
    let z = rng.normal();
    let phase = 0;
    const freq = 6 + 4 * rng.uniform();
    for (let f = 0; f < nFrames; f++) {
      z = a * z + b * rng.normal();
      let v = z;
      if (kind === 1) {
        phase += (2 * Math.PI * freq) / fps;
        v = Math.max(0, z) * Math.sin(phase);
      } else if (kind === 2) {
        v = Math.max(0, z);
      }
      data[f * nLatents + l] = v;
    }
    names.push(['ou', 'whisk', 'run', 'slow'][kind] + l);
    units.push('a.u.');
  }
  return { fps, nFrames, names, units, data };
}
