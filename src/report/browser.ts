/**
 * Opens a report in headless Chromium (system `chromium`, driven by playwright-core, no browser
 * download) and checks that it rendered: every figure div holds a drawn plotly plot with a
 * non-empty plot area, and the page logged no console errors. Optionally saves a screenshot.
 */
import * as fs from 'node:fs';
import { EngineError } from '../errors';

/** Paths tried for the browser, in order (CHROMIUM_PATH first). */
export function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  return null;
}

export interface RenderCheck {
  figures: number;
  /** Figures whose plot area is drawn and non-empty. */
  rendered: number;
  /** Ids of figures that did not render. */
  failed: string[];
  consoleErrors: string[];
  screenshot?: string;
}

/**
 * Loads `htmlFile` (up to 5 min: the page inlines plotly.js) and waits (up to `timeoutMs`,
 * default 2 min) for every `.fm-figure` to be drawn.
 * @throws EngineError when no Chromium or playwright-core is available.
 */
export async function checkReportRendering(htmlFile: string, options: { screenshot?: string; fullPage?: boolean; timeoutMs?: number; width?: number } = {}): Promise<RenderCheck> {
  const exe = findChromium();
  if (!exe) throw new EngineError('no Chromium found (install Debian `chromium`, or set CHROMIUM_PATH)');
  let pw: typeof import('playwright-core');
  try {
    pw = require('playwright-core') as typeof import('playwright-core');
  } catch (e) {
    throw new EngineError(`playwright-core failed to load (${(e as Error).message})`);
  }
  const browser = await pw.chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage({ viewport: { width: options.width ?? 1280, height: 900 } });
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
    await page.goto(`file://${htmlFile}`, { waitUntil: 'load', timeout: 300000 });
    const figures = await page.$$eval('.fm-figure', (els) => els.length);
    try {
      await page.waitForFunction(
        "Array.from(document.querySelectorAll('.fm-figure')).every((el) => el.querySelector('.main-svg') !== null)",
        undefined,
        { timeout: options.timeoutMs ?? 120000, polling: 200 },
      );
    } catch {
      // fall through: the per-figure check below names the ones that did not draw
    }
    const status = await page.$$eval('.fm-figure', (els) =>
      els.map((el) => {
        const svg = el.querySelector('.main-svg');
        const box = el.getBoundingClientRect();
        // A drawn plot has a plot area (cartesian 'bglayer'/'plot' or heatmap image) with size.
        const area = el.querySelector('.plot, .bglayer, .heatmaplayer, .barlayer, .scatterlayer, .gl-container');
        const traces = el.querySelectorAll('.trace, image, .point, .bars path, canvas').length;
        return { id: el.id, ok: Boolean(svg) && box.width > 50 && box.height > 50 && Boolean(area) && traces > 0 };
      }),
    );
    let screenshot: string | undefined;
    if (options.screenshot) {
      await page.screenshot({ path: options.screenshot, fullPage: options.fullPage ?? false });
      screenshot = options.screenshot;
    }
    return { figures, rendered: status.filter((s) => s.ok).length, failed: status.filter((s) => !s.ok).map((s) => s.id), consoleErrors, screenshot };
  } finally {
    await browser.close();
  }
}
