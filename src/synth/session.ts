/**
 * A whole simulated session with known ground truth: behaviour latents drive a rendered face video
 * (with its true keypoints) and a neural population (with its true clusters and oracle).
 *
 * Folder layout written by {@link simulateSession}:
 * ```
 * <out>/face.mp4                        grey side-view face video (H.264, cameraFps)
 * <out>/neural.h5                       neural/activity (neurons x time), timestamps, positions, truth/
 * <out>/truth/face_keypoints.h5         true keypoints in Facemap's pose layout (Facemap/<kp>/x,y,likelihood)
 * <out>/truth/latents.h5                behaviour latents (frames x latents) with names, units, fps
 * <out>/session.json                    manifest: preset, seed, sizes, files (written last)
 * ```
 * Everything is generated in a sibling folder `<out>.partial-<pid>` and renamed to `<out>` only when
 * complete, so an interrupted run never leaves a folder that looks like a finished session.
 * The same seed gives byte-identical files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FormatError, ParamError } from '../errors';
import { Rng } from '../util/random';
import { simulateBehavior, type BehaviorConfig } from './behavior';
import { renderFaceVideo, type FaceConfig } from './face';
import { KEYPOINT_VISIBLE_LATENTS, NEURAL_PRESETS, simulateNeural, type NeuralConfig } from './neural';
import { writeLatentsH5, writePoseH5 } from './pose-h5';

export type SessionPresetName = 'tiny' | 'visible' | 'demo' | 'paper';

/** What a preset simulates. Sizes are chosen for their use: tests, the README demo, paper scale. */
export interface SessionPreset {
  description: string;
  /** Session length in seconds of behaviour (camera frames = seconds x cameraFps). */
  seconds: number;
  cameraFps: number;
  face: Partial<FaceConfig>;
  neural: Partial<NeuralConfig>;
}

export const SESSION_PRESETS: Readonly<Record<SessionPresetName, SessionPreset>> = Object.freeze({
  tiny: {
    description: '40 s, 128x128 video at 50 fps; 500 neurons at 10 Hz (400 samples): unit tests, seconds',
    seconds: 40,
    cameraFps: 50,
    face: { width: 128, height: 128 },
    neural: { ...NEURAL_PRESETS.tiny.config, neuralFps: 10 },
  },
  visible: {
    description:
      '5 min, 128x128 video at 50 fps; 500 neurons at 10 Hz (3,000 samples) driven only by what the keypoints show (pupil, blink, whisking amplitude, sniffing, licking; 0.25 s filters), drive 0.3-0.8: the oracle is within a keypoint model\'s reach',
    seconds: 300,
    cameraFps: 50,
    face: { width: 128, height: 128 },
    neural: {
      ...NEURAL_PRESETS.tiny.config,
      neuralFps: 10,
      drivingLatents: [...KEYPOINT_VISIBLE_LATENTS],
      filterTausS: [0.25],
      lagsS: [0],
      driveRange: [0.3, 0.8],
      backgroundDrive: 0.4,
    },
  },
  demo: {
    description: '2 min, 256x256 video at 50 fps; 5,000 neurons at 10 Hz (1,200 samples): the README demo, about a minute',
    seconds: 120,
    cameraFps: 50,
    face: { width: 256, height: 256 },
    neural: { ...NEURAL_PRESETS.demo.config, neuralFps: 10 },
  },
  paper: {
    description: '1 h, 256x256 video at 50 fps (180,000 frames); 50,000 neurons at 3 Hz (10,800 samples): paper scale',
    seconds: NEURAL_PRESETS.paper.behaviorSeconds,
    cameraFps: NEURAL_PRESETS.paper.cameraFps,
    face: { width: 256, height: 256 },
    neural: NEURAL_PRESETS.paper.config,
  },
});

export interface SessionOptions {
  preset: SessionPresetName | string;
  /** Folder to create; must not exist unless `force`. */
  outDir: string;
  /** Integer seed (default 0): the same seed gives identical files. */
  seed?: number;
  /** Replace an existing `outDir` (only once the new session is complete). */
  force?: boolean;
  /** Render the face video and its keypoints (default true; false writes latents and neural data only). */
  video?: boolean;
  /** Overrides of the preset's settings. */
  overrides?: { seconds?: number; face?: Partial<FaceConfig>; neural?: Partial<NeuralConfig>; behavior?: Partial<BehaviorConfig> };
  /** Progress per stage: frames rendered, neurons written. */
  onProgress?: (stage: 'behavior' | 'video' | 'neural', done: number, total: number) => void;
}

/** The manifest written as `session.json`. Paths are relative to the session folder. */
export interface SessionManifest {
  format: 'facemap-ts/session';
  version: 1;
  preset: string;
  seed: number;
  seconds: number;
  cameraFps: number;
  nFrames: number;
  width: number | null;
  height: number | null;
  nNeurons: number;
  neuralFps: number;
  nTimepoints: number;
  oracleVeMean: number;
  /** Mean keypoint-visible oracle VE (neural.ts module doc); null when not known (drive not keypoint-visible). */
  oracleVeVisibleMean: number | null;
  files: { video: string | null; keypoints: string | null; latents: string; neural: string };
  generator: string;
}

/** Seeds of the separate random streams, derived from the session seed. */
function stageSeed(seed: number, stage: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + stage * 0x7f4a7c15) | 0;
}

function checkOutDir(outDir: string, force: boolean): void {
  if (typeof outDir !== 'string' || outDir.length === 0) throw new ParamError('outDir', outDir, 'a folder path');
  const parent = path.dirname(path.resolve(outDir));
  if (!fs.existsSync(parent)) throw new FormatError(parent, 'folder does not exist (create it first)');
  try {
    fs.accessSync(parent, fs.constants.W_OK);
  } catch {
    throw new FormatError(parent, 'folder is not writable');
  }
  if (fs.existsSync(outDir) && !force) {
    throw new ParamError('outDir', outDir, 'a folder that does not exist yet (or force: true / --force to replace it)');
  }
}

/**
 * Simulates a session and writes it to `options.outDir` (layout in the module comment).
 * @throws ParamError for an unknown preset, a non-integer seed or an existing folder without force;
 *   FormatError for a missing or unwritable parent folder.
 */
export async function simulateSession(options: SessionOptions): Promise<SessionManifest> {
  const presetName = options.preset;
  if (!(presetName in SESSION_PRESETS)) {
    throw new ParamError('preset', presetName, Object.keys(SESSION_PRESETS).join(' | '));
  }
  const preset = SESSION_PRESETS[presetName as SessionPresetName];
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new ParamError('seed', seed, 'an integer >= 0');
  const seconds = options.overrides?.seconds ?? preset.seconds;
  if (!(Number.isFinite(seconds) && seconds > 0)) throw new ParamError('seconds', seconds, 'a number > 0');
  const outDir = path.resolve(options.outDir);
  checkOutDir(outDir, options.force ?? false);
  const video = options.video ?? true;
  const progress = options.onProgress ?? (() => undefined);

  const tmp = `${outDir}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'truth'), { recursive: true });
  try {
    const nFrames = Math.round(seconds * preset.cameraFps);
    progress('behavior', 0, 1);
    const latents = simulateBehavior(
      { ...(options.overrides?.behavior ?? {}), fps: preset.cameraFps, nFrames },
      new Rng(stageSeed(seed, 1)),
    );
    progress('behavior', 1, 1);
    await writeLatentsH5(path.join(tmp, 'truth', 'latents.h5'), latents);

    let width: number | null = null;
    let height: number | null = null;
    if (video) {
      const face = { ...preset.face, ...(options.overrides?.face ?? {}), seed: stageSeed(seed, 2) };
      const rendered = await renderFaceVideo(latents, face, path.join(tmp, 'face.mp4'), {
        onProgress: (done, total) => progress('video', done, total),
      });
      await writePoseH5(path.join(tmp, 'truth', 'face_keypoints.h5'), rendered.traces);
      width = rendered.width;
      height = rendered.height;
    }

    const neuralConfig = { ...preset.neural, ...(options.overrides?.neural ?? {}) };
    const neural = await simulateNeural(latents, neuralConfig, path.join(tmp, 'neural.h5'), stageSeed(seed, 3), {
      onProgress: (p) => progress('neural', p.done, p.total),
    });

    const manifest: SessionManifest = {
      format: 'facemap-ts/session',
      version: 1,
      preset: presetName,
      seed,
      seconds,
      cameraFps: preset.cameraFps,
      nFrames,
      width,
      height,
      nNeurons: neural.nNeurons,
      neuralFps: neural.neuralFps,
      nTimepoints: neural.nTimepoints,
      oracleVeMean: +neural.oracleVeMean.toFixed(6),
      oracleVeVisibleMean: Number.isNaN(neural.oracleVeVisibleMean) ? null : +neural.oracleVeVisibleMean.toFixed(6),
      files: {
        video: video ? 'face.mp4' : null,
        keypoints: video ? 'truth/face_keypoints.h5' : null,
        latents: 'truth/latents.h5',
        neural: 'neural.h5',
      },
      generator: `facemap-ts ${(require('../../../package.json') as { version: string }).version}`,
    };
    fs.writeFileSync(path.join(tmp, 'session.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    replaceDir(tmp, outDir);
    return manifest;
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Moves the finished `tmp` folder to `target`, replacing an old one only after the move. */
function replaceDir(tmp: string, target: string): void {
  if (!fs.existsSync(target)) {
    fs.renameSync(tmp, target);
    return;
  }
  const old = `${target}.old-${process.pid}`;
  fs.renameSync(target, old);
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.renameSync(old, target);
    throw err;
  }
  fs.rmSync(old, { recursive: true, force: true });
}

/** Reads and checks a session folder's manifest. */
export function readSessionManifest(dir: string): SessionManifest {
  const file = path.join(dir, 'session.json');
  if (!fs.existsSync(file)) {
    throw new FormatError(dir, 'no session.json: not a complete simulated session (generate one with `facemap-ts synth`)');
  }
  let m: SessionManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as SessionManifest;
  } catch (err) {
    throw new FormatError(file, `not valid JSON (${(err as Error).message})`);
  }
  if (m.format !== 'facemap-ts/session') throw new FormatError(file, `format is ${JSON.stringify(m.format)}, expected "facemap-ts/session"`);
  return m;
}
