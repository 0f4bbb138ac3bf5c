// The step-through as an explorer: the network strip, the chosen block's data-flow graph,
// one channel followed through every node (pointer or arrow keys), r-softmax stepped
// through for that channel's group, the detail of any node (the walk-through's figure and
// formula), and a second image compared. This file only wires the DOM; what is drawn comes
// from the pure modules beside it.

import type { SplitAttentionTrace } from '../../src/models/resnest/explain.js';
import { explainFigures, explainSections } from '../../src/viz/explain-report.js';
import { channelAt } from './bars.js';
import { channelPanelHtml } from './channel-panel.js';
import { firstChannel, perGroup } from './channels.js';
import { compareHtml } from './compare.js';
import { flowContext, flowHtml, flowNodes, sliderText, type FlowContext, type FlowNode } from './flow.js';
import { stripHtml, type StripStage } from './network.js';
import { rSoftmaxSteps, type RStep } from './rsoftmax-steps.js';
import { esc } from './numbers.js';
import { EXPLORER_CSS } from './styles.js';

export interface ExplorerHost {
  /** Example image file names, for the comparison. */
  examples: readonly string[];
  /** `block` explained for example image `name` with the current model. */
  traceFor(name: string, block: string): Promise<SplitAttentionTrace>;
  /** A block picked in the strip: the page explains it and calls show() again. */
  chooseBlock(block: string): void;
  /** Errors of the explorer's own work (the comparison), for the page's status line. */
  report(e: unknown): void;
}

const SKELETON = `
<ol id="flow" class="flow" aria-label="The block's data flow: each node shows its tensor; open one for its figure and formula"></ol>
<section id="node-detail" class="panel" tabindex="-1" aria-live="polite" aria-label="The node's detail"><p class="hint">Open a node of the graph (click it, or Tab to it and press Enter) for its figure and formula.</p></section>
<div class="explorer-row">
  <section id="channel-panel" class="panel" aria-labelledby="channel-h">
    <h3 id="channel-h">The channel you point at</h3>
    <p class="hint">Point at a bar in GAP, fc2 or the attention (or focus one and use the arrow keys): every node follows that channel.</p>
    <div class="row"><button type="button" id="channel-prev" aria-label="Previous channel">◀</button>
    <label>Channel <input id="channel" type="number" min="0" step="1" inputmode="numeric"></label>
    <button type="button" id="channel-next" aria-label="Next channel">▶</button></div>
    <div id="channel-readout" aria-live="polite"></div>
  </section>
  <section id="rsoftmax" class="panel" aria-labelledby="rsoftmax-h">
    <h3 id="rsoftmax-h">r-softmax, step by step</h3>
    <div id="rsoftmax-stepper" class="stepper" tabindex="0" role="group" aria-roledescription="stepper" aria-label="r-softmax steps: left and right arrow keys step back and on">
      <div class="row"><button type="button" id="rsoftmax-back">◀ Back</button><span id="rsoftmax-count" aria-live="polite"></span><button type="button" id="rsoftmax-next">Next ▶</button></div>
      <h4 id="rsoftmax-title"></h4><p id="rsoftmax-shape" class="shape"></p><div id="rsoftmax-body"></div>
    </div>
  </section>
</div>
<section id="compare" class="panel" aria-labelledby="compare-h">
  <h3 id="compare-h">Compare two images</h3>
  <div class="row"><label>Second image <select id="compare-with"></select></label><button type="button" id="compare-run">Compare</button></div>
  <div id="compare-out" aria-live="polite"></div>
</section>`;

export class Explorer {
  private trace: SplitAttentionTrace | null = null;
  private ctx: FlowContext | null = null;
  private nodes: FlowNode[] = [];
  private sections: string[] = [];
  private channel = 0;
  private step = 0;
  private steps: RStep[] = [];
  private open: string | null = null;
  private imageName = '';
  private other: { name: string; trace: SplitAttentionTrace } | null = null;

  constructor(private readonly strip: HTMLElement, private readonly root: HTMLElement, private readonly document_: HTMLElement, private readonly host: ExplorerHost) {
    if (!document.getElementById('explorer-css')) {
      const style = document.createElement('style');
      style.id = 'explorer-css';
      style.textContent = EXPLORER_CSS;
      document.head.append(style);
    }
    root.innerHTML = SKELETON;
    this.wire();
  }

  private el<T extends HTMLElement = HTMLElement>(id: string): T {
    return this.root.querySelector<T>(`#${id}`)!;
  }

  /** A new trace (another image, block or model): redraw everything, keeping the channel where it still exists. */
  async show(t: SplitAttentionTrace, stages: readonly StripStage[], shapes: ReadonlyMap<string, number[]>, imageName: string): Promise<void> {
    const sameBlock = this.trace?.block === t.block && this.trace.channels === t.channels;
    this.trace = t;
    this.imageName = imageName;
    this.ctx = flowContext(t);
    this.nodes = flowNodes(t);
    const stripFocused = this.strip.contains(document.activeElement);
    this.strip.innerHTML = `<ol class="strip">${stripHtml(stages, shapes, t.block)}</ol>`;
    if (stripFocused) this.strip.querySelector<HTMLElement>(`button[data-block="${t.block}"]`)?.focus();
    const figures = explainFigures(t);
    const all = explainSections(t, (name) => figures.get(name)!, { embedded: true });
    this.document_.innerHTML = all;
    this.sections = all.match(/<section>[\s\S]*?<\/section>/g) ?? [];
    this.el('flow').innerHTML = flowHtml(this.nodes, t);
    this.el('rsoftmax-h').textContent = t.radix > 1 ? 'r-softmax, step by step' : 'The sigmoid gate, step by step (radix 1)';
    this.el<HTMLInputElement>('channel').max = String(t.channels - 1);
    const pick = this.el<HTMLSelectElement>('compare-with');
    const keep = this.other?.name ?? pick.value;
    const others = this.host.examples.filter((e) => e !== imageName);
    pick.innerHTML = others.map((e) => `<option${e === keep ? ' selected' : ''}>${esc(e)}</option>`).join('');
    this.root.dataset.block = t.block;
    this.root.dataset.image = imageName;
    this.root.hidden = false;
    this.setChannel(sameBlock && this.channel < t.channels ? this.channel : firstChannel(t));
    if (this.open) this.openNode(this.open, false);
    if (this.other) {
      // The comparison follows the block (and the first image).
      const name = others.includes(this.other.name) ? this.other.name : others[0]!;
      this.other = null;
      await this.compare(name);
    } else {
      this.el('compare-out').innerHTML = '';
    }
  }

  /** Points every view at channel c. */
  setChannel(c: number): void {
    const t = this.trace!;
    c = Math.min(Math.max(Math.round(c), 0), t.channels - 1);
    const changed = c !== this.channel || !this.root.dataset.channel;
    this.channel = c;
    this.root.dataset.channel = String(c);
    for (const n of this.nodes) {
      const view = this.root.querySelector<HTMLElement>(`[data-node="${n.id}"] .node-view`)!;
      view.innerHTML = n.view(this.ctx!, c);
      if (n.channelled) {
        view.setAttribute('aria-valuenow', String(c));
        view.setAttribute('aria-valuetext', sliderText(n, t, c));
      }
    }
    this.el('channel-readout').innerHTML = channelPanelHtml(t, c);
    this.el<HTMLInputElement>('channel').value = String(c);
    // Fewer columns where a phone has room for fewer.
    this.steps = rSoftmaxSteps(t, c, window.matchMedia('(max-width: 600px)').matches ? 4 : 6);
    this.showStep(Math.min(this.step, this.steps.length - 1));
    if (changed && this.other) this.drawComparison();
  }

  private showStep(i: number): void {
    this.step = Math.min(Math.max(i, 0), this.steps.length - 1);
    const s = this.steps[this.step]!;
    this.el('rsoftmax-count').textContent = `step ${this.step + 1} of ${this.steps.length}`;
    this.el('rsoftmax-title').textContent = s.title;
    this.el('rsoftmax-shape').textContent = `shape ${s.shape}`;
    this.el('rsoftmax-body').innerHTML = s.html;
    const stepper = this.el('rsoftmax-stepper');
    stepper.dataset.step = String(this.step);
    this.el<HTMLButtonElement>('rsoftmax-back').disabled = this.step === 0;
    this.el<HTMLButtonElement>('rsoftmax-next').disabled = this.step === this.steps.length - 1;
  }

  private openNode(id: string, announce = true): void {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) return;
    this.open = id;
    for (const b of Array.from(this.root.querySelectorAll<HTMLButtonElement>('.node-open'))) {
      b.setAttribute('aria-expanded', String(b.closest<HTMLElement>('.node')!.dataset.node === id));
    }
    const section = (this.sections[n.section] ?? '').replace(/<(\/?)h3>/g, '<$1h4>');
    const detail = this.el('node-detail');
    detail.dataset.node = id;
    detail.innerHTML = `<h3>${esc(n.label)}</h3><p class="formula">${n.formula}</p>${section}`;
    if (announce) detail.scrollIntoView({ block: 'nearest' });
  }

  private async compare(name: string): Promise<void> {
    const t = this.trace!;
    this.el('compare-out').innerHTML = `<p>running ${esc(name)} through ${esc(t.block)}…</p>`;
    const other = await this.host.traceFor(name, t.block);
    if (this.trace !== t) return; // another block or image came first
    this.other = { name, trace: other };
    this.drawComparison();
  }

  private drawComparison(): void {
    const out = this.el('compare-out');
    const focused = Array.from(out.querySelectorAll('[data-slider]')).indexOf(document.activeElement!);
    out.innerHTML = compareHtml(this.trace!, this.other!.trace, [this.imageName, this.other!.name], this.channel);
    out.dataset.images = `${this.imageName} ${this.other!.name}`;
    if (focused >= 0) out.querySelectorAll<HTMLElement>('[data-slider]')[focused]?.focus();
  }

  private wire(): void {
    const pointAt = (ev: PointerEvent) => {
      const slider = (ev.target as Element).closest<HTMLElement>('[data-slider]');
      if (!slider || !this.trace) return;
      const box = slider.getBoundingClientRect();
      this.setChannel(channelAt((ev.clientX - box.left) / box.width, this.trace.channels, this.trace.cardinality));
    };
    this.root.addEventListener('pointermove', pointAt);
    this.root.addEventListener('pointerdown', pointAt);
    this.root.addEventListener('keydown', (ev) => {
      const t = this.trace;
      const target = ev.target as HTMLElement;
      if (!t) return;
      if (target.matches('[data-slider]')) {
        const moves: Record<string, number> = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: perGroup(t), PageDown: -perGroup(t), Home: -t.channels, End: t.channels };
        if (ev.key in moves) {
          ev.preventDefault();
          this.setChannel(this.channel + moves[ev.key]!);
        }
      } else if (target.closest('#rsoftmax-stepper') && !target.matches('input, select')) {
        const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, Home: -this.steps.length, End: this.steps.length };
        if (ev.key in moves) {
          ev.preventDefault();
          this.showStep(this.step + moves[ev.key]!);
        }
      }
    });
    this.root.addEventListener('click', (ev) => {
      const open = (ev.target as Element).closest<HTMLElement>('.node-open');
      if (open) this.openNode(open.closest<HTMLElement>('.node')!.dataset.node!);
    });
    this.el('rsoftmax-back').onclick = () => this.showStep(this.step - 1);
    this.el('rsoftmax-next').onclick = () => this.showStep(this.step + 1);
    this.el('channel-prev').onclick = () => this.setChannel(this.channel - 1);
    this.el('channel-next').onclick = () => this.setChannel(this.channel + 1);
    this.el<HTMLInputElement>('channel').onchange = (ev) => this.setChannel(Number((ev.target as HTMLInputElement).value));
    this.el('compare-run').onclick = () => {
      this.compare(this.el<HTMLSelectElement>('compare-with').value).catch((e) => this.host.report(e));
    };
    this.strip.addEventListener('click', (ev) => {
      const b = (ev.target as Element).closest<HTMLButtonElement>('button[data-block]');
      if (b && b.getAttribute('aria-pressed') !== 'true') this.host.chooseBlock(b.dataset.block!);
    });
    // Arrow keys walk the strip's blocks (Tab reaches each as well).
    this.strip.addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
      const buttons = Array.from(this.strip.querySelectorAll<HTMLButtonElement>('button[data-block]'));
      const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
      if (i < 0) return;
      ev.preventDefault();
      buttons[Math.min(Math.max(i + (ev.key === 'ArrowRight' ? 1 : -1), 0), buttons.length - 1)]!.focus();
    });
  }
}
