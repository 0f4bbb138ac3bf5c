// A small argument parser: `--key value`, `--key=value`, boolean `--flag`, positionals.
// Options are declared, so a typo is an error naming the option, not silently ignored.

import { ArgumentError } from '../errors.js';

export interface OptionSpec {
  /** 'string': needs a value; 'boolean': a flag; 'optional': a flag that may take a value. */
  type: 'string' | 'boolean' | 'optional';
  multiple?: boolean;
}

export interface Parsed {
  positionals: string[];
  values: Map<string, string | true | string[]>;
}

/** `resnest <command> --help`: not an error; main prints the command's usage and these options. */
export class HelpRequest {
  constructor(readonly options: string[]) {}
}

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): Parsed {
  if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequest(Object.keys(spec).map((k) => `--${k}`));
  const values = new Map<string, string | true | string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const key = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[key];
    if (!s) {
      const known = Object.keys(spec).map((k) => `--${k}`).join(', ');
      throw new ArgumentError(`unknown option --${key} (options: ${known})`);
    }
    let value: string | true;
    if (eq >= 0) {
      if (s.type === 'boolean') throw new ArgumentError(`--${key} takes no value`);
      value = arg.slice(eq + 1);
    } else if (s.type === 'boolean') {
      value = true;
    } else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        value = next;
        i++;
      } else if (s.type === 'optional') {
        value = true;
      } else {
        throw new ArgumentError(`--${key} needs a value`);
      }
    }
    if (s.multiple) {
      const list = (values.get(key) as string[] | undefined) ?? [];
      list.push(String(value));
      values.set(key, list);
    } else {
      values.set(key, value);
    }
  }
  return { positionals, values };
}

export function str(p: Parsed, key: string): string | undefined {
  const v = p.values.get(key);
  return typeof v === 'string' ? v : undefined;
}

export function required(p: Parsed, key: string, command: string): string {
  const v = str(p, key);
  if (v === undefined) throw new ArgumentError(`${command}: --${key} is required`);
  return v;
}

export function int(p: Parsed, key: string, min = 1): number | undefined {
  const v = str(p, key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ArgumentError(`--${key} must be an integer ≥ ${min}, got '${v}'`);
  return n;
}

/** A number option ≥ min, or dflt when absent. */
export function num(p: Parsed, key: string, dflt: number, min = 0): number {
  const v = str(p, key);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new ArgumentError(`--${key} must be a number ≥ ${min}, got '${v}'`);
  return n;
}

export function flag(p: Parsed, key: string): boolean {
  return p.values.has(key);
}
