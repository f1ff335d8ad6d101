/** The shape of one CLI command (one file per command under src/cli/). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ParamError } from '../errors';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  name: string;
  summary: string;
  help: string;
  run(argv: string[]): Promise<void>;
}

type Parsed<T extends OptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>>;

/** parseArgs with unknown options reported as a ParamError (exit code 2) naming the option. */
export function parseOptions<T extends OptionsConfig>(argv: string[], options: T, allowPositionals = false): Parsed<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true as const });
  } catch (err) {
    throw new ParamError('options', argv.join(' '), `valid options (${(err as Error).message})`);
  }
}
