/**
 * A grey side view of a head-fixed mouse's face (facing right, IR-lit fur on a dark background),
 * rendered from behaviour latents frame by frame, with Facemap's 15 keypoints computed
 * analytically from the very geometry that is drawn: ground truth for the pose tracker.
 *
 * Geometry is laid out in a 256 x 256 model space and scaled by s = min(width, height) / 256,
 * centred in the frame (a 320 x 256 frame gets 32 px of background on each side).
 *
 * What moves with which latent:
 * - eye: palpebral opening widens with `pupil` (arousal), the pupil disc's radius follows `pupil`,
 *   the upper lid comes down with `blink`; a fixed corneal reflection;
 * - nose: the nose tip ellipse moves forward/back with `sniff`;
 * - whisker pad shifts along the snout and the whiskers rotate by whisk_amp * cos(whisk_phase);
 * - jaw drops, the mouth opens and the tongue comes out with `lick`;
 * - a paw (with a forearm reaching up from the bottom edge) is drawn at (paw_x, paw_y) when paw = 1;
 * - global illumination drifts slowly; every frame gets its own Gaussian sensor noise.
 *
 * Speed: static parts (background, head, ear, fur texture and shading) are rasterised once per
 * renderer; each frame copies them and rasterises only the bounding boxes of moving parts.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError, FormatError, ParamError } from '../errors';
import { locateFfmpeg } from '../io/ffmpeg';
import { writeAtomic } from '../util/fsx';
import { Rng } from '../util/random';
import { FACEMAP_KEYPOINTS, type BehaviorLatents, type KeypointTraces } from './types';

/** Rendering parameters; see {@link resolveFaceConfig} for ranges. */
export interface FaceConfig {
  /** Frame width, px (integer >= 64). Default 256. */
  width: number;
  /** Frame height, px (integer >= 64). Default 256. */
  height: number;
  /** Seed of the fur texture, illumination phase and sensor noise (integer). Default 0. */
  seed: number;
  /** Sd of per-frame Gaussian sensor noise, grey levels (>= 0). Default 3. */
  noiseSd: number;
  /** Relative amplitude of the slow illumination drift (0..0.5). Default 0.06. */
  illuminationDrift: number;
  /** Period of the illumination drift, s (> 0). Default 40. */
  illuminationPeriodS: number;
  /** x264 constant rate factor (0..51; lower = better). Default 18. */
  crf: number;
  /** x264 preset (speed vs file size; quality is set by crf). Default 'veryfast'. */
  preset: 'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast' | 'medium' | 'slow';
}

export const DEFAULT_FACE_CONFIG: Readonly<FaceConfig> = Object.freeze({
  width: 256,
  height: 256,
  seed: 0,
  noiseSd: 3,
  illuminationDrift: 0.06,
  illuminationPeriodS: 40,
  crf: 18,
  preset: 'veryfast' as const,
});

const PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow'];

/** Defaults filled in and every field checked; throws ParamError naming the first bad field. */
export function resolveFaceConfig(partial: Partial<FaceConfig> = {}): FaceConfig {
  const c: FaceConfig = { ...DEFAULT_FACE_CONFIG, ...partial };
  for (const f of ['width', 'height'] as const) {
    if (!Number.isInteger(c[f]) || c[f] < 64 || c[f] > 4096) throw new ParamError(f, c[f], 'an integer in [64, 4096] (pixels)');
  }
  if (!Number.isInteger(c.seed)) throw new ParamError('seed', c.seed, 'an integer');
  if (!(c.noiseSd >= 0 && Number.isFinite(c.noiseSd))) throw new ParamError('noiseSd', c.noiseSd, 'a finite number >= 0 (grey levels)');
  if (!(c.illuminationDrift >= 0 && c.illuminationDrift <= 0.5)) {
    throw new ParamError('illuminationDrift', c.illuminationDrift, 'a number in [0, 0.5]');
  }
  if (!(c.illuminationPeriodS > 0 && Number.isFinite(c.illuminationPeriodS))) {
    throw new ParamError('illuminationPeriodS', c.illuminationPeriodS, 'a finite number > 0 (s)');
  }
  if (!(Number.isInteger(c.crf) && c.crf >= 0 && c.crf <= 51)) throw new ParamError('crf', c.crf, 'an integer in [0, 51]');
  if (!PRESETS.includes(c.preset)) throw new ParamError('preset', c.preset, `one of ${PRESETS.join(', ')}`);
  return c;
}

/** The latents one frame needs (names and units as in behavior.ts's BEHAVIOR_UNITS). */
export interface FaceState {
  pupil: number;
  blink: number;
  whisk_phase: number;
  whisk_amp: number;
  sniff: number;
  lick: number;
  paw: number;
  paw_x: number;
  paw_y: number;
}

const STATE_FIELDS = ['pupil', 'blink', 'whisk_phase', 'whisk_amp', 'sniff', 'lick', 'paw', 'paw_x', 'paw_y'] as const;

/** A resting face: mid pupil, eye open, no whisking, sniffing, licking or paw. */
export const REST_STATE: Readonly<FaceState> = Object.freeze({
  pupil: 0.5, blink: 0, whisk_phase: 0, whisk_amp: 0, sniff: 0, lick: 0, paw: 0, paw_x: 0, paw_y: 0,
});

/** Column index of each FaceState field in `latents`; ParamError naming the first one missing. */
function stateColumns(latents: BehaviorLatents): number[] {
  return STATE_FIELDS.map((f) => {
    const j = latents.names.indexOf(f);
    if (j < 0) throw new ParamError('latents.names', latents.names, `a list containing '${f}' (see BEHAVIOR_LATENTS)`);
    return j;
  });
}

/** The FaceState of frame `t` of `latents` (which must have every FaceState column). */
export function faceStateAt(latents: BehaviorLatents, t: number): FaceState {
  const cols = stateColumns(latents);
  return stateFromRow(latents, cols, t);
}

function stateFromRow(latents: BehaviorLatents, cols: number[], t: number): FaceState {
  const row = t * latents.names.length;
  const s = {} as FaceState;
  STATE_FIELDS.forEach((f, i) => (s[f] = latents.data[row + cols[i]]));
  return s;
}

/** One rendered frame and its keypoints. */
export interface RenderedFrame {
  /** height x width grey levels, row-major. */
  frame: Uint8Array;
  width: number;
  height: number;
  /** Keypoint names (FACEMAP_KEYPOINTS order). */
  names: string[];
  /** x, y in pixels (pixel centres at integers), NaN when not visible; length 15 each. */
  x: Float32Array;
  y: Float32Array;
  /** 1 for visible keypoints, 0 for the paw out of view; length 15. */
  likelihood: Float32Array;
}

/** An ellipse with centre (cx, cy), semi-axes a (along angle theta) and b, in pixels / radians. */
class Ellipse {
  readonly cos: number;
  readonly sin: number;
  constructor(
    readonly cx: number,
    readonly cy: number,
    readonly a: number,
    readonly b: number,
    theta: number,
  ) {
    this.cos = Math.cos(theta);
    this.sin = Math.sin(theta);
  }
  /** Approximate signed distance (px) of (x, y) to the outline: negative inside. */
  dist(x: number, y: number): number {
    const dx = x - this.cx;
    const dy = y - this.cy;
    const u = dx * this.cos + dy * this.sin;
    const v = -dx * this.sin + dy * this.cos;
    const ua = u / this.a;
    const vb = v / this.b;
    const f = Math.sqrt(ua * ua + vb * vb);
    if (f < 1e-6) return -Math.min(this.a, this.b);
    const gx = ua / this.a;
    const gy = vb / this.b;
    return ((f - 1) * f) / Math.sqrt(gx * gx + gy * gy);
  }
  /** The point at local coordinates (u along the major axis, v across). */
  point(u: number, v: number): [number, number] {
    return [this.cx + u * this.cos - v * this.sin, this.cy + u * this.sin + v * this.cos];
  }
  /** Local coordinates of (x, y). */
  local(x: number, y: number): [number, number] {
    const dx = x - this.cx;
    const dy = y - this.cy;
    return [dx * this.cos + dy * this.sin, -dx * this.sin + dy * this.cos];
  }
  /** Point on the outline at parametric angle phi. */
  at(phi: number): [number, number] {
    return this.point(this.a * Math.cos(phi), this.b * Math.sin(phi));
  }
  /** Integer bounding box [x0, y0, x1, y1) grown by `margin` px, clipped to w x h. */
  bbox(margin: number, w: number, h: number): [number, number, number, number] {
    const ex = Math.sqrt((this.a * this.cos) ** 2 + (this.b * this.sin) ** 2) + margin;
    const ey = Math.sqrt((this.a * this.sin) ** 2 + (this.b * this.cos) ** 2) + margin;
    return [
      Math.max(0, Math.floor(this.cx - ex)),
      Math.max(0, Math.floor(this.cy - ey)),
      Math.min(w, Math.ceil(this.cx + ex) + 1),
      Math.min(h, Math.ceil(this.cy + ey) + 1),
    ];
  }
}

const DEG = Math.PI / 180;
const KP = Object.fromEntries(FACEMAP_KEYPOINTS.map((k, i) => [k, i])) as Record<(typeof FACEMAP_KEYPOINTS)[number], number>;

/** Coverage of a pixel at signed distance d (px) from an edge: 1 inside, 0 outside, linear over 1 px. */
function cover(d: number): number {
  return d <= -0.5 ? 1 : d >= 0.5 ? 0 : 0.5 - d;
}

function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/** Polynomial smooth minimum (blend radius k px) for smooth unions of shapes. */
function smin(a: number, b: number, k: number): number {
  const h = Math.max(k - Math.abs(a - b), 0) / k;
  return Math.min(a, b) - (h * h * k) / 4;
}

/** Whiskers in model units: base offset in whisker-pad coordinates, rest angle, length, curvature. */
const WHISKERS = [
  { u: -10, v: -3, angle: 150, length: 92, bend: -0.0045 },
  { u: -2, v: 1, angle: 132, length: 100, bend: -0.004 },
  { u: 6, v: 4, angle: 112, length: 88, bend: -0.004 },
  { u: -14, v: 5, angle: 165, length: 70, bend: -0.005 },
  { u: 10, v: -4, angle: 95, length: 66, bend: -0.003 },
  { u: 0, v: -7, angle: 172, length: 60, bend: -0.006 },
];
/** Arc length (model units) from the follicle at which whisker(I/II/III) are labelled. */
const WHISKER_LABEL_ARC = 26;
/** Peak whisker rotation at whisk_amp = 1, degrees. */
const WHISK_SWEEP_DEG = 22;

/**
 * Renders frames of the synthetic face. Build one per configuration (it precomputes textures
 * and the static image), then call {@link FaceRenderer.render} per frame.
 */
export class FaceRenderer {
  readonly config: FaceConfig;
  readonly width: number;
  readonly height: number;
  /** Static image (background, head, ear), height x width, grey levels as float. */
  private readonly base: Float32Array;
  /** Fur texture, zero mean unit-ish sd, height x width. */
  private readonly fur: Float32Array;
  /** Sensor noise bank, 2 x height x width, in grey levels. */
  private readonly noise: Float32Array;
  private readonly work: Float32Array;
  private readonly s: number;
  private readonly ox: number;
  private readonly oy: number;
  private readonly illumPhase: number;
  private readonly nosebridge: [number, number];

  constructor(config: Partial<FaceConfig> = {}) {
    this.config = resolveFaceConfig(config);
    const { width: W, height: H } = this.config;
    this.width = W;
    this.height = H;
    this.s = Math.min(W, H) / 256;
    this.ox = (W - 256 * this.s) / 2;
    this.oy = (H - 256 * this.s) / 2;
    const rng = new Rng(this.config.seed);
    this.illumPhase = 2 * Math.PI * rng.uniform();
    this.fur = furTexture(W, H, rng, this.s);
    this.noise = new Float32Array(2 * W * H);
    if (this.config.noiseSd > 0) {
      rng.fillNormal(this.noise);
      for (let i = 0; i < this.noise.length; i++) this.noise[i] *= this.config.noiseSd;
    }
    this.work = new Float32Array(W * H);
    this.base = new Float32Array(W * H);
    this.drawStatic();
    this.nosebridge = this.findNosebridge();
  }

  /** Model-space point to pixel coordinates. */
  private px(u: number, v: number): [number, number] {
    return [this.ox + u * this.s, this.oy + v * this.s];
  }

  private ellipse(u: number, v: number, a: number, b: number, thetaDeg: number): Ellipse {
    const [x, y] = this.px(u, v);
    return new Ellipse(x, y, a * this.s, b * this.s, thetaDeg * DEG);
  }

  private headDist(x: number, y: number): number {
    const cranium = this.headShapes[0].dist(x, y);
    const snout = this.headShapes[1].dist(x, y);
    const chin = this.headShapes[2].dist(x, y);
    return smin(smin(cranium, snout, 40 * this.s), chin, 14 * this.s);
  }

  private get headShapes(): Ellipse[] {
    return (this._head ??= [
      this.ellipse(62, 122, 108, 86, 8),
      this.ellipse(172, 146, 66, 34, 20),
      this.ellipse(186, 170, 36, 14, 16),
    ]);
  }
  private _head?: Ellipse[];

  /** Background, head with fur and shading, ear: everything that never moves. */
  private drawStatic(): void {
    const { width: W, height: H } = this;
    const s = this.s;
    const ear = this.ellipse(44, 34, 26, 34, -28);
    const earInner = this.ellipse(46, 37, 17, 24, -28);
    const [, hy] = this.px(0, 112);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        // Dark background with a faint vertical gradient and blotches (the rig behind the mouse).
        const bg = 26 + (14 * y) / H + 3 * this.fur[(i * 7) % (W * H)];
        const d = this.headDist(x, y);
        // Surface shading: rim darker (the head curves away), lit from above.
        const rim = smoothstep(0, 18 * s, -d);
        const light = 1 - 0.18 * Math.max(-1, Math.min(1, (y - hy) / (90 * s)));
        let fur = (95 + 55 * rim) * light + 16 * this.fur[i];
        const de = ear.dist(x, y);
        if (de < 0.5) {
          const inner = earInner.dist(x, y);
          const earFur = 95 + 12 * this.fur[i] + 20 * smoothstep(0, 6 * s, -de);
          const skin = 150 + 25 * smoothstep(0, 8 * s, -inner) + 4 * this.fur[i];
          const earV = earFur + (skin - earFur) * cover(inner);
          // The ear sits behind the head: head fur in front where both cover a pixel.
          const c = cover(de);
          const back = bg + (earV - bg) * c;
          this.base[i] = back + (fur - back) * cover(d);
          continue;
        }
        this.base[i] = bg + (fur - bg) * cover(d);
      }
    }
  }

  /** The top outline of the snout, in front of the eye: first head pixel going down a column. */
  private findNosebridge(): [number, number] {
    const [x] = this.px(200, 0);
    let lo = 0;
    let hi = this.height - 1;
    // headDist along the column is positive above the head and negative inside: bisect the crossing.
    for (let k = 0; k < 40; k++) {
      const mid = (lo + hi) / 2;
      if (this.headDist(x, mid) > 0) lo = mid;
      else hi = mid;
    }
    return [x, hi + 1.5 * this.s];
  }

  /**
   * Renders one frame.
   * @param state latents of this frame
   * @param frameIndex index of the frame (selects the sensor noise and illumination time)
   * @param fps frame rate, for the illumination drift's time axis
   * @param out optional output buffer, height x width
   */
  render(state: FaceState, frameIndex = 0, fps = 50, out?: Uint8Array): RenderedFrame {
    const { width: W, height: H } = this;
    const n = W * H;
    const frame = out ?? new Uint8Array(n);
    if (frame.length !== n) throw new ParamError('out.length', frame.length, `${n} (height x width)`);
    const x = new Float32Array(FACEMAP_KEYPOINTS.length);
    const y = new Float32Array(FACEMAP_KEYPOINTS.length);
    const likelihood = new Float32Array(FACEMAP_KEYPOINTS.length).fill(1);
    const set = (k: keyof typeof KP, p: [number, number]): void => {
      x[KP[k]] = Math.min(W - 1, Math.max(0, p[0]));
      y[KP[k]] = Math.min(H - 1, Math.max(0, p[1]));
    };
    const st = sanitize(state);
    this.work.set(this.base);

    this.drawMouth(st, set);
    this.drawNose(st, set);
    this.drawWhiskerPadAndWhiskers(st, set);
    this.drawEye(st, set);
    set('nosebridge', this.nosebridge);
    if (st.paw >= 0.5) {
      this.drawPaw(st, set);
    } else {
      x[KP.paw] = NaN;
      y[KP.paw] = NaN;
      likelihood[KP.paw] = 0;
    }

    const t = frameIndex / fps;
    const gain = 1 + this.config.illuminationDrift * Math.sin((2 * Math.PI * t) / this.config.illuminationPeriodS + this.illumPhase);
    const off = hash32(this.config.seed, frameIndex) % n;
    const work = this.work;
    const noise = this.noise;
    for (let i = 0; i < n; i++) {
      const v = work[i] * gain + noise[off + i];
      frame[i] = v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
    }
    return { frame, width: W, height: H, names: [...FACEMAP_KEYPOINTS], x, y, likelihood };
  }

  private drawEye(st: FaceState, set: (k: keyof typeof KP, p: [number, number]) => void): void {
    const s = this.s;
    const b = 11 * (0.8 + 0.35 * st.pupil);
    const eye = this.ellipse(126, 92, 17, b, -10);
    const W = this.width;
    const work = this.work;
    const [x0, y0, x1, y1] = eye.bbox(4 * s, W, this.height);
    // Upper lid edge in eye coordinates: from -b (open) to +b (closed).
    const lid = eye.b * (2 * st.blink - 1);
    const pr = (2.6 + 6 * st.pupil) * s;
    const [pcx, pcy] = eye.point(1 * s, 0.8 * s);
    const [rcx, rcy] = eye.point(5 * s, -4.5 * s);
    const rr = 2.2 * s;
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = yy * W + xx;
        const d = eye.dist(xx, yy);
        if (d > 3.5 * s) continue;
        // Dark margin of the lids around the opening.
        const margin = 1 - smoothstep(1.2 * s, 3.5 * s, d);
        let v = work[i] + (58 - work[i]) * 0.75 * margin;
        const [, lv] = eye.local(xx, yy);
        const open = cover(d) * cover(lid - lv);
        if (open > 0) {
          const pd = Math.hypot(xx - pcx, yy - pcy) - pr;
          const rd = Math.hypot(xx - rcx, yy - rcy) - rr;
          let e = 40 - 10 * smoothstep(-eye.a, 0, d); // iris, darker towards the rim
          e += (9 - e) * cover(pd);
          e += (245 - e) * cover(rd);
          v += (e - v) * open;
        }
        // Lash line along the lid edge.
        const lash = cover(d - 0.8 * s) * Math.max(0, 1 - Math.abs(lv - lid) / (1.4 * s));
        v += (30 - v) * 0.85 * lash;
        work[i] = v;
      }
    }
    const top = Math.min(lid, eye.b);
    set('eye(back)', eye.point(-eye.a, 0));
    set('eye(front)', eye.point(eye.a, 0));
    set('eye(bottom)', eye.point(0, eye.b));
    set('eye(top)', eye.point(0, top));
  }

  private drawNose(st: FaceState, set: (k: keyof typeof KP, p: [number, number]) => void): void {
    const s = this.s;
    const th = 22;
    const shift = 3.5 * st.sniff;
    const nose = this.ellipse(228 + shift * Math.cos(th * DEG), 162 + shift * Math.sin(th * DEG), 13, 10.5, th);
    const [nx, ny] = nose.point(4 * s, -2 * s);
    const nostril = new Ellipse(nx, ny, 3.6 * s, 2 * s, 35 * DEG);
    const W = this.width;
    const work = this.work;
    const [x0, y0, x1, y1] = nose.bbox(2, W, this.height);
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = yy * W + xx;
        const d = nose.dist(xx, yy);
        if (d > 0.5) continue;
        // Bare skin of the rhinarium: brighter and smoother than fur, a highlight on top.
        const [u, v] = nose.local(xx, yy);
        let val = 150 + 30 * smoothstep(0, 8 * s, -d) - 12 * (v / nose.b) + 4 * this.fur[i] + 10 * (u / nose.a);
        val += (45 - val) * cover(nostril.dist(xx, yy));
        work[i] += (val - work[i]) * cover(d);
      }
    }
    set('nose(tip)', nose.point(nose.a, 0));
    set('nose(top)', nose.point(0, -nose.b));
    set('nose(bottom)', nose.point(0, nose.b));
    set('nose(r)', [nx, ny]);
  }

  private drawWhiskerPadAndWhiskers(st: FaceState, set: (k: keyof typeof KP, p: [number, number]) => void): void {
    const s = this.s;
    const W = this.width;
    const H = this.height;
    const work = this.work;
    const sweep = st.whisk_amp * Math.cos(st.whisk_phase);
    const th = 24;
    const shift = 2.5 * sweep;
    const pad = this.ellipse(192 + shift * Math.cos(th * DEG), 146 + shift * Math.sin(th * DEG), 24, 15, th);
    const [x0, y0, x1, y1] = pad.bbox(2, W, H);
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const d = pad.dist(xx, yy);
        if (d > 6 * s) continue;
        const i = yy * W + xx;
        work[i] *= 1 - 0.12 * (1 - smoothstep(-4 * s, 6 * s, d)); // pad skin: slightly darker
      }
    }
    // Follicles: rows of dark dots on the pad.
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 5; c++) {
        const [fx, fy] = pad.point((-16 + 8 * c + 3 * (r % 2)) * s, (-8 + 5.5 * r) * s);
        const rad = 1.4 * s;
        for (let yy = Math.max(0, Math.floor(fy - rad - 1)); yy <= Math.min(H - 1, Math.ceil(fy + rad + 1)); yy++) {
          for (let xx = Math.max(0, Math.floor(fx - rad - 1)); xx <= Math.min(W - 1, Math.ceil(fx + rad + 1)); xx++) {
            const i = yy * W + xx;
            work[i] += (60 - work[i]) * 0.8 * cover(Math.hypot(xx - fx, yy - fy) - rad);
          }
        }
      }
    }
    // Whiskers: bright thin tapering curves; protraction (sweep > 0) turns them forward.
    const labels: Array<keyof typeof KP> = ['whisker(I)', 'whisker(II)', 'whisker(III)'];
    WHISKERS.forEach((w, k) => {
      let [wx, wy] = pad.point(w.u * s, w.v * s);
      let ang = (w.angle - WHISK_SWEEP_DEG * sweep * (1 - 0.15 * k)) * DEG;
      const len = w.length * s;
      const step = 0.6;
      const nStep = Math.ceil(len / step);
      for (let j = 0; j <= nStep; j++) {
        const arc = j * step;
        if (k < 3 && Math.abs(arc - WHISKER_LABEL_ARC * s) < step / 2) set(labels[k], [wx, wy]);
        const frac = arc / len;
        const radius = (0.9 - 0.55 * frac) * Math.max(1, s);
        const strength = 0.55 * (1 - 0.6 * frac);
        splat(work, W, H, wx, wy, radius, 225, strength);
        wx += step * Math.cos(ang);
        wy += step * Math.sin(ang);
        ang += (w.bend * step) / s;
      }
    });
  }

  private drawMouth(st: FaceState, set: (k: keyof typeof KP, p: [number, number]) => void): void {
    const s = this.s;
    const W = this.width;
    const H = this.height;
    const work = this.work;
    const o = st.lick;
    const jaw = this.ellipse(196, 178 + 7 * o, 27, 9, 14 + 8 * o);
    const cavity = this.ellipse(204, 176 + 3.5 * o, 26, 1.2 + 6.5 * o, 16);
    const tongue = this.ellipse(210 + 16 * o, 177 + 5 * o, 6 + 12 * o, 4.5, 18);
    const [cx0, cy0, cx1, cy1] = cavity.bbox(3, W, H);
    const [jx0, jy0, jx1, jy1] = jaw.bbox(3, W, H);
    const [tx0, ty0, tx1, ty1] = tongue.bbox(3, W, H);
    const x0 = Math.min(cx0, jx0, tx0);
    const y0 = Math.min(cy0, jy0, ty0);
    const x1 = Math.max(cx1, jx1, tx1);
    const y1 = Math.max(cy1, jy1, ty1);
    const [, jawTopY] = this.px(0, 170);
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = yy * W + xx;
        let v = work[i];
        v += (22 - v) * 0.9 * cover(cavity.dist(xx, yy));
        if (o > 0.02) {
          const td = tongue.dist(xx, yy);
          v += (175 + 20 * smoothstep(0, 4 * s, -td) + 3 * this.fur[i] - v) * cover(td);
        }
        const jd = jaw.dist(xx, yy);
        if (jd < 0.5 && yy > jawTopY) {
          const jv = 80 + 55 * smoothstep(0, 7 * s, -jd) + 16 * this.fur[i];
          v += (jv - v) * cover(jd);
        }
        work[i] = v;
      }
    }
    set('mouth', cavity.point(-cavity.a, 0));
    set('lowerlip', jaw.at(-40 * DEG));
  }

  private drawPaw(st: FaceState, set: (k: keyof typeof KP, p: [number, number]) => void): void {
    const s = this.s;
    const W = this.width;
    const H = this.height;
    const work = this.work;
    const cx = Math.min(W - 1, Math.max(0, st.paw_x * W));
    const cy = Math.min(H - 1, Math.max(0, st.paw_y * H));
    const arm = new Ellipse(cx - 4 * s, cy + 32 * s, 13 * s, 34 * s, 8 * DEG);
    const palm = new Ellipse(cx, cy, 15 * s, 11 * s, -15 * DEG);
    const digits = [-10, -3.5, 3.5, 10].map((dx, k) => {
      const [px, py] = [cx + dx * s, cy - (9 + (k === 1 || k === 2 ? 3 : 0)) * s];
      return new Ellipse(px, py, 2.8 * s, 4.2 * s, (90 + dx * 2) * DEG);
    });
    const x0 = Math.max(0, Math.floor(cx - 22 * s));
    const x1 = Math.min(W, Math.ceil(cx + 22 * s));
    const y0 = Math.max(0, Math.floor(cy - 20 * s));
    for (let yy = y0; yy < H; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = yy * W + xx;
        let v = work[i];
        const ad = arm.dist(xx, yy);
        v += (95 + 25 * smoothstep(0, 8 * s, -ad) + 14 * this.fur[i] - v) * cover(ad);
        const pd = palm.dist(xx, yy);
        v += (185 + 20 * smoothstep(0, 6 * s, -pd) + 4 * this.fur[i] - v) * cover(pd);
        for (const dg of digits) {
          const dd = dg.dist(xx, yy);
          if (dd < 1.5) {
            v += (120 - v) * 0.6 * cover(dd - 1);
            v += (205 - v) * cover(dd);
          }
        }
        work[i] = v;
      }
    }
    set('paw', [cx, cy]);
  }
}

/** Clamps latents to their documented ranges (renderer input must never make NaN pixels). */
function sanitize(st: FaceState): FaceState {
  const c01 = (v: number): number => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0);
  return {
    pupil: c01(st.pupil),
    blink: c01(st.blink),
    whisk_phase: Number.isFinite(st.whisk_phase) ? st.whisk_phase : 0,
    whisk_amp: c01(st.whisk_amp),
    sniff: Number.isFinite(st.sniff) ? Math.min(1, Math.max(-1, st.sniff)) : 0,
    lick: c01(st.lick),
    paw: c01(st.paw),
    paw_x: c01(st.paw_x),
    paw_y: c01(st.paw_y),
  };
}

/** Adds a soft disc of value `v` and opacity `strength` at (x, y), radius `r` px. */
function splat(work: Float32Array, W: number, H: number, x: number, y: number, r: number, v: number, strength: number): void {
  const x0 = Math.max(0, Math.floor(x - r - 1));
  const x1 = Math.min(W - 1, Math.ceil(x + r + 1));
  const y0 = Math.max(0, Math.floor(y - r - 1));
  const y1 = Math.min(H - 1, Math.ceil(y + r + 1));
  for (let yy = y0; yy <= y1; yy++) {
    for (let xx = x0; xx <= x1; xx++) {
      const c = cover(Math.hypot(xx - x, yy - y) - r);
      if (c > 0) {
        const i = yy * W + xx;
        work[i] += (v - work[i]) * strength * c;
      }
    }
  }
}

/** Fur: white noise blurred along the hair direction (streaks) plus coarse blotches; ~unit sd. */
function furTexture(W: number, H: number, rng: Rng, s: number): Float32Array {
  const n = W * H;
  const white = rng.fillNormal(new Float32Array(n));
  const streak = boxBlur(boxBlur(white, W, H, Math.max(2, Math.round(3 * s)), 0), W, H, 0, 1);
  const coarse = boxBlur(boxBlur(rng.fillNormal(new Float32Array(n)), W, H, Math.round(8 * s), Math.round(8 * s)), W, H, Math.round(8 * s), Math.round(8 * s));
  const out = new Float32Array(n);
  const sd = (a: Float32Array): number => Math.sqrt(a.reduce((acc, v) => acc + v * v, 0) / a.length) || 1;
  const s1 = sd(streak);
  const s2 = sd(coarse);
  for (let i = 0; i < n; i++) out[i] = (0.8 * streak[i]) / s1 + (0.5 * coarse[i]) / s2 + 0.25 * white[i];
  return out;
}

/** Separable box blur with radii rx (along x) and ry (along y); edges clamp. */
function boxBlur(src: Float32Array, W: number, H: number, rx: number, ry: number): Float32Array {
  let a = src;
  if (rx > 0) {
    const b = new Float32Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let acc = 0;
        for (let k = -rx; k <= rx; k++) acc += a[y * W + Math.min(W - 1, Math.max(0, x + k))];
        b[y * W + x] = acc / (2 * rx + 1);
      }
    }
    a = b;
  }
  if (ry > 0) {
    const b = new Float32Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let acc = 0;
        for (let k = -ry; k <= ry; k++) acc += a[Math.min(H - 1, Math.max(0, y + k)) * W + x];
        b[y * W + x] = acc / (2 * ry + 1);
      }
    }
    a = b;
  }
  return a;
}

/** A 32-bit hash of (seed, i): picks each frame's slice of the noise bank. */
function hash32(seed: number, i: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

let cachedRenderer: FaceRenderer | null = null;

/**
 * Renders a single frame (for notebooks and tests). Reuses the renderer of the previous call when
 * the configuration is the same.
 * @param state the frame's latents (e.g. from {@link faceStateAt}, or {@link REST_STATE})
 */
export function renderFrame(
  state: FaceState,
  options: { config?: Partial<FaceConfig>; frameIndex?: number; fps?: number } = {},
): RenderedFrame {
  const config = resolveFaceConfig(options.config);
  if (!cachedRenderer || JSON.stringify(cachedRenderer.config) !== JSON.stringify(config)) {
    cachedRenderer = new FaceRenderer(config);
  }
  return cachedRenderer.render(state, options.frameIndex ?? 0, options.fps ?? 50);
}

/** Options of {@link renderFaceVideo}. */
export interface RenderVideoOptions {
  /** Called after each written chunk with frames done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** What {@link renderFaceVideo} wrote. */
export interface RenderVideoResult {
  /** The mp4 written. */
  file: string;
  /** Ground-truth keypoints of every frame (FACEMAP_KEYPOINTS order), in pixels. */
  traces: KeypointTraces;
  width: number;
  height: number;
  fps: number;
  nFrames: number;
  /** Wall-clock seconds of rendering and encoding. */
  seconds: number;
}

/**
 * Renders every frame of `latents` and encodes them to an H.264 mp4 (libx264, yuv420p, CRF
 * `config.crf`, `latents.fps` frames/s). Encoding is bit-exact deterministic on one ffmpeg build
 * (one thread, bitexact flags, no metadata): the same latents and config give the same bytes.
 * The file appears only when complete (temp file + rename); on any error ffmpeg is killed and no
 * partial file is left.
 */
export async function renderFaceVideo(
  latents: BehaviorLatents,
  config: Partial<FaceConfig>,
  outFile: string,
  options: RenderVideoOptions = {},
): Promise<RenderVideoResult> {
  const t0 = Date.now();
  if (!(latents.fps > 0 && Number.isFinite(latents.fps))) throw new ParamError('fps', latents.fps, 'a finite number > 0 (frames/s)');
  if (!(Number.isInteger(latents.nFrames) && latents.nFrames >= 1)) throw new ParamError('nFrames', latents.nFrames, 'an integer >= 1');
  if (latents.data.length !== latents.nFrames * latents.names.length) {
    throw new ParamError('latents.data.length', latents.data.length, `nFrames x names.length = ${latents.nFrames * latents.names.length}`);
  }
  const cols = stateColumns(latents);
  const renderer = new FaceRenderer(config);
  const { width: W, height: H } = renderer;
  const dir = path.dirname(path.resolve(outFile));
  if (!fs.existsSync(dir)) throw new FormatError(outFile, `folder ${dir} does not exist`);
  const ffmpeg = locateFfmpeg().ffmpeg;
  const nK = FACEMAP_KEYPOINTS.length;
  const N = latents.nFrames;
  const traces: KeypointTraces = {
    names: [...FACEMAP_KEYPOINTS],
    nFrames: N,
    x: new Float32Array(N * nK),
    y: new Float32Array(N * nK),
    likelihood: new Float32Array(N * nK),
  };
  const frameBytes = W * H;
  const chunkFrames = Math.max(1, Math.floor((1 << 20) / frameBytes));

  await writeAtomic(outFile, async (tmp) => {
    const args = [
      '-v', 'error', '-nostdin', '-y',
      '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${W}x${H}`, '-r', String(latents.fps), '-i', 'pipe:0',
      '-an', '-c:v', 'libx264', '-preset', renderer.config.preset, '-crf', String(renderer.config.crf),
      '-pix_fmt', 'yuv420p', '-threads', '1', '-x264-params', 'threads=1:lookahead-threads=1',
      '-fflags', '+bitexact', '-flags:v', '+bitexact', '-map_metadata', '-1',
      '-f', 'mp4', tmp,
    ];
    const child = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'], windowsHide: true });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-8000);
    });
    let stdinError: Error | null = null;
    child.stdin.on('error', (e) => (stdinError = e));
    const closed = new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, error }));
      child.once('close', (code) => resolve({ code }));
    });
    let exited = false;
    void closed.then(() => (exited = true));
    const fail = (why: string): EngineError =>
      new EngineError(`ffmpeg failed writing ${outFile}: ${why}${stderr ? `\n${stderr.trim()}` : ''}`);
    try {
      for (let t0f = 0; t0f < N; t0f += chunkFrames) {
        const n = Math.min(chunkFrames, N - t0f);
        const buf = Buffer.allocUnsafe(n * frameBytes);
        for (let k = 0; k < n; k++) {
          const t = t0f + k;
          const r = renderer.render(stateFromRow(latents, cols, t), t, latents.fps, buf.subarray(k * frameBytes, (k + 1) * frameBytes));
          traces.x.set(r.x, t * nK);
          traces.y.set(r.y, t * nK);
          traces.likelihood.set(r.likelihood, t * nK);
        }
        if (exited || stdinError) throw fail('it exited before all frames were written');
        if (!child.stdin.write(buf)) {
          const r = await Promise.race([
            new Promise<'drain'>((resolve) => child.stdin.once('drain', () => resolve('drain'))),
            closed.then(() => 'closed' as const),
          ]);
          if (r === 'closed') throw fail('it exited before all frames were written');
        }
        options.onProgress?.(t0f + n, N);
      }
      child.stdin.end();
      const r = await closed;
      if (r.error) throw fail(r.error.message);
      if (r.code !== 0) throw fail(`exit code ${r.code}`);
    } catch (e) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await closed;
      throw e;
    }
  });
  return { file: outFile, traces, width: W, height: H, fps: latents.fps, nFrames: N, seconds: (Date.now() - t0) / 1000 };
}
