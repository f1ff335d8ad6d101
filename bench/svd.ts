/**
 * `node dist/bench/svd.js`: frames/s and peak memory of the motion SVD (MotionSVD fit + transform,
 * sbin 4, 500 components, defaults otherwise) on
 *   (i)  a simulated face video ('demo' session preset, BENCH_FRAMES frames, default 10,000 =
 *        200 s at 50 fps, 256 x 256), generated once into a cache folder and reused;
 *   (ii) the mirror-mouse test video (../shared/data/mirror-mouse/videos/test_vid.mp4, 994
 *        frames), skipped with a note when absent;
 * and, when FACEMAP_SRC points to a Facemap checkout (and the python has numpy/scipy/sklearn/
 * opencv/numba), Facemap's own pipeline on the same videos in the same run
 * (bench/peers/facemap_svd.py): its frames/s, the speed ratio ours / Facemap, and the agreement of
 * the top 20 motion masks = mean squared cosine of the principal angles between our U[:, :20] and
 * Facemap's motMask[0][:, :20] (both orthonormalised; = ||Q1^T Q2||_F^2 / 20; 1 = same subspace).
 * Progress goes to stderr; the last stdout line is one JSON object.
 *
 * Rounds: each video is run BENCH_ROUNDS times (default 3), ours then Facemap's in each round, so
 * that a slow spell of a shared machine hits both; the headline frames/s are each side's best
 * round, speed_ratio_ours_over_facemap their ratio, and `rounds` lists every round's frames/s,
 * ratio and the CPU seconds the hypervisor stole meanwhile (/proc/stat "steal"; large values mean
 * the machine was oversubscribed and the round's figures are unreliable).
 *
 * Env: BENCH_ROUNDS (default 3), BENCH_FRAMES (simulated frames, default 10000), BENCH_CACHE (cache folder, default
 * $TMPDIR/facemap-ts-bench-cache), BENCH_REAL_VIDEO (default the mirror-mouse video; 'none' skips),
 * FACEMAP_SRC (Facemap checkout), BENCH_PYTHON (default /usr/bin/python3).
 *
 * CPU: cpu_s is the CPU seconds of the case (ours: this process with ORT's threads plus its ffmpeg
 * children; Facemap: its python process, OpenCV decoding included), a same-work figure that the
 * machine's load disturbs less than wall time; loadavg_start/end are os.loadavg() around the bench.
 * Memory: rss_peak_sampled_mb is the largest process RSS sampled every 50 ms during the case (the
 * heap is collected first when node runs with --expose-gc, as `npm run bench:svd` does);
 * vm_hwm_mb is /proc/self/status VmHWM at the end of the case, after resetting it at its start by
 * writing 5 to /proc/self/clear_refs (vm_hwm_reset says whether that worked; if not, VmHWM is the
 * process-wide peak so far). Facemap's peak is its python process's ru_maxrss.
 * Pixel order: both sides flatten the binned frame row-major (y * Lxb + x) after dropping the last
 * Ly % sbin rows and Lx % sbin columns; if the binned sizes still differ, the agreement is computed
 * on the common top-left crop (noted in the JSON).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MotionSVD } from '../src/motion/svd';
import { matmul, orthonormalizeColumns, randomizedSvd, type Matrix } from '../src/engine/linalg';
import { readNpy, toFloat64 } from '../src/io/npy';
import { simulateSession, readSessionManifest } from '../src/synth/session';
import { vmHwmBytes } from './memory';

const REAL_VIDEO_DEFAULT = path.resolve(__dirname, '../../../shared/data/mirror-mouse/videos/test_vid.mp4');
const K_AGREE = 20;

function log(msg: string): void {
  process.stderr.write(`[bench:svd] ${msg}\n`);
}

function resetHwm(): boolean {
  try {
    const before = vmHwmBytes();
    fs.writeFileSync('/proc/self/clear_refs', '5');
    const after = vmHwmBytes();
    return before !== null && after !== null && after <= before;
  } catch {
    return false;
  }
}

/** CPU seconds of this process's waited-for children (ffmpeg), from /proc/self/stat (cutime + cstime); 0 where unreadable. */
function childCpuSeconds(): number {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / 100; // fields 16, 17 of proc(5); USER_HZ = 100
  } catch {
    return 0;
  }
}

const mb = (b: number | null): number | null => (b === null ? null : +(b / 2 ** 20).toFixed(1));

async function simulatedVideo(nFrames: number, cache: string): Promise<string> {
  const dir = path.join(cache, `svd-sim-demo-${nFrames}`);
  if (fs.existsSync(path.join(dir, 'session.json'))) {
    const m = readSessionManifest(dir);
    if (m.files.video && m.nFrames === nFrames) {
      log(`reusing cached simulated video ${path.join(dir, m.files.video)}`);
      return path.join(dir, m.files.video);
    }
  }
  fs.mkdirSync(cache, { recursive: true });
  log(`generating ${nFrames}-frame simulated video into ${dir} (once)`);
  const t0 = performance.now();
  let last = 0;
  const m = await simulateSession({
    preset: 'demo',
    outDir: dir,
    force: true,
    overrides: { seconds: nFrames / 50, neural: { nNeurons: 200 } },
    onProgress: (stage, done, total) => {
      const now = performance.now();
      if (now - last > 10000 || done === total) {
        last = now;
        log(`  ${stage} ${done} / ${total} (${((now - t0) / 1000).toFixed(0)} s)`);
      }
    },
  });
  log(`generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return path.join(dir, m.files.video as string);
}

interface OursResult {
  n_frames: number;
  Lyb: number;
  Lxb: number;
  n_components: number;
  fit_s: number;
  transform_s: number;
  total_s: number;
  frames_per_s: number;
  /** CPU seconds (user + system) during the case: this process (ORT's threads included) and its ffmpeg children. */
  cpu_s: number;
  /** Of cpu_s, the ffmpeg children's. */
  cpu_ffmpeg_s: number;
  rss_peak_sampled_mb: number | null;
  vm_hwm_mb: number | null;
  vm_hwm_reset: boolean;
}

async function runOurs(video: string): Promise<{ res: OursResult; U: Matrix }> {
  // Start from a collected heap (npm run bench:svd passes --expose-gc), so that garbage left by an
  // earlier round does not count in this round's peak memory.
  (globalThis as { gc?: () => void }).gc?.();
  const hwmReset = resetHwm();
  let rssPeak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 50);
  let last = 0;
  const cpu0 = process.cpuUsage();
  const child0 = childCpuSeconds();
  const t0 = performance.now();
  const model = new MotionSVD({
    sbin: 4,
    nComponents: 500,
    onProgress: (stage, done, total) => {
      const now = performance.now();
      if (now - last > 5000 || done === total) {
        last = now;
        log(`  ours ${stage} ${done} / ${total} (${((now - t0) / 1000).toFixed(1)} s)`);
      }
    },
  });
  await model.fit([video]);
  const t1 = performance.now();
  const r = await model.transform([video]);
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const childCpu = childCpuSeconds() - child0;
  clearInterval(timer);
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  const tg = model.motionTargets[0];
  const l = model.layout![0];
  const total = (t2 - t0) / 1000;
  return {
    res: {
      n_frames: r.nFrames,
      Lyb: l.Lyb,
      Lxb: l.Lxb,
      n_components: tg.masks.cols,
      fit_s: +((t1 - t0) / 1000).toFixed(2),
      transform_s: +((t2 - t1) / 1000).toFixed(2),
      total_s: +total.toFixed(2),
      frames_per_s: +(r.nFrames / total).toFixed(1),
      cpu_s: +((cpu.user + cpu.system) / 1e6 + childCpu).toFixed(2),
      cpu_ffmpeg_s: +childCpu.toFixed(2),
      rss_peak_sampled_mb: mb(rssPeak),
      vm_hwm_mb: mb(vmHwmBytes()),
      vm_hwm_reset: hwmReset,
    },
    U: tg.masks,
  };
}

function runPython(python: string, script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; wall_s: number; tail: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(python, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const onData = (d: Buffer) => {
      const s = d.toString();
      tail = (tail + s).slice(-4000);
      for (const line of s.split('\n')) if (line.trim()) process.stderr.write(`[bench:svd]   py: ${line}\n`);
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, wall_s: (performance.now() - t0) / 1000, tail }));
  });
}

/** Rows of a (Lyb x Lxb) x k row-major mask matrix restricted to the top-left cy x cx crop, first k columns. */
function cropMasks(data: ArrayLike<number>, Lyb: number, Lxb: number, cols: number, cy: number, cx: number, k: number): Matrix {
  const out = new Float32Array(cy * cx * k);
  for (let y = 0; y < cy; y++) {
    for (let x = 0; x < cx; x++) {
      const src = (y * Lxb + x) * cols;
      const dst = (y * cx + x) * k;
      for (let j = 0; j < k; j++) out[dst + j] = data[src + j];
    }
  }
  void Lyb;
  return { data: out, rows: cy * cx, cols: k };
}

/** Mean squared cosine of the principal angles between span(A) and span(B) (same rows, k cols each). */
function subspaceAgreement(A: Matrix, B: Matrix): { mean_cos2: number; mean_cos2_frobenius: number; cos_min: number; cos_max: number } {
  const Qa = orthonormalizeColumns(A);
  const Qb = orthonormalizeColumns(B);
  const M = matmul(Qa, Qb, { transposeA: true }); // k x k
  const k = M.cols;
  const { S } = randomizedSvd(M, k, { oversamples: 0, powerIters: 2 });
  let s2 = 0;
  for (const s of S) s2 += s * s;
  let f2 = 0;
  for (const v of M.data) f2 += v * v;
  return {
    mean_cos2: +(s2 / k).toFixed(5),
    mean_cos2_frobenius: +(f2 / k).toFixed(5),
    cos_min: +Math.min(...S).toFixed(4),
    cos_max: +Math.max(...S).toFixed(4),
  };
}

/** CPU seconds the hypervisor gave to others ("steal", /proc/stat, all CPUs), or null where unreadable. */
function stealSeconds(): number | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    return f[0] === 'cpu' && f.length > 8 ? Number(f[8]) / 100 : null;
  } catch {
    return null;
  }
}

async function stolen<T>(run: () => Promise<T>): Promise<{ value: T; steal_cpu_s: number | null }> {
  const s0 = stealSeconds();
  const value = await run();
  const s1 = stealSeconds();
  return { value, steal_cpu_s: s0 === null || s1 === null ? null : +(s1 - s0).toFixed(2) };
}

const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/**
 * One video: `rounds` alternating runs of ours then Facemap's (so that a slow spell of a shared
 * machine hits both sides alike), each with the CPU time stolen by the hypervisor meanwhile.
 * Headline figures (`ours`, `facemap`: time, frames/s, CPU, memory) are each side's best round
 * (its least disturbed run), and the speed and CPU ratios compare those; every round's frames/s and
 * ratio are listed too. The agreement (deterministic) comes from round 1.
 */
async function runCase(name: string, video: string, facemapSrc: string | undefined, python: string, scratch: string, rounds: number): Promise<Record<string, unknown>> {
  log(`case ${name}: ${video}`);
  const perRound: Record<string, unknown>[] = [];
  const oursRuns: OursResult[] = [];
  let U: Matrix | null = null;
  const fmRuns: { res: Record<string, any>; wall_s: number; fps: number }[] = [];
  let mask: ReturnType<typeof readNpy> | null = null;
  const out: Record<string, unknown> = { video };
  const script = path.resolve(__dirname, '..', '..', 'bench', 'peers', 'facemap_svd.py');
  const env = { ...process.env, FACEMAP_SRC: facemapSrc, OMP_NUM_THREADS: '2', OPENBLAS_NUM_THREADS: '2', MKL_NUM_THREADS: '2', NUMEXPR_NUM_THREADS: '2', NUMBA_NUM_THREADS: '2' };
  for (let r = 0; r < rounds; r++) {
    const o = await stolen(() => runOurs(video));
    const ours = o.value.res;
    U ??= o.value.U;
    oursRuns.push(ours);
    log(`  round ${r + 1}: ours ${ours.n_frames} frames in ${ours.total_s} s = ${ours.frames_per_s} frames/s (stolen CPU ${o.steal_cpu_s} s), RSS peak ${ours.rss_peak_sampled_mb} MB, VmHWM ${ours.vm_hwm_mb} MB`);
    const round: Record<string, unknown> = { ours_frames_per_s: ours.frames_per_s, ours_steal_cpu_s: o.steal_cpu_s };
    perRound.push(round);
    if (!facemapSrc) continue;
    const outDir = fs.mkdtempSync(path.join(scratch, `fm-${name}-`));
    log(`  round ${r + 1}: running Facemap (${python} ${script})`);
    const py = await stolen(() => runPython(python, script, [video, outDir, '4'], env));
    const resFile = path.join(outDir, 'result.json');
    if (py.value.code !== 0 || !fs.existsSync(resFile)) {
      // recorded in its round; it is the case's `facemap` only when no round of Facemap's ran
      const error = { error: `python exited ${py.value.code}`, tail: py.value.tail.slice(-1500) };
      round.facemap_error = error;
      if (fmRuns.length === 0) out.facemap = error;
      break;
    }
    const res = JSON.parse(fs.readFileSync(resFile, 'utf8'));
    const fps = res.n_frames / res.total_s;
    log(`  round ${r + 1}: Facemap ${res.n_frames} frames in ${res.total_s.toFixed(1)} s = ${fps.toFixed(1)} frames/s (stolen CPU ${py.steal_cpu_s} s)`);
    fmRuns.push({ res, wall_s: py.value.wall_s, fps });
    Object.assign(round, { facemap_frames_per_s: +fps.toFixed(1), facemap_steal_cpu_s: py.steal_cpu_s, ratio: +(ours.frames_per_s / fps).toFixed(3) });
    mask ??= readNpy(path.join(outDir, 'motmask20.npy'));
    fs.rmSync(outDir, { recursive: true, force: true });
  }
  const best = oursRuns.reduce((a, b) => (b.frames_per_s > a.frames_per_s ? b : a));
  out.ours = best;
  out.rounds = perRound;
  if (!facemapSrc) {
    out.facemap = 'FACEMAP_SRC not set';
    return out;
  }
  if (fmRuns.length === 0 || !mask || !U) return out;
  const ours = best; // the headline round, compared with Facemap's best
  const fmBest = fmRuns.reduce((a, b) => (b.fps > a.fps ? b : a));
  const fm = fmBest.res;
  const fmFps = fmBest.fps;
  const cy = Math.min(ours.Lyb, fm.Lyb);
  const cx = Math.min(ours.Lxb, fm.Lxb);
  const k = Math.min(K_AGREE, U.cols, mask.shape[1]);
  const A = cropMasks(U.data, ours.Lyb, ours.Lxb, U.cols, cy, cx, k);
  const B = cropMasks(toFloat64(mask.data), fm.Lyb, fm.Lxb, mask.shape[1], cy, cx, k);
  const agree = subspaceAgreement(A, B);
  log(`  best rounds: ours ${best.frames_per_s} frames/s, Facemap ${fmFps.toFixed(1)} frames/s; agreement top ${k}: ${agree.mean_cos2}`);
  out.facemap = {
    n_frames: fm.n_frames,
    Lyb: fm.Lyb,
    Lxb: fm.Lxb,
    n_components: fm.n_components,
    mean_s: +fm.mean_s.toFixed(2),
    svd_s: +fm.svd_s.toFixed(2),
    project_s: +fm.project_s.toFixed(2),
    total_s: +fm.total_s.toFixed(2),
    process_wall_s: +fmBest.wall_s.toFixed(2),
    frames_per_s: +fmFps.toFixed(1),
    cpu_s: typeof fm.cpu_s === 'number' ? +fm.cpu_s.toFixed(2) : null,
    ru_maxrss_mb: +fm.ru_maxrss_mb.toFixed(1),
    mask_col_norm_range: [+fm.mask_col_norm_min.toPrecision(4), +fm.mask_col_norm_max.toPrecision(4)],
    stubbed_modules: fm.stubbed_modules,
    versions: { numpy: fm.numpy, sklearn: fm.sklearn, opencv: fm.opencv, python: fm.python },
  };
  out.speed_ratio_ours_over_facemap = +(best.frames_per_s / fmFps).toFixed(3);
  out.speed_ratio_median_of_rounds = +median(perRound.map((r) => r.ratio).filter((x): x is number => typeof x === 'number')).toFixed(3);
  if (typeof fm.cpu_s === 'number') out.cpu_ratio_facemap_over_ours = +(fm.cpu_s / ours.cpu_s).toFixed(3);
  out.mask_agreement = {
    k,
    binned_size_ours: [ours.Lyb, ours.Lxb],
    binned_size_facemap: [fm.Lyb, fm.Lxb],
    cropped_to: ours.Lyb === fm.Lyb && ours.Lxb === fm.Lxb ? null : [cy, cx],
    ...agree,
  };
  return out;
}

async function main(): Promise<void> {
  const nFrames = Number(process.env.BENCH_FRAMES ?? 10000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`BENCH_ROUNDS must be an integer >= 1, got ${process.env.BENCH_ROUNDS}`);
  if (!Number.isInteger(nFrames) || nFrames < 2) throw new Error(`BENCH_FRAMES must be an integer >= 2, got ${process.env.BENCH_FRAMES}`);
  const cache = process.env.BENCH_CACHE ?? path.join(os.tmpdir(), 'facemap-ts-bench-cache');
  const realVideo = process.env.BENCH_REAL_VIDEO ?? REAL_VIDEO_DEFAULT;
  const facemapSrc = process.env.FACEMAP_SRC || undefined;
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-bench-svd-'));
  if (facemapSrc && !fs.existsSync(path.join(facemapSrc, 'facemap', 'process.py'))) {
    throw new Error(`FACEMAP_SRC=${facemapSrc} has no facemap/process.py`);
  }
  const t0 = performance.now();
  const load0 = os.loadavg().map((x) => +x.toFixed(2));
  const simVideo = await simulatedVideo(nFrames, cache);
  const cases: Record<string, unknown> = {};
  cases.simulated = { frames_requested: nFrames, ...(await runCase('simulated', simVideo, facemapSrc, python, scratch, rounds)) };
  if (realVideo !== 'none' && fs.existsSync(realVideo)) {
    cases.mirror_mouse = await runCase('mirror_mouse', realVideo, facemapSrc, python, scratch, rounds);
  } else {
    const why = realVideo === 'none' ? 'BENCH_REAL_VIDEO=none' : `${realVideo} absent`;
    cases.mirror_mouse = { skipped: why };
    log(`skipping real video: ${why}`);
  }
  fs.rmSync(scratch, { recursive: true, force: true });
  // The targets per case (null where Facemap did not run): >= 2x Facemap's frames/s, and
  // top-20 mask agreement >= 0.95.
  const targets: Record<string, { atLeast2xFacemap: boolean | null; agreementAtLeast0p95: boolean | null }> = {};
  for (const [name, c] of Object.entries(cases) as [string, { speed_ratio_ours_over_facemap?: number; mask_agreement?: { mean_cos2: number } }][]) {
    targets[name] = {
      atLeast2xFacemap: typeof c.speed_ratio_ours_over_facemap === 'number' ? c.speed_ratio_ours_over_facemap >= 2 : null,
      agreementAtLeast0p95: c.mask_agreement ? c.mask_agreement.mean_cos2 >= 0.95 : null,
    };
  }
  const result = {
    bench: 'motion-svd',
    rounds,
    sbin: 4,
    n_components: 500,
    ...cases,
    targets,
    facemap: facemapSrc ? { src: facemapSrc, python } : 'FACEMAP_SRC not set',
    total_bench_s: +((performance.now() - t0) / 1000).toFixed(1),
    loadavg_start: load0,
    loadavg_end: os.loadavg().map((x) => +x.toFixed(2)),
    cpus: os.cpus().length,
    node: process.version,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e) => {
  process.stderr.write(`[bench:svd] failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
