// Training checkpoints in the layout PyTorch code reads directly:
//   {"model": state dict, "optimizer": torch.optim.SGD state_dict, "epoch", "step", "args"}
// "epoch" is the 0-based epoch to continue in and "step" the number of optimizer steps done
// (so a run stopped mid-epoch continues at step − epoch · steps_per_epoch of that epoch);
// "args" are the run's settings. The optimizer's parameter indices follow recipe.param_groups
// (decayed parameters in named_parameters() order, then the no-decay ones), so
// torch.optim.SGD(recipe.param_groups(model)).load_state_dict(ckpt["optimizer"]) continues with
// the same momentum. Every random draw of a run is a function of (seed, step), so the seed in
// "args" is the whole RNG state.

import { FormatError } from '../errors.js';
import { loadTorchObject } from '../io/torch.js';
import { saveTorchObject, type PyValue } from '../io/torch-save.js';
import { isRawTensor, type RawTensor, type StateDict } from '../io/raw.js';
import type { Module } from '../nn/module.js';
import type { AdamW, OptimizerState, SGD } from './optim.js';

export interface TrainingCheckpoint {
  model: StateDict;
  optimizer: OptimizerState;
  epoch: number;
  step: number;
  args: Record<string, PyValue>;
}

export async function checkpointBytes(model: Module, opt: SGD | AdamW, at: { epoch: number; step: number }, args: Record<string, PyValue>): Promise<Uint8Array> {
  const sd = await opt.exportStateDict();
  const optimizer = new Map<string, PyValue>([
    ['state', new Map([...sd.state].map(([i, s]) => [i, s as unknown as PyValue]))],
    ['param_groups', sd.param_groups as PyValue[]],
  ]);
  return saveTorchObject({ model: await model.exportStateDict(), optimizer, epoch: at.epoch, step: at.step, args });
}

const isMap = (v: unknown): v is Map<unknown, unknown> => v instanceof Map;

/** Reads a checkpoint written by checkpointBytes or by scripts/train_ddp.py; every field is checked. */
export function readCheckpoint(bytes: Uint8Array, file: string): TrainingCheckpoint {
  const fail = (m: string): never => {
    throw new FormatError(`training checkpoint: ${m}`, file);
  };
  // The whole file is in memory anyway: checking every record's CRC-32 costs one pass.
  const root = loadTorchObject(bytes, file, { verifyCrc: true });
  if (!isMap(root)) return fail('not a dict');
  for (const k of ['model', 'optimizer', 'epoch', 'step']) if (!root.has(k)) fail(`no '${k}' entry (has ${[...root.keys()].map(String).join(', ')})`);
  const model = root.get('model');
  if (!isMap(model) || ![...model.values()].every(isRawTensor)) return fail("'model' is not a state dict of tensors");
  const opt = root.get('optimizer');
  if (!isMap(opt) || !isMap(opt.get('state')) || !Array.isArray(opt.get('param_groups'))) return fail("'optimizer' is not a torch.optim state_dict (state, param_groups)");
  const state = new Map<number, Record<string, RawTensor>>();
  for (const [k, v] of opt.get('state') as Map<unknown, unknown>) {
    if (typeof k !== 'number' || !isMap(v)) return fail(`optimizer state ${String(k)} is not a parameter index with a dict`);
    const entry: Record<string, RawTensor> = {};
    for (const [name, t] of v) {
      if (t === null) continue; // torch writes momentum_buffer None for parameters that never had a gradient
      if (typeof name !== 'string' || !isRawTensor(t)) return fail(`optimizer state ${k}.${String(name)} is not a tensor`);
      entry[name] = t;
    }
    state.set(k, entry);
  }
  const groups = (opt.get('param_groups') as unknown[]).map((g, i) => {
    if (!isMap(g) || !Array.isArray(g.get('params'))) return fail(`optimizer param_groups[${i}] has no params list`);
    return Object.fromEntries([...g].map(([k, v]) => [String(k), v])) as Record<string, never>;
  });
  const int = (k: string) => {
    const v = root.get(k);
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : fail(`'${k}' must be a non-negative integer, got ${String(v)}`);
  };
  const args = root.get('args');
  return {
    model: model as StateDict, optimizer: { state, param_groups: groups }, epoch: int('epoch'), step: int('step'),
    args: isMap(args) ? Object.fromEntries([...args].map(([k, v]) => [String(k), v as PyValue])) : {},
  };
}
