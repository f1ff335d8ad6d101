/** The shape of one CLI command (one file per command under src/cli/). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ParamError } from '../errors';

export interface Command {
  name: string;
  summary: string;
  help: string;
  run(argv: string[]): Promise<void>;
}

/** parseArgs with unknown options reported as a ParamError (exit code 2) naming the option. */
export function parseOptions(argv: string[], options: NonNullable<ParseArgsConfig['options']>, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new ParamError('options', argv.join(' '), `valid options (${(err as Error).message})`);
  }
}
