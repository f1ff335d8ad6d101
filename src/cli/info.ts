/** `facemap-ts info`: which engines this machine has and how fast they are. */
import { describeBackend, initBackend } from '../engine/backend';
import { ortInfo } from '../engine/onnx';
import { matmulSpeeds } from '../engine/speed';
import { locateFfmpeg } from '../io/video';
import type { Command } from './command';
import { parseOptions } from './command';

export const infoCommand: Command = {
  name: 'info',
  summary: 'show the compute engines in use (tfjs backend, ONNX Runtime, ffmpeg) and their speed',
  help: [
    'Usage: facemap-ts info [--speed] [--json]',
    '',
    'Shows the tfjs backend that training uses (and why earlier candidates were skipped), the',
    'ONNX Runtime provider, and the ffmpeg binary used for video.',
    '  --speed   also measure float32 matmul GFLOP/s of each engine (takes ~10-30 s)',
    '  --json    print one JSON object instead of text',
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(argv, { speed: { type: 'boolean' }, json: { type: 'boolean' } });
    const backend = await initBackend();
    const ort = ortInfo();
    let ffmpeg: { path: string; version: string; source: string } | { error: string };
    try {
      const f = locateFfmpeg();
      ffmpeg = { path: f.ffmpeg, version: f.version, source: f.source };
    } catch (err) {
      ffmpeg = { error: (err as Error).message };
    }
    const speeds = values.speed ? await matmulSpeeds({ size: 'quick' }) : undefined;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ backend, onnxruntime: ort, ffmpeg, matmul: speeds })}\n`);
      return;
    }
    const lines = [
      describeBackend(backend),
      ...backend.skipped.map((s) => `  skipped ${s.choice}: ${s.reason}`),
      ort.error ? `onnxruntime: unavailable (${ort.error})` : `onnxruntime ${ort.version}: ${ort.provider} provider, ${ort.threads} threads`,
      'path' in ffmpeg ? `ffmpeg ${ffmpeg.version} (${ffmpeg.source}): ${ffmpeg.path}` : `ffmpeg: ${ffmpeg.error}`,
      ...(speeds ?? []).map((s) => `matmul ${s.engine.padEnd(12)} ${s.gflops.toFixed(1).padStart(7)} GFLOP/s  (${s.m}x${s.k}x${s.n})`),
    ];
    if (backend.warning) lines.push(`warning: ${backend.warning}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
