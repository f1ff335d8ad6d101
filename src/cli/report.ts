/** `facemap-ts report DIR`: the HTML report of an output folder. */
import * as path from 'node:path';
import { ParamError } from '../errors';
import { checkReportRendering } from '../report/browser';
import { buildReport } from '../report/build';
import type { Command } from './command';
import { parseOptions } from './command';

export const reportCommand: Command = {
  name: 'report',
  summary: 'build the HTML report (plotly figures, tables, run settings) of an output folder',
  help: [
    'Usage: facemap-ts report DIR [--out FILE] [--title TEXT] [--check] [--screenshot PNG]',
    '',
    'Scans DIR (3 levels deep) for the files facemap-ts writes (run.json, session.json, model',
    'card.json, *_proc.h5, *_FacemapPose.h5, encoder and cluster tables) and writes one',
    'self-contained HTML page (plotly.js inlined, works offline) with a section per output.',
    '',
    '  --out FILE         default DIR/report.html',
    '  --title TEXT       page title',
    '  --check            open the report in headless Chromium (Debian `chromium`, or CHROMIUM_PATH)',
    '                     and fail (exit 4) unless every figure rendered without console errors',
    '  --screenshot PNG   with --check: save a screenshot of the page (full page)',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseOptions(argv, { out: { type: 'string' }, title: { type: 'string' }, check: { type: 'boolean' }, screenshot: { type: 'string' } }, true);
    if (positionals.length !== 1) throw new ParamError('DIR', positionals.join(' '), 'exactly one output folder');
    const { file, sections } = await buildReport(positionals[0], { out: values.out, title: values.title });
    const figures = sections.reduce((a, s) => a + s.blocks.filter((b) => b.kind === 'figure').length, 0);
    process.stderr.write(`report: ${sections.length} sections, ${figures} figures -> ${file}\n`);
    const summary: Record<string, unknown> = { report: file, sections: sections.map((s) => s.title), figures };
    if (values.check || values.screenshot) {
      const check = await checkReportRendering(file, { screenshot: values.screenshot && path.resolve(values.screenshot), fullPage: true });
      summary.rendered = check.rendered;
      summary.failed = check.failed;
      summary.consoleErrors = check.consoleErrors;
      if (check.rendered !== check.figures || check.consoleErrors.length) {
        process.stdout.write(`${JSON.stringify(summary)}\n`);
        throw new ParamError('report', file, `every figure rendered without console errors (${check.rendered}/${check.figures} rendered, ${check.consoleErrors.length} console errors)`);
      }
    }
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  },
};
