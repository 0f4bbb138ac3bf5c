// resnest-ts: ResNeSt split-attention networks with PyTorch parity. This entry point has no
// runtime dependencies and runs in Node, Deno and browsers; Node-only helpers (files, the
// weights cache, the CLI) live in 'resnest-ts/node'.

import './backend/js/index.js';
import './backend/webgpu/register.js';
import './backend/wasm/index.js';

export * from './errors.js';
export type { Backend, BackendOptions, DType, Activation, KernelGraph } from './backend/backend.js';
export { registerBackend, initBackend, setBackend, getBackend, backendNames, defaultBackendName, ready } from './backend/registry.js';
export { metaBackend } from './backend/meta.js';
export { Tensor, tensor, zeros, full } from './tensor/tensor.js';
export { tidy, keep } from './tensor/scope.js';
export * as F from './ops/index.js';
export { Module, type ForwardHook, type LoadResult } from './nn/module.js';
export { InferenceGraph } from './nn/graph.js';
export {
  Conv2d, RFConv2d, BatchNorm2d, ReLU, Linear, AvgPool2d, MaxPool2d, Dropout, GlobalAvgPool2d, Sequential, foldBatchNorm, convBn,
} from './nn/layers.js';
export { SplAtConv2d, rSoftMax } from './models/resnest/splat.js';
export { Bottleneck, ResNet, FEATURE_NAMES, type ResNetOptions, type ResNetFeatures } from './models/resnest/resnet.js';
export * from './models/resnest/zoo.js';
export type { RawTensor, RawDType, StateDict } from './io/raw.js';
export { loadCheckpoint } from './io/checkpoint.js';
export { loadTorch } from './io/torch.js';
export { saveTorch } from './io/torch-save.js';
export { loadSafetensors, saveSafetensors } from './io/safetensors.js';
export { readNpy, writeNpy } from './io/npy.js';
export { toFloat32 } from './io/raw.js';
export { decodePng } from './io/image/png.js';
export { preprocess, resizeBilinear, IMAGENET_MEAN, IMAGENET_STD, type Image8 } from './io/image/preprocess.js';
export { IMAGENET_CLASSES } from './data/imagenet-classes.js';
export { exportOnnx, traceOnnx, encodeModel, type OnnxExportOptions } from './export/onnx.js';
export { noGrad, enableGrad, isGradEnabled, GradNode } from './autograd/tape.js';
export { SGD, AdamW, type ParamGroup, type OptimizerState, type SgdOptions, type AdamWOptions } from './train/optim.js';
export { paramGroups } from './train/param-groups.js';
export { lrAt, scaledLr, dropBlockProbAt } from './train/schedule.js';
export { DropBlock2D, dropBlockMask, setDropBlockProb } from './nn/dropblock.js';
export { trainStep, trainArrays, type TrainOptions, type TrainResult, type StepInfo } from './train/trainer.js';
export { archFromConfig } from './models/resnest/zoo.js';
export { explainBlock, splitAttentionBlocks, traceJson, type SplitAttentionTrace } from './models/resnest/explain.js';
export { profileModel, groupProfile, type Profile, type ProfileRow } from './nn/profile.js';
