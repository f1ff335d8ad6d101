import * as assert from 'node:assert/strict';
import { ParamError } from '../../src/errors';
import { BEHAVIOR_LATENTS, latentColumn, simulateBehavior } from '../../src/synth/behavior';
import { Rng } from '../../src/util/random';

describe('synth/behavior: simulated behaviour latents', () => {
  it('same seed gives identical latents; a different seed differs', () => {
    const a = simulateBehavior({ nFrames: 500 }, new Rng(7));
    const b = simulateBehavior({ nFrames: 500 }, new Rng(7));
    const c = simulateBehavior({ nFrames: 500 }, new Rng(8));
    assert.deepEqual(a.data, b.data);
    assert.notDeepEqual(a.data, c.data);
    assert.deepEqual(a.names, [...BEHAVIOR_LATENTS]);
    assert.equal(a.units.length, a.names.length);
    assert.equal(a.data.length, 500 * a.names.length);
  });

  it('latents stay in their documented ranges (5 min at 50 fps)', () => {
    const l = simulateBehavior({ nFrames: 15000 }, new Rng(3));
    const inRange = (name: string, lo: number, hi: number): void => {
      const col = latentColumn(l, name);
      for (const v of col) assert.ok(v >= lo && v <= hi, `${name} = ${v} outside [${lo}, ${hi}]`);
    };
    inRange('pupil', 0, 1);
    inRange('blink', 0, 1);
    inRange('whisk_amp', 0, 1);
    inRange('whisk_freq', 8, 12);
    inRange('whisk_phase', 0, 2 * Math.PI);
    inRange('sniff', -1, 1);
    inRange('lick', 0, 1);
    inRange('paw_x', 0, 1);
    inRange('paw_y', 0, 1);
    inRange('running', 0, 100);
    for (const v of latentColumn(l, 'paw')) assert.ok(v === 0 || v === 1);
  });

  it('blinks come every 5-20 s and last 150-300 ms; whisking, licking and paw bouts occur', () => {
    const fps = 50;
    const l = simulateBehavior({ nFrames: 15000, fps }, new Rng(11));
    const blink = latentColumn(l, 'blink');
    const onsets: number[] = [];
    const lengths: number[] = [];
    for (let t = 1; t < blink.length; t++) {
      if (blink[t] > 0 && blink[t - 1] === 0) onsets.push(t);
      if (blink[t] === 0 && blink[t - 1] > 0) lengths.push(t - onsets[onsets.length - 1]);
    }
    // 300 s at one blink per 5-20 s (+ up to 0.3 s each): 14 to 60 blinks.
    assert.ok(onsets.length >= 14 && onsets.length <= 61, `${onsets.length} blinks`);
    for (let k = 1; k < onsets.length; k++) {
      const gap = (onsets[k] - onsets[k - 1]) / fps;
      assert.ok(gap >= 5 && gap <= 20.4, `blink interval ${gap} s`);
    }
    for (const n of lengths) assert.ok(n / fps >= 0.12 && n / fps <= 0.32, `blink of ${n} frames`);
    const frac = (name: string, thr: number): number => latentColumn(l, name).filter((v) => v > thr).length / l.nFrames;
    assert.ok(frac('whisk_amp', 0.5) > 0.05, 'some whisking');
    assert.ok(frac('whisk_amp', 0.5) < 0.95, 'not always whisking');
    assert.ok(frac('lick', 0.5) > 0, 'some licks');
    assert.ok(frac('paw', 0.5) > 0, 'some paw raises');
  });

  it('whisking is more frequent at high arousal (bout onset rate is arousal-linked)', () => {
    const l = simulateBehavior({ nFrames: 30000 }, new Rng(5));
    const arousal = latentColumn(l, 'arousal');
    const amp = latentColumn(l, 'whisk_amp');
    let hi = 0;
    let nHi = 0;
    let lo = 0;
    let nLo = 0;
    arousal.forEach((a, t) => {
      if (a > 0.5) (hi += amp[t] > 0.5 ? 1 : 0), nHi++;
      if (a < -0.5) (lo += amp[t] > 0.5 ? 1 : 0), nLo++;
    });
    assert.ok(hi / nHi > lo / nLo, `whisking share ${hi / nHi} at high vs ${lo / nLo} at low arousal`);
  });

  it('invalid config fields throw ParamError naming the field', () => {
    const field = (cfg: object): string => {
      try {
        simulateBehavior(cfg, new Rng(1));
      } catch (e) {
        assert.ok(e instanceof ParamError);
        return e.field;
      }
      throw new Error('no error');
    };
    assert.equal(field({ fps: 0 }), 'fps');
    assert.equal(field({ fps: -50 }), 'fps');
    assert.equal(field({ nFrames: -1 }), 'nFrames');
    assert.equal(field({ nFrames: 2.5 }), 'nFrames');
    assert.equal(field({ whiskFreqHz: [12, 8] }), 'whiskFreqHz');
    assert.equal(field({ fps: 20, whiskFreqHz: [8, 12] }), 'whiskFreqHz');
    assert.equal(field({ sniffWhiskCoupling: 1.5 }), 'sniffWhiskCoupling');
    assert.equal(field({ blinkDurationS: [-0.1, 0.2] }), 'blinkDurationS');
  });
});
