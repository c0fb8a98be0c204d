/**
 * sampler.js: generate text from a tfcharrnn .tflite in the browser with LiteRT.js, as
 * tfcharrnn/litert_sampler.py does in Python (same seed, same settings: same text).
 *
 *   import {loadSampler} from './sampler.js';
 *   const sampler = await loadSampler('./shakespeare.tflite', {wasm: './litert/wasm/'});
 *   let text = '';
 *   for await (const piece of sampler.generate('ROMEO:', 200, {seed: 7, temperature: 0.8})) text += piece;
 *   // or: const text = await sampler.sampleText('ROMEO:', 200, {seed: 7, temperature: 0.8});
 *   const {text, finishReason, newChars} = await sampler.sample('ROMEO:', 200, {seed: 7, stop: ['\n\n']});
 *
 * The page needs '@litertjs/core' and '@litertjs/wasm-utils' resolvable (an import map, or a
 * bundler) and the LiteRT.js .wasm files served from the folder given as `wasm`. The model
 * must be converted with a fixed batch of 1 (tfcharrnn.web does that): LiteRT.js 2.5.3
 * refuses tensors for a dynamic dimension and has no resize call.
 *
 * The loop, call for call (tfcharrnn.litert_sampler.generate_ids):
 *   state = zeros [1, S, H]
 *   for c of prompt[:-1]: state = step(c, state).state        read the prompt once
 *   current = prompt[-1]                                       (empty prompt: startId, emitted)
 *   for i in 0 .. n-1: current, state = sample(current, state, temperature, uniform(seed, i), top_k, top_p)
 *
 * temperature 0 is greedy (a negative or NaN one is refused). Stop strings follow the rule of
 * tfcharrnn/sample_settings.py: generation ends at the first character that completes one (the
 * longest, if several end there) and returns at once; the text ends before it; it matches only
 * inside the generated text; newChars counts it. While generating, ids that could be the start of
 * a stop string are held back until the next character shows they are not.
 */
import {getGlobalLiteRt, getGlobalLiteRtPromise, loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';

// tfcharrnn/rng.py: a counter hash on unsigned 32-bit values.
export const MUL = 0x045d9f3b;
export const SALT = 0x2545f491;
export const START_STEP = 0xffffffff;
export const MAX_STOP_CHARS = 64;  // tfcharrnn.sample_settings.MAX_STOP_CHARS

/** Any integer (Number or BigInt, negative too) modulo 2^32, as Python's `int(x) & 0xFFFFFFFF`. */
export function toUint32(x) {
  if (typeof x === 'bigint') return Number(BigInt.asUintN(32, x));
  if (!Number.isSafeInteger(x)) throw new RangeError(`expected an integer, got ${x}`);
  return Number(BigInt.asUintN(32, BigInt(x)));
}

function mix32(x) {
  // Math.imul keeps the low 32 bits of the product, exactly Python's `* MUL & 0xFFFFFFFF`;
  // `>>> 0` reads the int32 result back as unsigned.
  x = Math.imul(x ^ (x >>> 16), MUL) >>> 0;
  x = Math.imul(x ^ (x >>> 16), MUL) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

function uniformFromHash(seedHash, step) {
  const h = mix32((seedHash ^ toUint32(step)) >>> 0);
  return (h >>> 8) / 16777216;  // 24 random bits: exact in float32
}

/** tfcharrnn.rng.uniform: a float in [0, 1), a pure function of (seed, step). */
export function uniform(seed, step) {
  return uniformFromHash(mix32((toUint32(seed) ^ SALT) >>> 0), step);
}

/** The first character of an empty prompt: min(int(float32(u) * float32(V)), V - 1). */
export function startId(seed, vocabSize) {
  // The product of two float32 values is exact in a double; fround rounds it as float32 would.
  const u = Math.fround(uniform(seed, START_STEP));
  return Math.min(Math.trunc(Math.fround(u * Math.fround(vocabSize))), vocabSize - 1);
}

// Write one value into a one-element host tensor in place. A new Tensor per input per character
// costs 10-20 us of calls into the runtime (the whole step of a 2x256 LSTM is ~100 us); this is <1 us.
function overwrite(tensor, value) {
  const wasm = getGlobalLiteRt().liteRtWasm;
  const buffer = tensor.liteRtTensorBuffer;
  const ptr = buffer.lock(wasm.LiteRtTensorBufferLockMode.WRITE);
  try {
    // HEAPU8 is the heap view the runtime itself exports (read it each time: memory growth
    // replaces it); wasm memory is little-endian.
    const view = new DataView(wasm.HEAPU8.buffer, ptr, 4);
    if (tensor.type.dtype === 'int32') view.setInt32(0, value, true);
    else view.setFloat32(0, value, true);
  } finally {
    buffer.unlock();
  }
}

/** The prompt has characters the model never saw; `chars` lists them in order of appearance. */
export class UnknownCharactersError extends Error {
  constructor(chars) {
    super(`the prompt has ${chars.length} character(s) the model never saw: ${describeChars(chars)}; ` +
          'remove them or use a model trained on text that has them');
    this.name = 'UnknownCharactersError';
    this.chars = chars;
  }
}

/** Backslash escapes as scripts/sample.py --stop reads them: \\n \\t \\r \\\\ \\0 \\xHH \\uXXXX \\UXXXXXXXX. */
export function unescape(text) {
  const simple = {n: '\n', t: '\t', r: '\r', '\\': '\\', 0: '\0', "'": "'", '"': '"'};
  return text.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[^]|$)/g, (_, code) => {
    if (code in simple) return simple[code];
    if (code.length > 1 && parseInt(code.slice(1), 16) <= 0x10ffff) return String.fromCodePoint(parseInt(code.slice(1), 16));
    throw new RangeError(`unknown escape ${code ? '\\' + code : 'a trailing backslash'} in "${text}"; ` +
                         'use \\n, \\t, \\r, \\\\, \\xHH, \\uXXXX or \\UXXXXXXXX');
  });
}

/** 'a', '\n', ' ' shown so that whitespace is visible (like Python's repr). */
export function describeChars(chars, limit = 10) {
  const esc = {'\n': '\\n', '\t': '\\t', '\r': '\\r', '\\': '\\\\', "'": "\\'"};
  const shown = chars.slice(0, limit).map((c) => {
    const cp = c.codePointAt(0);
    const body = esc[c] ?? (cp < 0x20 || cp === 0x7f ? `\\x${cp.toString(16).padStart(2, '0')}` : c);
    return `'${body}'`;
  });
  return shown.join(', ') + (chars.length > limit ? ` and ${chars.length - limit} more` : '');
}

/** LiteRT's own log lines: errors to console.error, INFO / WARNING chatter to console.debug. */
export function runtimeLog(line) {
  (/^(ERROR|FATAL|[EF]\d{4} )/.test(line) ? console.error : console.debug)(line);
}

/**
 * Load the LiteRT.js runtime (once per page) and a model: -> a CharSampler.
 * model: a URL or the file's bytes (Uint8Array). wasm: the folder holding litert_wasm_*.js/.wasm.
 * log(line): where the runtime's own log lines go (used when this call loads the runtime).
 */
export async function loadSampler(model, {wasm = './litert/wasm/', log = runtimeLog} = {}) {
  if (!getGlobalLiteRtPromise() && globalThis.Module === undefined) {
    // The Emscripten runtime reads its stdout / stderr sinks from a global `Module` (and
    // clears it after loading); unset, every INFO line of LiteRT's C++ would be a console.error.
    globalThis.Module = {print: log, printErr: log};
  }
  await (getGlobalLiteRtPromise() ?? loadLiteRt(wasm));
  const compiled = await loadAndCompile(model, {accelerator: 'wasm'});
  try {
    return await CharSampler.create(compiled);
  } catch (e) {
    compiled.delete();
    throw e;
  }
}

export class CharSampler {
  /** Use CharSampler.create(compiledModel) or loadSampler(url). */
  constructor(compiled, codePoints, byteMode) {
    this.model = compiled;
    const sig = compiled.signatures;
    const state = sig.step.getInputDetails().find((d) => d.name === 'state').shape;  // [1, S, H]
    this.numStates = state[1];
    this.hiddenSize = state[2];
    this.vocabSize = codePoints.length;
    this.byteMode = byteMode;
    // In byte mode each code point is one byte of UTF-8 text.
    this.chars = Array.from(codePoints, (cp) => String.fromCodePoint(cp));
    this.index = new Map(Array.from(codePoints, (cp, i) => [cp, i]));
  }

  static async create(compiled) {
    const sig = compiled.signatures;
    for (const name of ['step', 'sample', 'vocabulary']) {
      if (!sig[name]) throw new Error(`the model lacks the signature ${name}; it is not a tfcharrnn export`);
    }
    const state = sig.step.getInputDetails().find((d) => d.name === 'state').shape;
    if (state[0] !== 1) {
      throw new Error(`the model's batch dimension is ${state[0]}, not 1; export it for the web ` +
                      '(python scripts/export.py CHECKPOINT --name NAME --web)');
    }
    const logits = sig.step.getOutputDetails().find((d) => d.name === 'logits').shape;  // [1, V]
    const v = logits[logits.length - 1];
    const ids = new Tensor(Int32Array.from({length: v}, (_, i) => i), [v]);
    const out = await sig.vocabulary.run({ids});
    ids.delete();
    const codePoints = Int32Array.from(out.code_points.toTypedArray());
    const byteMode = out.byte_mode.toTypedArray()[0] === 1;
    out.code_points.delete();
    out.byte_mode.delete();
    return new CharSampler(compiled, codePoints, byteMode);
  }

  /** Text -> Int32Array of ids; UnknownCharactersError names what the vocabulary lacks. */
  encode(text) {
    const ids = [];
    const unknown = [];
    const utf8 = new TextEncoder();
    for (const c of text) {  // code points, not UTF-16 units
      const units = this.byteMode ? Array.from(utf8.encode(c)) : [c.codePointAt(0)];
      if (units.every((u) => this.index.has(u))) {
        for (const u of units) ids.push(this.index.get(u));
      } else if (!unknown.includes(c)) {
        unknown.push(c);
      }
    }
    if (unknown.length) throw new UnknownCharactersError(unknown);
    return Int32Array.from(ids);
  }

  /**
   * Stop strings -> arrays of ids ('' is no stop); a RangeError names one that is too long or has
   * characters the model never saw (it could never be generated).
   */
  stopIds(stops = []) {
    const out = [];
    for (const stop of typeof stops === 'string' ? [stops] : stops) {
      if (!stop) continue;
      let ids;
      try {
        ids = this.encode(stop);
      } catch (e) {
        if (!(e instanceof UnknownCharactersError)) throw e;
        throw new RangeError(`the stop string ${describeChars([stop])} has ${e.chars.length} character(s) the model never saw: ` +
                             `${describeChars(e.chars)}; the model could never generate it, so leave them out`);
      }
      if (ids.length > MAX_STOP_CHARS) {
        const unit = this.byteMode ? 'bytes' : 'characters';
        throw new RangeError(`the stop string is ${ids.length} ${unit} long; a stop string is at most ${MAX_STOP_CHARS} ${unit}`);
      }
      out.push(Array.from(ids));
    }
    return out;
  }

  /** A decoder for a stream of ids: push(id) -> the text it completes ('' inside a UTF-8 sequence). */
  decoder() {
    if (!this.byteMode) return {push: (id) => this.chars[id], flush: () => ''};
    const d = new TextDecoder('utf-8');  // invalid bytes become U+FFFD, as Python's errors="replace"
    return {push: (id) => d.decode(new Uint8Array([id]), {stream: true}), flush: () => d.decode()};
  }

  /** Throws a RangeError for settings the model cannot take (the CLI's checks). */
  checkOptions(n, {seed = 0, temperature = 1.0, topK = 0, topP = 1.0} = {}) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`length must be an integer >= 0, got ${n}`);
    toUint32(seed);
    if (!Number.isFinite(temperature) || temperature < 0) {
      throw new RangeError(`temperature must be a finite number >= 0 (0 = greedy), got ${temperature}`);
    }
    if (!Number.isInteger(topK) || topK < 0 || topK > this.vocabSize) {
      throw new RangeError(`top_k must be between 0 (off) and the vocabulary size ${this.vocabSize}, got ${topK}`);
    }
    if (!(topP > 0 && topP <= 1)) throw new RangeError(`top_p must be in (0, 1], got ${topP}`);
  }

  /**
   * The continuation's ids, one at a time; returns {finishReason: 'stop' | 'length', newChars}
   * (read it from the last next(): {done: true, value}). promptIds: an array of ids (may be
   * empty); stopIds: stop strings as arrays of ids (stopIds()). temperature 0 is greedy; topK 0
   * and topP 1 switch those cuts off.
   */
  async* generateIds(promptIds, n, {seed = 0, temperature = 1.0, topK = 0, topP = 1.0, stopIds = []} = {}) {
    this.checkOptions(n, {seed, temperature, topK, topP});
    const sig = this.model.signatures;
    const stops = stopIds.filter((s) => s.length);
    const hold = Math.max(0, ...stops.map((s) => s.length - 1));  // ids kept back: they may begin a stop string
    const pending = [];  // generated, not yet yielded
    let newChars = 0;
    const matched = () => Math.max(0, ...stops.filter((s) => s.length <= pending.length &&
      s.every((c, j) => c === pending[pending.length - s.length + j])).map((s) => s.length));
    const seedHash = mix32((toUint32(seed) ^ SALT) >>> 0);  // the seed's half of uniform(), once
    const inputs = {  // made once, overwritten in place: token_id and u change every character
      token_id: new Tensor(new Int32Array(1), [1]),
      u: new Tensor(new Float32Array(1), [1]),
      temperature: new Tensor(Float32Array.of(temperature), [1]),
      top_k: new Tensor(Int32Array.of(topK), [1]),
      top_p: new Tensor(Float32Array.of(topP), [1]),
    };
    let state = new Tensor(new Float32Array(this.numStates * this.hiddenSize), [1, this.numStates, this.hiddenSize]);
    try {
      if (n === 0) return {finishReason: 'length', newChars};
      for (const c of promptIds.slice(0, -1)) {
        overwrite(inputs.token_id, c);
        const out = await sig.step.run({token_id: inputs.token_id, state});
        out.logits.delete();
        state.delete();
        state = out.state;  // the output tensor feeds the next call as is: no copy
      }
      let current = promptIds.length ? promptIds[promptIds.length - 1] : startId(seed, this.vocabSize);
      const first = promptIds.length ? 0 : -1;  // an empty prompt's start character is the first generated one
      for (let i = first; i < n + first; i++) {
        if (i >= 0) {
          overwrite(inputs.token_id, current);
          overwrite(inputs.u, uniformFromHash(seedHash, i));
          const out = await sig.sample.run({...inputs, state});
          state.delete();
          state = out.state;
          current = out.next_id.toTypedArray()[0];
          out.next_id.delete();
        }
        pending.push(current);
        newChars += 1;
        const stopLength = matched();
        if (stopLength) {
          yield* pending.slice(0, pending.length - stopLength);
          return {finishReason: 'stop', newChars};
        }
        while (pending.length > hold) yield pending.shift();
      }
      yield* pending;
      return {finishReason: 'length', newChars};
    } finally {  // also runs when the caller stops early (break / return)
      state.delete();
      for (const t of Object.values(inputs)) t.delete();
    }
  }

  /** The continuation as text pieces (prompt not included); returns what generateIds returns. options.stop: strings. */
  async* generate(prompt, n, {stop = [], ...options} = {}) {
    const ids = this.encode(prompt);
    const dec = this.decoder();
    const run = this.generateIds(ids, n, {...options, stopIds: this.stopIds(stop)});
    let step;
    while (!(step = await run.next()).done) yield dec.push(step.value);
    const rest = dec.flush();
    if (rest) yield rest;
    return step.value;
  }

  /** The whole continuation at once: {text, finishReason, newChars} (like litert_sampler.sample for one seed). */
  async sample(prompt, n, options = {}) {
    let text = '';
    const run = this.generate(prompt, n, options);
    let step;
    while (!(step = await run.next()).done) text += step.value;
    return {text, ...step.value};
  }

  /** The text of sample(...). */
  async sampleText(prompt, n, options = {}) {
    return (await this.sample(prompt, n, options)).text;
  }

  delete() {
    this.model.delete();
  }
}
