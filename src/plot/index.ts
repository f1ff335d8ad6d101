/** Figures: plotly builders and notebook display. */
export { barFigure, imageFigure, keypointColors, keypointTracesFigure, type ImageMarkers, type TracesLike } from './figures';
export { figureHtml, loadPlotly, plotlyBundle, plotlyScriptTag, showFigure, type Figure } from './notebook';
export { cortexMapFigure, clusterMapFigure, varianceMapFigure, spreadVeFigure, sortedRasterFigure, type CortexMapOptions, type SpreadVeOptions, type RasterFigureOptions } from './clusters';
