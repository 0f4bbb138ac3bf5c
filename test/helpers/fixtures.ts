// Reading the committed parity fixtures and comparing against them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { toFloat32 } from '../../src/io/raw.js';
import type { Manifest } from './compare.js';

export const FIXTURES = join(process.cwd(), 'test', 'fixtures');

export { relErr, resnetOptions, TOLERANCE, type Manifest, type NetworkFixture } from './compare.js';

export function manifest(): Manifest {
  return JSON.parse(readFileSync(join(FIXTURES, 'parity', 'manifest.json'), 'utf8')) as Manifest;
}

export function expected(name: string): Map<string, Float32Array> {
  const file = join(FIXTURES, 'parity', `${name}.safetensors`);
  const sd = loadSafetensors(new Uint8Array(readFileSync(file)), file);
  return new Map([...sd].map(([k, t]) => [k, toFloat32(t, k)]));
}
