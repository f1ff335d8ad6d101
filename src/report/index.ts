/** The HTML report: sections from any output folder, rendering check in headless Chromium. */
export { renderReport, tableHtml, type ReportBlock, type ReportPage, type ReportSection } from './html';
export { buildReport, tracesFigure, REPORT_COLLECTORS, type BuildReportOptions, type ReportCollector, type ReportFiles } from './build';
export { checkReportRendering, findChromium, type RenderCheck } from './browser';
