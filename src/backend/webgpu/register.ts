// Registers the webgpu backend. Nothing GPU-related loads until initBackend('webgpu'):
// the device (and in Node the optional `webgpu` package) is acquired by the factory.

import { registerBackend } from '../registry.js';
import { createWebGpuBackend, type WebGpuOptions } from './index.js';

registerBackend('webgpu', (opts) => createWebGpuBackend(opts as WebGpuOptions));
