#!/usr/bin/env node
/** facemap-ts command line: `facemap-ts <command> [options]`; `facemap-ts --help` lists commands. */
process.stdout.write('facemap-ts: no commands yet\n');
