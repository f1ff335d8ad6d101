/**
 * Simulated behaviour of a head-fixed mouse at the camera rate: the latent variables that drive
 * both the rendered face video (face.ts) and simulated neurons.
 *
 * Each latent is a simple generative process, chosen to look right in traces and spectra, not to be
 * a model of the mouse:
 * - slow variables (arousal, pupil, running) are Ornstein-Uhlenbeck processes and low-pass filters;
 * - rhythmic behaviours (whisking, sniffing, licking) are bout-switching Markov chains (on/off with
 *   exponential dwell times) that gate an oscillator whose phase integrates its frequency;
 * - events (blinks, paw raises) are renewal processes with uniformly drawn intervals and durations.
 * Whisking bouts start more often at high arousal; sniffing locks to the whisking rhythm in a share
 * of whisking bouts, as in exploring mice.
 */
import { ParamError } from '../errors';
import type { Rng } from '../util/random';
import type { BehaviorLatents } from './types';

/** Column names of {@link simulateBehavior}'s latents, in order. */
export const BEHAVIOR_LATENTS = [
  'arousal',
  'pupil',
  'blink',
  'whisk_phase',
  'whisk_amp',
  'whisk_freq',
  'sniff',
  'lick',
  'paw',
  'paw_x',
  'paw_y',
  'running',
] as const;

export type BehaviorLatentName = (typeof BEHAVIOR_LATENTS)[number];

/** Units of each column of {@link BEHAVIOR_LATENTS}, same order. */
export const BEHAVIOR_UNITS: Readonly<Record<BehaviorLatentName, string>> = {
  arousal: 'z (a.u., mean 0, sd 1)',
  pupil: 'a.u. 0..1 (0 constricted, 1 dilated)',
  blink: 'a.u. 0..1 (0 open, 1 closed)',
  whisk_phase: 'rad, 0..2pi',
  whisk_amp: 'a.u. 0..1 (whisker sweep amplitude envelope)',
  whisk_freq: 'Hz',
  sniff: 'a.u. -1..1 (nose displacement, + forward)',
  lick: 'a.u. 0..1 (0 mouth closed, 1 tongue fully out)',
  paw: '0/1 (paw raised into view)',
  paw_x: 'fraction of frame width (0 when paw = 0)',
  paw_y: 'fraction of frame height (0 when paw = 0)',
  running: 'cm/s',
};

/** A [low, high] range, both ends included. */
export type Range = readonly [number, number];

/**
 * Parameters of {@link simulateBehavior}. Rates are per second, times in seconds, frequencies in
 * Hz; ranges are [low, high] with values drawn uniformly per bout or event.
 */
export interface BehaviorConfig {
  /** Camera frame rate, frames/s (> 0). Default 50. */
  fps: number;
  /** Number of frames to simulate (integer >= 1). Default 3000 (60 s at 50 fps). */
  nFrames: number;
  /** Time constant of the arousal OU process (stationary sd 1), s. Default 15. */
  arousalTauS: number;
  /** Low-pass time constant of pupil following arousal, s. Default 1.5. */
  pupilTauS: number;
  /** Sd of the pupil's own OU fluctuation (0..1 units) around its arousal-driven level. Default 0.05. */
  pupilNoise: number;
  /** Low-pass time constant of running speed, s. Default 1. */
  runningTauS: number;
  /** Running speed at high arousal, cm/s (>= 0). Default 25. */
  runningMaxCmS: number;
  /** Whisking bout onsets per second at arousal 0 (mean pause 1/rate). Default 0.3. */
  whiskOnRateHz: number;
  /** Onset rate is multiplied by exp(gain * arousal) (>= 0). Default 1. */
  whiskArousalGain: number;
  /** Mean whisking bout duration (exponential), s. Default 1.5. */
  whiskBoutS: number;
  /** Whisking frequency range within bouts, Hz (high < fps / 2). Default [8, 12]. */
  whiskFreqHz: Range;
  /** Attack/decay time constant of the whisking amplitude envelope, s. Default 0.08. */
  whiskEnvelopeTauS: number;
  /** Resting (slow) sniffing frequency range, Hz. Default [3, 4.5]. */
  sniffSlowHz: Range;
  /** Fast (exploratory) sniffing frequency range, Hz (high < fps / 2). Default [6, 10]. */
  sniffFastHz: Range;
  /** Onsets per second of fast-sniffing bouts outside whisking. Default 0.08. */
  sniffBoutRateHz: number;
  /** Mean duration of an independent fast-sniffing bout, s. Default 1. */
  sniffBoutS: number;
  /** Probability (0..1) that a whisking bout carries sniffing along at the whisking frequency. Default 0.7. */
  sniffWhiskCoupling: number;
  /** Mean pause between licking bouts (exponential), s. Default 30. */
  lickIntervalS: number;
  /** Licking bout duration range, s. Default [1, 3]. */
  lickBoutS: Range;
  /** Lick rate range within bouts, Hz (high < fps / 2). Default [6, 8]. */
  lickFreqHz: Range;
  /** Interval between blinks, s. Default [5, 20]. */
  blinkIntervalS: Range;
  /** Blink duration (lid down and up), s. Default [0.15, 0.3]. */
  blinkDurationS: Range;
  /** Mean pause between paw raises (exponential), s. Default 25. */
  pawIntervalS: number;
  /** Time the paw stays in view, s. Default [2, 5]. */
  pawVisibleS: Range;
}

export const DEFAULT_BEHAVIOR_CONFIG: Readonly<BehaviorConfig> = Object.freeze({
  fps: 50,
  nFrames: 3000,
  arousalTauS: 15,
  pupilTauS: 1.5,
  pupilNoise: 0.05,
  runningTauS: 1,
  runningMaxCmS: 25,
  whiskOnRateHz: 0.3,
  whiskArousalGain: 1,
  whiskBoutS: 1.5,
  whiskFreqHz: [8, 12] as Range,
  whiskEnvelopeTauS: 0.08,
  sniffSlowHz: [3, 4.5] as Range,
  sniffFastHz: [6, 10] as Range,
  sniffBoutRateHz: 0.08,
  sniffBoutS: 1,
  sniffWhiskCoupling: 0.7,
  lickIntervalS: 30,
  lickBoutS: [1, 3] as Range,
  lickFreqHz: [6, 8] as Range,
  blinkIntervalS: [5, 20] as Range,
  blinkDurationS: [0.15, 0.3] as Range,
  pawIntervalS: 25,
  pawVisibleS: [2, 5] as Range,
});

/** Defaults filled in and every field checked; throws ParamError naming the first bad field. */
export function resolveBehaviorConfig(partial: Partial<BehaviorConfig> = {}): BehaviorConfig {
  const c: BehaviorConfig = { ...DEFAULT_BEHAVIOR_CONFIG, ...partial };
  const positive = (f: keyof BehaviorConfig): void => {
    const v = c[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ParamError(f, v, 'a finite number > 0');
  };
  const nonNegative = (f: keyof BehaviorConfig): void => {
    const v = c[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ParamError(f, v, 'a finite number >= 0');
  };
  const range = (f: keyof BehaviorConfig, maxHigh = Infinity, what = ''): void => {
    const v = c[f] as unknown;
    const ok =
      Array.isArray(v) &&
      v.length === 2 &&
      v.every((x) => typeof x === 'number' && Number.isFinite(x)) &&
      v[0] > 0 &&
      v[0] <= v[1] &&
      v[1] < maxHigh;
    if (!ok) throw new ParamError(f, v, `[low, high] with 0 < low <= high${what}`);
  };
  positive('fps');
  if (!Number.isInteger(c.nFrames) || c.nFrames < 1) throw new ParamError('nFrames', c.nFrames, 'an integer >= 1');
  for (const f of ['arousalTauS', 'pupilTauS', 'runningTauS', 'whiskOnRateHz', 'whiskBoutS', 'whiskEnvelopeTauS',
    'sniffBoutRateHz', 'sniffBoutS', 'lickIntervalS', 'pawIntervalS'] as const) positive(f);
  for (const f of ['pupilNoise', 'runningMaxCmS', 'whiskArousalGain'] as const) nonNegative(f);
  if (!(c.sniffWhiskCoupling >= 0 && c.sniffWhiskCoupling <= 1)) {
    throw new ParamError('sniffWhiskCoupling', c.sniffWhiskCoupling, 'a probability in [0, 1]');
  }
  const nyq = c.fps / 2;
  for (const f of ['whiskFreqHz', 'sniffSlowHz', 'sniffFastHz', 'lickFreqHz'] as const) {
    range(f, nyq, ` < fps / 2 = ${nyq} Hz`);
  }
  for (const f of ['lickBoutS', 'blinkIntervalS', 'blinkDurationS', 'pawVisibleS'] as const) range(f);
  return c;
}

/**
 * Simulates `config.nFrames` frames of behaviour at `config.fps`.
 *
 * @returns latents with columns {@link BEHAVIOR_LATENTS} (units in {@link BEHAVIOR_UNITS});
 *   `data` is nFrames x 12, row-major, float32. The same `rng` state gives the same latents.
 */
export function simulateBehavior(config: Partial<BehaviorConfig>, rng: Rng): BehaviorLatents {
  const c = resolveBehaviorConfig(config);
  const dt = 1 / c.fps;
  const nL = BEHAVIOR_LATENTS.length;
  const data = new Float32Array(c.nFrames * nL);
  const uni = (r: Range): number => r[0] + (r[1] - r[0]) * rng.uniform();
  const expo = (mean: number): number => -mean * Math.log(1 - rng.uniform());
  const TWO_PI = 2 * Math.PI;
  /** Decay factor of a first-order low-pass with time constant tau over one frame. */
  const decay = (tau: number): number => Math.exp(-dt / tau);
  const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

  // Arousal: OU with stationary sd 1, started from its stationary distribution.
  const aDecay = decay(c.arousalTauS);
  const aNoise = Math.sqrt(1 - aDecay * aDecay);
  let arousal = rng.normal();

  const pDecay = decay(c.pupilTauS);
  const pNoiseDecay = decay(0.5);
  const pNoiseSd = c.pupilNoise * Math.sqrt(1 - pNoiseDecay * pNoiseDecay);
  let pupilNoise = 0;
  let pupil = pupilLevel(arousal);

  const rDecay = decay(c.runningTauS);
  let running = runningLevel(arousal);

  // Whisking: on/off chain; bout frequency drawn per bout and jittered (OU, sd 0.4 Hz, tau 0.3 s).
  const wEnv = decay(c.whiskEnvelopeTauS);
  const fJitDecay = decay(0.3);
  const fJitSd = 0.4 * Math.sqrt(1 - fJitDecay * fJitDecay);
  let whisking = rng.uniform() < 0.2;
  let whiskTarget = whisking ? uni([0.6, 1]) : 0;
  let whiskAmp = whiskTarget;
  let whiskBase = uni(c.whiskFreqHz);
  let whiskJit = 0;
  let whiskFreq = whiskBase;
  let whiskPhase = TWO_PI * rng.uniform();

  // Sniffing: fast when locked to a whisking bout or in an independent bout, else slow.
  let sniffLocked = whisking && rng.uniform() < c.sniffWhiskCoupling;
  let sniffBout = false;
  let sniffSlow = uni(c.sniffSlowHz);
  let sniffFast = uni(c.sniffFastHz);
  let sniffFreq = sniffSlow;
  let sniffAmp = 0.4;
  let sniffPhase = TWO_PI * rng.uniform();
  const sDecay = decay(0.15);

  // Licking: renewal of bouts; phase restarts at each bout so the tongue starts in.
  let lickLeft = 0;
  let lickWait = expo(c.lickIntervalS);
  let lickFreq = uni(c.lickFreqHz);
  let lickPhase = 0;

  // Blinks: renewal with uniform intervals; the first one anywhere in the first interval.
  let blinkWait = uni(c.blinkIntervalS) * rng.uniform();
  let blinkT = -1;
  let blinkDur = uni(c.blinkDurationS);

  // Paw: renewal; on entry it rises from the bottom edge towards a target with a 0.15 s lag.
  let pawLeft = 0;
  let pawWait = expo(c.pawIntervalS);
  let pawX = 0;
  let pawY = 0;
  let pawTx = 0;
  let pawTy = 0;
  const pawDecay = decay(0.15);

  for (let t = 0; t < c.nFrames; t++) {
    arousal = aDecay * arousal + aNoise * rng.normal();

    pupilNoise = pNoiseDecay * pupilNoise + pNoiseSd * rng.normal();
    pupil = pDecay * pupil + (1 - pDecay) * pupilLevel(arousal);
    const pupilOut = clamp01(pupil + pupilNoise);

    running = rDecay * running + (1 - rDecay) * runningLevel(arousal);
    const runningOut = Math.max(0, running + 0.5 * rng.normal() * (running > 0.5 ? 1 : 0));

    // Whisking bouts.
    if (whisking) {
      if (rng.uniform() < dt / c.whiskBoutS) {
        whisking = false;
        whiskTarget = 0;
        sniffLocked = false;
      }
    } else if (rng.uniform() < c.whiskOnRateHz * Math.exp(c.whiskArousalGain * arousal) * dt) {
      whisking = true;
      whiskTarget = uni([0.6, 1]);
      whiskBase = uni(c.whiskFreqHz);
      sniffLocked = rng.uniform() < c.sniffWhiskCoupling;
    }
    whiskAmp = wEnv * whiskAmp + (1 - wEnv) * whiskTarget;
    whiskJit = fJitDecay * whiskJit + fJitSd * rng.normal();
    whiskFreq = Math.min(c.whiskFreqHz[1], Math.max(c.whiskFreqHz[0], whiskBase + whiskJit));
    whiskPhase = (whiskPhase + TWO_PI * whiskFreq * dt) % TWO_PI;

    // Sniffing.
    if (sniffBout) {
      if (rng.uniform() < dt / c.sniffBoutS) sniffBout = false;
    } else if (rng.uniform() < c.sniffBoutRateHz * dt) {
      sniffBout = true;
      sniffFast = uni(c.sniffFastHz);
    }
    if (rng.uniform() < dt / 5) sniffSlow = uni(c.sniffSlowHz);
    const sniffTargetF = sniffLocked ? whiskFreq : sniffBout ? sniffFast : sniffSlow;
    const sniffTargetA = sniffLocked || sniffBout ? 1 : 0.4;
    sniffFreq = sDecay * sniffFreq + (1 - sDecay) * sniffTargetF;
    sniffAmp = sDecay * sniffAmp + (1 - sDecay) * sniffTargetA;
    sniffPhase = (sniffPhase + TWO_PI * sniffFreq * dt) % TWO_PI;

    // Licking.
    let lick = 0;
    if (lickLeft > 0) {
      lickPhase += TWO_PI * lickFreq * dt;
      lick = Math.max(0, Math.sin(lickPhase));
      lickLeft -= dt;
      if (lickLeft <= 0) lickWait = expo(c.lickIntervalS);
    } else {
      lickWait -= dt;
      if (lickWait <= 0) {
        lickLeft = uni(c.lickBoutS);
        lickFreq = uni(c.lickFreqHz);
        lickPhase = 0;
      }
    }

    // Blinks.
    let blink = 0;
    if (blinkT >= 0) {
      blinkT += dt;
      if (blinkT >= blinkDur) {
        blinkT = -1;
        blinkWait = uni(c.blinkIntervalS);
      } else {
        blink = Math.sin((Math.PI * blinkT) / blinkDur);
      }
    } else {
      blinkWait -= dt;
      if (blinkWait <= 0) {
        blinkT = 0;
        blinkDur = uni(c.blinkDurationS);
      }
    }

    // Paw.
    let paw = 0;
    if (pawLeft > 0) {
      paw = 1;
      pawTx += 0.002 * rng.normal();
      pawTy += 0.002 * rng.normal();
      pawTx = Math.min(0.75, Math.max(0.5, pawTx));
      pawTy = Math.min(0.92, Math.max(0.78, pawTy));
      pawX = pawDecay * pawX + (1 - pawDecay) * pawTx;
      pawY = pawDecay * pawY + (1 - pawDecay) * pawTy;
      pawLeft -= dt;
      if (pawLeft <= 0) pawWait = expo(c.pawIntervalS);
    } else {
      pawWait -= dt;
      if (pawWait <= 0) {
        pawLeft = uni(c.pawVisibleS);
        pawTx = uni([0.52, 0.72]);
        pawTy = uni([0.8, 0.9]);
        pawX = pawTx;
        pawY = 0.97;
      }
    }

    const row = t * nL;
    data[row] = arousal;
    data[row + 1] = pupilOut;
    data[row + 2] = blink;
    data[row + 3] = whiskPhase;
    data[row + 4] = whiskAmp;
    data[row + 5] = whiskFreq;
    data[row + 6] = sniffAmp * Math.sin(sniffPhase);
    data[row + 7] = lick;
    data[row + 8] = paw;
    data[row + 9] = paw ? pawX : 0;
    data[row + 10] = paw ? pawY : 0;
    data[row + 11] = runningOut;
  }

  return {
    fps: c.fps,
    nFrames: c.nFrames,
    names: [...BEHAVIOR_LATENTS],
    units: BEHAVIOR_LATENTS.map((n) => BEHAVIOR_UNITS[n]),
    data,
  };

  function pupilLevel(a: number): number {
    return 0.1 + 0.8 * sigmoid(1.5 * a);
  }
  function runningLevel(a: number): number {
    return c.runningMaxCmS * sigmoid(3 * (a - 0.8));
  }
}

/** One latent column (length nFrames) by name; ParamError when the latents have no such column. */
export function latentColumn(latents: BehaviorLatents, name: string): Float32Array {
  const j = latents.names.indexOf(name);
  if (j < 0) throw new ParamError('name', name, `one of ${latents.names.join(', ')}`);
  const nL = latents.names.length;
  const out = new Float32Array(latents.nFrames);
  for (let t = 0; t < latents.nFrames; t++) out[t] = latents.data[t * nL + j];
  return out;
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
