// The recipe's parameter groups (recipe.param_groups): BatchNorm weights and every bias get
// no weight decay; decayed parameters first, then the others, each in named_parameters()
// order — the layout a torch.optim.SGD state_dict of the seed's model has.

import type { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/layers.js';
import type { ParamGroup } from './optim.js';

export function paramGroups(model: Module, weightDecay = 1e-4, noBiasDecay = true): ParamGroup[] {
  const all = [...model.namedParameters()];
  if (!noBiasDecay) return [{ params: all.map(([, t]) => t), weightDecay }];
  const bnWeights = new Set([...model.namedModules()].filter(([, m]) => m instanceof BatchNorm2d).map(([, m]) => (m as BatchNorm2d).weight));
  const decay = all.filter(([name, t]) => !name.endsWith('.bias') && !bnWeights.has(t)).map(([, t]) => t);
  const noDecay = all.filter(([name, t]) => name.endsWith('.bias') || bnWeights.has(t)).map(([, t]) => t);
  return [{ params: decay, weightDecay }, { params: noDecay, weightDecay: 0 }];
}
