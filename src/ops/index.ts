// The functional API (like torch.nn.functional): every op, defined once over the Backend interface.

export { add, sub, mul, div, sum, relu, sigmoid, exp, neg, sqrt, rsqrt, addScalar, mulScalar, dropout } from './elementwise.js';
export { conv2d, conv2dGeometry, type Conv2dOptions, type IntOrPair } from './conv.js';
export { batchNorm } from './norm.js';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d, type Pool2dOptions } from './pool.js';
export { softmax, rSoftmax } from './softmax.js';
export { linear } from './linear.js';
export { radixGap, radixAttend } from './splat.js';
export { cat } from './concat.js';
