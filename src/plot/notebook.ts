/**
 * Plotly figures in Jupyter (tslab kernel) and in standalone HTML.
 *
 * plotly.js is loaded into the page once per notebook (`loadPlotly()`, from the npm package, no
 * network) and every figure is a small div plus a `Plotly.newPlot` call. Inlining the library into
 * every figure made notebooks of tens of megabytes. Works in the classic Notebook (which runs
 * scripts in HTML output and has RequireJS: the bundle is evaluated with `define` hidden so it
 * sets `window.Plotly`) and in trusted JupyterLab/VS Code outputs.
 */
import * as fs from 'node:fs';
import { EngineError } from '../errors';

/** A plotly figure: data traces, layout and config as plotly.js takes them. */
export interface Figure {
  data: object[];
  layout?: object;
  config?: object;
}

let plotlyCache: string | undefined;
let figureCounter = 0;

/** The minified plotly.js bundle shipped in node_modules (about 4.8 MB). */
export function plotlyBundle(): string {
  if (plotlyCache === undefined) {
    const file = require.resolve('plotly.js-dist-min');
    plotlyCache = fs.readFileSync(file, 'utf8');
  }
  return plotlyCache;
}

/** A script tag that defines `window.Plotly` whether or not RequireJS is on the page. */
export function plotlyScriptTag(): string {
  const safe = plotlyBundle().replace(/<\/script/gi, '<\\/script');
  return `<script type="text/javascript">(function(){var define=undefined,module=undefined,exports=undefined;\n${safe}\n}).call(window);</script>`;
}

/**
 * HTML for one figure: a div and a script that draws it once plotly.js is on the page (it waits
 * for `loadPlotly()` output rendered earlier).
 */
export function figureHtml(fig: Figure, options: { height?: number } = {}): string {
  figureCounter += 1;
  const id = `fm-fig-${process.pid}-${Date.now().toString(36)}-${figureCounter}`;
  const height = options.height ?? 420;
  const json = JSON.stringify({ data: fig.data, layout: { height, ...(fig.layout ?? {}) }, config: { responsive: true, ...(fig.config ?? {}) } })
    .replace(/</g, '\\u003c');
  return (
    `<div id="${id}" class="fm-figure" style="width:100%;height:${height}px"></div>` +
    `<script type="text/javascript">(function(){var f=${json};var n=0;function draw(){` +
    `if(window.Plotly){window.Plotly.newPlot("${id}",f.data,f.layout,f.config);}` +
    `else if(n++<200){setTimeout(draw,50);}}draw();})();</script>`
  );
}

interface TslabDisplay {
  html(s: string): void;
}

function tslabDisplay(): TslabDisplay {
  try {
    return (require('tslab') as { display: TslabDisplay }).display;
  } catch {
    throw new EngineError('not running in a tslab Jupyter kernel: use figureHtml() to get HTML instead');
  }
}

/** Puts plotly.js into the notebook page; call once per notebook, before the first figure. */
export function loadPlotly(): void {
  tslabDisplay().html(plotlyScriptTag());
}

/** Shows a figure in the current notebook cell. */
export function showFigure(fig: Figure, options: { height?: number } = {}): void {
  tslabDisplay().html(figureHtml(fig, options));
}
