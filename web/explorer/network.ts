// The whole network as a strip — stem, layer1 … layer4 block by block, the head — with the
// shape each part hands on, recorded by forward hooks during the pass that explains the
// chosen block (so the shapes are those of the image shown). Blocks with split attention are
// buttons; the chosen one is pressed.

import type { ResNet } from '../../src/models/resnest/resnet.js';
import { Bottleneck } from '../../src/models/resnest/resnet.js';
import { SplAtConv2d } from '../../src/models/resnest/splat.js';
import { esc, shapeText } from './numbers.js';

export interface StripPart {
  /** Module path: 'maxpool' stands for the stem, 'fc' for the head, 'layer2.0' a block. */
  path: string;
  label: string;
  splitAttention: boolean;
}

export interface StripStage {
  name: string;
  parts: StripPart[];
}

export function networkStages(model: ResNet): StripStage[] {
  const stages: StripStage[] = [{ name: 'stem', parts: [{ path: 'maxpool', label: 'conv · bn · relu · maxpool', splitAttention: false }] }];
  for (const [path, m] of model.namedModules()) {
    const at = /^(layer\d+)\.(\d+)$/.exec(path);
    if (!at || !(m instanceof Bottleneck)) continue;
    let stage = stages.find((s) => s.name === at[1]);
    if (!stage) stages.push(stage = { name: at[1]!, parts: [] });
    stage.parts.push({ path, label: path, splitAttention: m.conv2 instanceof SplAtConv2d });
  }
  stages.push({ name: 'head', parts: [{ path: 'fc', label: 'avgpool · fc', splitAttention: false }] });
  return stages;
}

/** Records each strip part's output shape (without the batch) until stop(). */
export function recordShapes(model: ResNet, stages: readonly StripStage[]): { shapes: Map<string, number[]>; stop: () => void } {
  const shapes = new Map<string, number[]>();
  const removers = stages.flatMap((s) => s.parts).flatMap((p) => {
    try {
      return [model.getSubmodule(p.path).registerForwardHook((_m, _x, out) => { shapes.set(p.path, out.shape.slice(1)); })];
    } catch {
      return []; // a head without fc (a backbone): no shape to show
    }
  });
  return { shapes, stop: () => removers.forEach((r) => r()) };
}

export function stripHtml(stages: readonly StripStage[], shapes: ReadonlyMap<string, number[]>, chosen: string): string {
  return stages.map((s) => `<li class="stage"><span class="stage-name">${esc(s.name)}</span><ul>${s.parts.map((p) => {
    const shape = shapes.get(p.path);
    const shapeHtml = shape ? `<span class="shape">${esc(shapeText(shape))}</span>` : '';
    return p.splitAttention
      ? `<li><button type="button" class="block" data-block="${esc(p.path)}" aria-pressed="${p.path === chosen}">${esc(p.label)}${shapeHtml}</button></li>`
      : `<li><span class="part">${esc(p.label)}${shapeHtml}</span></li>`;
  }).join('')}</ul></li>`).join('');
}
