// The explorer's style sheet, added to the page by the explorer itself: the page's
// style.css stays the shared sheet of every section, and the explorer's rules stay with its
// code. The split colours are those of `resnest explain`'s charts.

import { SPLIT_COLOURS } from '../../src/viz/charts.js';

const splitRules = SPLIT_COLOURS.map((c, r) => `.s${r} { --split: ${c}; }`).join('\n');

export const EXPLORER_CSS = `
${splitRules}
#net-strip .strip { list-style: none; display: flex; flex-wrap: wrap; gap: 0.4rem; padding: 0; margin: 0.5rem 0; }
#net-strip .stage { border: 1px solid #ccc; border-radius: 6px; padding: 0.25rem 0.4rem; background: #fafafa; }
#net-strip .stage-name { display: block; font-size: 0.75rem; color: #555; font-weight: 600; }
#net-strip ul { list-style: none; display: flex; flex-wrap: wrap; gap: 0.3rem; padding: 0; margin: 0.15rem 0 0; }
#net-strip .block, #net-strip .part { display: inline-flex; flex-direction: column; align-items: center; font-size: 0.85rem; padding: 0.2rem 0.45rem; }
#net-strip .part { color: #666; border: 1px dashed #bbb; border-radius: 4px; }
#net-strip .shape { font-size: 0.7rem; }
#net-strip .block[aria-pressed="true"] .shape { color: #fff; }
#explorer .flow { list-style: none; display: flex; flex-wrap: wrap; align-items: stretch; gap: 0.4rem 0; padding: 0; margin: 0.75rem 0; }
#explorer .flow > li { display: flex; align-items: center; }
#explorer .node { width: 10.5rem; border: 1px solid #bbb; border-radius: 6px; padding: 0.3rem; background: #fff; align-self: stretch; display: flex; flex-direction: column; }
#explorer .node-open { width: 100%; font-weight: 600; padding: 0.2rem; }
#explorer .node-open[aria-expanded="true"] { background: var(--accent); color: #fff; }
#explorer .node-view { margin-top: 0.3rem; min-height: 3rem; }
#explorer .node-view[data-slider], #explorer .cmp-view { cursor: crosshair; touch-action: pan-y; }
#explorer [data-slider]:focus-visible, #explorer .stepper:focus-visible, #node-detail:focus-visible { outline: 3px solid #e69f00; outline-offset: 2px; }
#explorer .formula { font-size: 0.75rem; color: #444; margin: 0.3rem 0 0; }
#explorer .note { font-size: 0.8rem; margin: 0.2rem 0 0; }
#explorer .thumbs { display: flex; flex-wrap: wrap; gap: 0.3rem; justify-content: center; }
#explorer .thumbs figure { margin: 0; text-align: center; font-size: 0.75rem; overflow: visible; }
#explorer .thumbs figure.split { border-top: 4px solid var(--split); }
#explorer .thumb { width: 4rem; height: 4rem; image-rendering: pixelated; display: block; border: 1px solid #ccc; }
#explorer svg.bars { display: block; width: 100%; height: 3rem; background: #f7f7f7; }
#explorer .edge { display: flex; flex-direction: column; align-items: center; width: 4.5rem; font-size: 0.7rem; text-align: center; }
#explorer .edge .arrow::before { content: "→"; font-size: 1.3rem; line-height: 1; color: #666; }
#explorer .panel { border: 1px solid #ddd; border-radius: 6px; padding: 0.5rem 0.75rem; margin: 0.75rem 0; overflow-x: auto; }
#explorer .panel h3 { margin: 0.2rem 0 0.4rem; }
#explorer .hint { color: #555; font-size: 0.9rem; margin: 0.2rem 0; }
#explorer .explorer-row { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.6fr); gap: 0 1rem; }
#explorer .swatch { display: inline-block; width: 0.7em; height: 0.7em; background: var(--split); margin-right: 0.25em; }
#explorer .hl, #explorer tr.hl > * { background: #fde7b0; }
#explorer table { font-size: 0.85rem; }
#explorer th, #explorer td { padding: 0.15rem 0.4rem; }
#explorer caption { text-align: left; font-size: 0.8rem; color: #555; }
#explorer .order { display: flex; flex-wrap: wrap; gap: 0.2rem; font-family: monospace; font-size: 0.8rem; margin: 0.3rem 0; }
#explorer .order .block { border: 2px solid var(--split); border-radius: 3px; padding: 0 0.25rem; color: #555; }
#explorer .order .block.mine { background: var(--split); color: #fff; }
#explorer #channel { width: 4.5rem; }
#explorer .cmp-charts { display: grid; grid-template-columns: 1fr 1fr; gap: 0.75rem; }
#explorer .cmp-chart { margin: 0.3rem 0; }
#explorer .cmp-chart svg.bars { height: 4.5rem; }
#node-detail figure svg { max-width: 100%; height: auto; }
@media (max-width: 900px) { #explorer .explorer-row { grid-template-columns: minmax(0, 1fr); } }
@media (max-width: 600px) {
  #explorer .flow { flex-direction: column; align-items: stretch; }
  #explorer .flow > li { flex-direction: column; align-items: stretch; }
  #explorer .node { width: auto; }
  #explorer .edge { width: auto; flex-direction: row; justify-content: center; gap: 0.4rem; padding: 0.15rem 0; }
  #explorer .edge .arrow::before { content: "↓"; }
  #explorer .cmp-charts { grid-template-columns: minmax(0, 1fr); }
  #explorer .panel { padding: 0.4rem; }
}
`;
