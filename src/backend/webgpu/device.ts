/// <reference types="@webgpu/types" />
// Finding a WebGPU device: navigator.gpu where the platform has one (browsers, Deno),
// otherwise the optional `webgpu` npm package (Dawn) in Node, loaded only now, so that the
// library entry point never depends on it.

import { BackendError } from '../../errors.js';

export interface DeviceOptions {
  powerPreference?: 'high-performance' | 'low-power';
  /**
   * Kernel family: 'tiled' (workgroup-memory tiles, for GPUs) or 'direct' (no barriers,
   * for CPU adapters such as SwiftShader and lavapipe); default: chosen from the adapter.
   */
  kernels?: 'auto' | 'tiled' | 'direct';
  /**
   * Store float tensors as f16 (half the memory and bandwidth; every kernel still computes
   * and accumulates in f32). Needs the adapter's `shader-f16` feature: without it creating
   * the backend throws. Off by default: see the README for its measured parity.
   */
  f16?: boolean;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapterName: string;
  /** Kept alive with the device: Dawn's instance dies when this is collected. */
  gpu: GPU;
  /** A software adapter running on the CPU. */
  isCpu: boolean;
  /** Float tensors are stored as f16 (the device has shader-f16). */
  f16: boolean;
}

async function findGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  // A computed specifier keeps bundlers for the browser from trying to resolve this
  // Node-only native package; browsers never get here.
  const pkg = 'webgpu';
  let mod: { create(flags: string[]): GPU };
  try {
    mod = (await import(pkg)) as { create(flags: string[]): GPU };
  } catch (e) {
    throw new BackendError(`WebGPU is not available: no navigator.gpu, and the optional 'webgpu' package did not load (${(e as Error).message.split('\n')[0]})`);
  }
  return mod.create([]);
}

function isCpuAdapter(adapter: GPUAdapter): boolean {
  const info = (adapter as { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
  if ((adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter || info?.isFallbackAdapter) return true;
  const text = info ? [info.vendor, info.architecture, info.device, info.description].join(' ') : '';
  return /swiftshader|llvmpipe|lavapipe|software rasterizer/i.test(text);
}

function describe(adapter: GPUAdapter): string {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  if (!info) return 'unknown adapter';
  return [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' ') || 'unknown adapter';
}

export async function acquireDevice(opts: DeviceOptions): Promise<AcquiredDevice> {
  const gpu = await findGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new BackendError('no WebGPU adapter found (no GPU or Vulkan driver visible; for a software adapter see the README\'s WebGPU section)');
  }
  const f16 = opts.f16 === true;
  if (f16 && !adapter.features.has('shader-f16')) {
    throw new BackendError(`webgpu: f16 storage needs the adapter feature 'shader-f16', which ${describe(adapter)} lacks (create the backend without f16, or use an adapter that has it)`);
  }
  const l = adapter.limits;
  // The defaults (128 MiB bindings, 256 MiB buffers) are far below what most adapters
  // allow; activations of a batch-32 ResNeSt-50 need more.
  const device = await adapter.requestDevice({
    ...(f16 ? { requiredFeatures: ['shader-f16' as GPUFeatureName] } : {}),
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    },
  });
  return { device, adapterName: describe(adapter), gpu, isCpu: isCpuAdapter(adapter), f16 };
}
