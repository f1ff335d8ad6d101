#!/usr/bin/env node
/**
 * facemap-ts command line: `facemap-ts <command> [options]`.
 * Exit codes: 0 done, 1 unexpected failure, 2 bad usage or option, 3 bad input file,
 * 4 a compute engine (backend, ONNX Runtime, ffmpeg) is missing.
 */
import { EngineError, FormatError, InterruptedError, ParamError, ShapeError } from '../errors';
import { clusterCommand } from './cluster';
import { demoCommand } from './demo';
import { encodeCommand } from './encode';
import { evaluateCommand } from './evaluate';
import { exportOnnxCommand } from './export-onnx';
import { infoCommand } from './info';
import { reportCommand } from './report';
import { labelVideoCommand } from './label-video';
import { svdCommand } from './svd';
import { synthCommand } from './synth';
import { trackCommand } from './track';
import { trainCommand } from './train';
import type { Command } from './command';

const COMMANDS: Command[] = [
  infoCommand,
  synthCommand,
  trainCommand,
  evaluateCommand,
  exportOnnxCommand,
  trackCommand,
  labelVideoCommand,
  svdCommand,
  encodeCommand,
  clusterCommand,
  reportCommand,
  demoCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: facemap-ts <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'facemap-ts <command> --help' for a command's options.",
    'Environment: FACEMAP_BACKEND=node-gpu|node|wasm|cpu forces the tfjs backend.',
  ].join('\n');
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof ParamError) return 2;
  if (err instanceof FormatError || err instanceof ShapeError) return 3;
  if (err instanceof EngineError) return 4;
  if (err instanceof InterruptedError) return 130;
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${(require('../../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`facemap-ts: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  await command.run(rest);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      process.stderr.write(`facemap-ts: ${msg.split('\n')[0]}\n`);
      if (process.env.FACEMAP_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      process.exit(exitCodeFor(err));
    },
  );
}
