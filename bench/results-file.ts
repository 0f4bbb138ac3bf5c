// Where a bench writes its dated JSON: bench/results/<name>-<date>.json, or <date>b, <date>c, …
// when a run that day already wrote one, so that a second run never overwrites the first.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function resultsFile(dir: string, name: string, date = new Date().toISOString().slice(0, 10)): string {
  for (let i = 0; ; i++) {
    const suffix = i === 0 ? '' : i < 26 ? String.fromCharCode(97 + i) : `-${i}`;
    const file = join(dir, `${name}-${date}${suffix}.json`);
    if (!existsSync(file)) return file;
  }
}
