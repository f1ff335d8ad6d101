/**
 * The HTML report: sections from the files of an output folder (a simulated session and a motion
 * SVD), clear errors for folders without outputs, and, in headless Chromium (Debian `chromium`,
 * playwright-core), every figure rendered with no console errors; a screenshot is saved
 * ($FACEMAP_REPORT_SCREENSHOT, else the temp folder).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FormatError } from '../../src/errors';
import { arraySource, MotionSVD, writeProc } from '../../src/motion';
import { buildReport, checkReportRendering, findChromium, renderReport } from '../../src/report';
import { simulateSession } from '../../src/synth';

describe('report: HTML report of an output folder', function () {
  this.timeout(600000);
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'report-'));
    await simulateSession({ preset: 'tiny', outDir: path.join(dir, 'session'), seed: 1, video: false });
    // A small motion SVD: a moving bright square.
    const Ly = 24;
    const Lx = 32;
    const N = 200;
    const frames = new Uint8Array(N * Ly * Lx).fill(20);
    for (let t = 0; t < N; t++) {
      const x0 = 4 + Math.round(8 + 8 * Math.sin(t / 7));
      for (let y = 8; y < 16; y++) for (let x = x0; x < x0 + 6; x++) frames[t * Ly * Lx + y * Lx + x] = 220;
    }
    const src = arraySource([{ frames, Ly, Lx }], ['square.mp4']);
    const m = await new MotionSVD({ sbin: 2, nComponents: 4, chunkComponents: 8, maskChunkLength: 100 }).fit(src);
    fs.mkdirSync(path.join(dir, 'svd'));
    await writeProc(path.join(dir, 'svd', 'square_proc.h5'), m, await m.transform(src));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('has a section per output with figures, tables and their sources; settings from run.json', async () => {
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ command: 'test', seed: 1 }));
    const { file, sections } = await buildReport(dir);
    assert.deepEqual(sections.map((s) => s.title), ['Simulated session (tiny)', 'Motion SVD (square_proc.h5)']);
    assert.deepEqual(sections[1].sources, [path.join('svd', 'square_proc.h5')]);
    const figs = sections.map((s) => s.blocks.filter((b) => b.kind === 'figure').length);
    assert.ok(figs[0] >= 1 && figs[1] >= 3, `figures per section ${figs}`);
    const html = fs.readFileSync(file, 'utf8');
    assert.match(html, /<td>command<\/td><td>test<\/td>/);
    assert.equal((html.match(/class="fm-figure"/g) ?? []).length, figs[0] + figs[1]);
    assert.ok(!/<script[^>]+src=/.test(html) && !/<link[^>]+href="http/.test(html), 'no external scripts or styles');
  });

  it('escapes text and fails clearly on folders without outputs', async () => {
    const html = renderReport({ title: '<b>x</b>', settings: { a: '<script>' }, sections: [] });
    assert.ok(html.includes('&lt;b&gt;x&lt;/b&gt;') && !html.includes('<td><script>'));
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'report-empty-'));
    await assert.rejects(buildReport(empty), (e: unknown) => e instanceof FormatError && /no facemap-ts outputs/.test((e as Error).message));
    await assert.rejects(buildReport(path.join(empty, 'nope')), (e: unknown) => e instanceof FormatError && /not a folder/.test((e as Error).message));
    fs.rmSync(empty, { recursive: true });
  });

  it('renders every figure in headless Chromium with no console errors (screenshot saved)', async function () {
    if (!findChromium()) {
      console.log('      (skipped: no Chromium on this machine; Debian `chromium` or CHROMIUM_PATH)');
      this.skip();
    }
    const { file } = await buildReport(dir);
    const shot = process.env.FACEMAP_REPORT_SCREENSHOT ?? path.join(dir, 'report.png');
    const check = await checkReportRendering(file, { screenshot: shot, fullPage: true });
    assert.deepEqual(check.consoleErrors, []);
    assert.ok(check.figures >= 4, `${check.figures} figures`);
    assert.equal(check.rendered, check.figures, `not rendered: ${check.failed}`);
    assert.ok(fs.statSync(shot).size > 20000, 'screenshot written');
  });

  it('the rendering check notices a figure that cannot draw', async function () {
    if (!findChromium()) this.skip();
    const bad = path.join(dir, 'bad.html');
    fs.writeFileSync(bad, renderReport({ title: 't', settings: {}, sections: [{ id: 's', title: 's', sources: [], blocks: [{ kind: 'figure', figure: { data: [{ type: 'no-such-trace-type', x: [1] }] } }] }] }).replace('window.Plotly.newPlot', 'window.Plotly.nope'));
    const check = await checkReportRendering(bad, { timeoutMs: 5000 });
    assert.equal(check.figures, 1);
    assert.equal(check.rendered, 0);
    assert.ok(check.consoleErrors.length >= 1, 'the failing call is reported');
  });
});
