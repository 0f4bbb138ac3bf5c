// The functional API (like torch.nn.functional): every op, defined once (src/ops/op.ts).

export { add, sub, mul, div, addN, relu, sigmoid, activate, exp, neg, sqrt, rsqrt, addScalar, mulScalar } from './elementwise.js';
export { sum, mean, expand, sumTo } from './reduce.js';
export { conv2d, rfConv2d, conv2dGeometry, type Conv2dOptions, type IntOrPair } from './conv.js';
export { rectifyFactor, type RectifyMode } from './rectify.js';
export { batchNorm, type BatchNormOptions } from './norm.js';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d, pool2dGeometry, type Pool2dOptions } from './pool.js';
export { softmax, logSoftmax, rSoftmax } from './softmax.js';
export { interpolate, resizeGeometry, type InterpolateOptions } from './interpolate.js';
export { linear } from './linear.js';
export { radixGap, radixAttend } from './splat.js';
export { cat } from './concat.js';
export { crossEntropy, softCrossEntropy, smoothTargets, dropout, type CrossEntropyOptions } from './loss.js';
