// One error hierarchy for the whole library. Every failure a user can cause (a bad file, a
// wrong shape, an unknown name) is one of these, with a one-line message that names the
// file, key or shape at fault; anything else escaping the library is a bug.

export class ResnestError extends Error {
  /** Stable machine-readable kind, e.g. 'format', 'shape'. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A file or byte buffer is not what it claims to be (pickle, zip, safetensors, npy, image). */
export class FormatError extends ResnestError {
  readonly file: string | undefined;
  constructor(message: string, file?: string) {
    super('format', file ? `${file}: ${message}` : message);
    this.file = file;
  }
}

/** A checkpoint asked the unpickler for something outside its allow-list (e.g. os.system). */
export class UnsafeCheckpointError extends FormatError {
  readonly global: string;
  constructor(global: string, file?: string) {
    super(`refusing to load: pickle references '${global}', which is not on the allow-list of state-dict globals`, file);
    this.global = global;
  }
}

/** Declared sizes would exceed a safety bound (decompression bombs, absurd headers, huge shapes). */
export class ResourceLimitError extends ResnestError {
  constructor(message: string) {
    super('limit', message);
  }
}

/** Tensor shapes or dtypes do not fit an operation or a model. */
export class ShapeError extends ResnestError {
  constructor(message: string) {
    super('shape', message);
  }
}

/** load_state_dict found missing keys, unexpected keys or shape mismatches. */
export class StateDictError extends ResnestError {
  readonly missing: string[];
  readonly unexpected: string[];
  readonly mismatched: string[];
  constructor(missing: string[], unexpected: string[], mismatched: string[], where = 'model') {
    const parts: string[] = [];
    const list = (xs: string[]) => (xs.length > 6 ? `${xs.slice(0, 6).join(', ')}, … (${xs.length} in all)` : xs.join(', '));
    if (missing.length) parts.push(`missing keys: ${list(missing)}`);
    if (unexpected.length) parts.push(`unexpected keys: ${list(unexpected)}`);
    if (mismatched.length) parts.push(`size mismatch: ${list(mismatched)}`);
    super('state_dict', `error(s) in loading state_dict for ${where}: ${parts.join('; ')}`);
    this.missing = missing;
    this.unexpected = unexpected;
    this.mismatched = mismatched;
  }
}

/** A bad argument: unknown architecture, bad option value, bad CLI usage. */
export class ArgumentError extends ResnestError {
  constructor(message: string) {
    super('argument', message);
  }
}

/** A feature of the reference that this library does not implement (yet). */
export class NotSupportedError extends ResnestError {
  constructor(message: string) {
    super('not_supported', message);
  }
}

/** Fetching pretrained weights failed: network, HTTP status, truncation, hash mismatch. */
export class DownloadError extends ResnestError {
  readonly url: string;
  constructor(message: string, url: string) {
    super('download', `${url}: ${message}`);
    this.url = url;
  }
}

/** A backend could not be created or used (no WebGPU adapter, wasm unavailable, freed tensor). */
export class BackendError extends ResnestError {
  constructor(message: string) {
    super('backend', message);
  }
}

/** A file could not be read or written (missing, permission). */
export class FileError extends ResnestError {
  readonly file: string;
  constructor(message: string, file: string) {
    super('file', `${file}: ${message}`);
    this.file = file;
  }
}

/** A helper thread (the augmentation worker) failed; the message says how. */
export class WorkerError extends ResnestError {
  constructor(message: string) {
    super('worker', message);
  }
}
