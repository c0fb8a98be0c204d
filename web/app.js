/**
 * app.js: the page around sampler.js (index.html's form, output, messages, Stop, chars/s).
 *
 * Reads model.json (written by tfcharrnn.web: which .tflite, what model) from this folder.
 * The body's data-state is loading / ready / running / done / stopped / error (stopped: the Stop
 * button); the last run's speed is in data-chars and data-chars-per-s, how it ended in
 * data-finish-reason (stop: at the stop string; length) and data-new-chars (characters generated,
 * the stop string's included): tests/test_web.py reads them.
 */
import {describeChars, loadSampler, unescape, UnknownCharactersError} from './sampler.js';

const $ = (id) => document.getElementById(id);
const ui = {
  info: $('model-info'), form: $('settings'), prime: $('prime'), length: $('length'),
  temperature: $('temperature'), topK: $('top-k'), topP: $('top-p'), seed: $('seed'), greedy: $('greedy'), stopAt: $('stop-at'),
  generate: $('generate'), stop: $('stop'), status: $('status'), message: $('message'),
  primeEcho: $('prime-echo'), generated: $('generated'),
};
const YIELD_MS = 25;  // give the browser a turn this often: input, Stop and painting stay live

let sampler = null;
let stopRequested = false;

function setState(state) {
  document.body.dataset.state = state;
  const running = state === 'running';
  ui.generate.disabled = running || !sampler;
  ui.stop.disabled = !running;
}

function showMessage(text) {
  ui.message.textContent = text;
  ui.message.hidden = !text;
}

// A new task, not a microtask: the event loop handles clicks and paints in between. A message
// to ourselves, because scheduler.yield() continues ahead of input (Stop never got its click in
// Chromium), setTimeout is clamped to 4 ms when nested and rAF stops in a background tab.
const channel = new MessageChannel();
let resume = null;
channel.port1.onmessage = () => resume?.();
function yieldToBrowser() {
  return new Promise((resolve) => {
    resume = resolve;
    channel.port2.postMessage(null);
  });
}

function number(input, label) {
  const raw = input.value.trim();
  const value = Number(raw);
  if (raw === '' || !Number.isFinite(value)) throw new RangeError(`${label} must be a number, got "${input.value}".`);
  return value;
}

function integer(input, label) {
  const value = number(input, label);
  if (!Number.isInteger(value)) throw new RangeError(`${label} must be a whole number, got ${input.value}.`);
  return value;
}

/** The form's settings, checked as scripts/sample.py checks its flags; a RangeError says what is wrong. */
function readSettings() {
  const length = integer(ui.length, 'Length');
  if (length < 0) throw new RangeError(`Length must be >= 0, got ${length}.`);
  const greedy = ui.greedy.checked;
  const temperature = greedy ? 0 : number(ui.temperature, 'Temperature');
  if (!(temperature >= 0)) throw new RangeError(`Temperature must be a finite number >= 0 (0 = greedy), got ${temperature}.`);
  const topK = integer(ui.topK, 'Top-k');
  if (topK < 0 || topK > sampler.vocabSize) {
    throw new RangeError(`Top-k must be between 0 (off) and the vocabulary size ${sampler.vocabSize}, got ${topK}.`);
  }
  const topP = number(ui.topP, 'Top-p');
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`Top-p must be in (0, 1], got ${topP}.`);
  let seed;
  try {
    seed = BigInt(ui.seed.value.trim() || 'x');  // any integer: the hash takes it modulo 2^32
  } catch {
    throw new RangeError(`Seed must be a whole number, got "${ui.seed.value}".`);
  }
  let stop;
  try {
    stop = unescape(ui.stopAt.value);
  } catch (e) {
    throw new RangeError(`Stop at: ${e.message}.`);
  }
  return {length, seed, temperature, topK, topP, stop};
}

function showSpeed(chars, seconds, final) {
  const rate = seconds > 0 ? chars / seconds : 0;
  document.body.dataset.chars = String(chars);
  document.body.dataset.charsPerS = rate.toFixed(1);
  ui.status.textContent = `${chars.toLocaleString('en')} characters` +
    (seconds > 0 ? ` in ${seconds.toFixed(2)} s · ${Math.round(rate).toLocaleString('en')} chars/s` : '') +
    (final ? '' : ' …');
}

async function generate() {
  if (!sampler || document.body.dataset.state === 'running') return;
  showMessage('');
  let settings;
  let ids;
  let stopIds;
  try {
    settings = readSettings();
    ids = sampler.encode(ui.prime.value);
    try {
      stopIds = sampler.stopIds(settings.stop);
    } catch (e) {
      throw e instanceof RangeError ? new RangeError(`Stop at: ${e.message}.`) : e;
    }
  } catch (e) {
    if (!(e instanceof RangeError || e instanceof UnknownCharactersError)) throw e;
    const text = e instanceof UnknownCharactersError ?
      `The prime has ${e.chars.length} character(s) the model never saw: ${describeChars(e.chars)}. ` +
      'Remove them, or use a model trained on text that has them.' : e.message;
    showMessage(text);
    return;
  }
  stopRequested = false;
  delete document.body.dataset.finishReason;
  delete document.body.dataset.newChars;
  setState('running');
  ui.primeEcho.textContent = ui.prime.value;
  ui.generated.textContent = '';
  const decoder = sampler.decoder();
  const started = performance.now();
  let lastYield = started;
  let chars = 0;
  let pending = '';
  const flush = () => {
    if (pending) ui.generated.append(pending);  // a text node per flush, not per character
    pending = '';
  };
  try {
    const opts = {seed: settings.seed, temperature: settings.temperature, topK: settings.topK, topP: settings.topP, stopIds};
    const run = sampler.generateIds(ids, settings.length, opts);
    let step;
    while (!(step = await run.next()).done) {
      pending += decoder.push(step.value);
      chars += 1;
      const now = performance.now();
      if (now - lastYield > YIELD_MS) {
        flush();
        showSpeed(chars, (now - started) / 1000, false);
        await yieldToBrowser();
        lastYield = performance.now();
        if (stopRequested) {
          await run.return();  // ends the generator: its tensors are freed
          break;
        }
      }
    }
    pending += decoder.flush();
    flush();
    showSpeed(chars, (performance.now() - started) / 1000, true);
    const end = step.done ? step.value : {finishReason: '', newChars: ''};
    document.body.dataset.finishReason = end.finishReason;
    document.body.dataset.newChars = String(end.newChars);
    setState(stopRequested ? 'stopped' : 'done');
    if (stopRequested) ui.status.textContent += ' (stopped)';
    else if (end.finishReason === 'stop') ui.status.textContent += ' · ended at the stop string';
  } catch (e) {
    flush();
    showMessage(`Generation failed: ${e.message}`);
    setState('error');
  }
}

async function main() {
  try {
    const manifest = await (await fetch('model.json')).json();
    sampler = await loadSampler(manifest.model, {wasm: manifest.wasm});
    const m = manifest.config ?? {};
    const what = m.model ? `${String(m.model).toUpperCase()} ${m.num_layers}×${m.hidden_size}` : 'model';
    ui.info.textContent = `${manifest.name}: ${what}, ${sampler.vocabSize} characters` +
      `${sampler.byteMode ? ' (bytes)' : ''} · LiteRT.js ${manifest.litert ?? ''} on WebAssembly`;
    document.title = `${manifest.name} · tfcharrnn`;
    setState('ready');
  } catch (e) {
    ui.info.textContent = 'The model could not be loaded.';
    showMessage(`Could not load the model: ${e.message}. Serve this folder with a static server ` +
                '(python -m http.server) and open it over http://, not as a file.');
    setState('error');
  }
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  generate();
});
ui.stop.addEventListener('click', () => { stopRequested = true; });
ui.prime.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    generate();
  }
});
ui.greedy.addEventListener('change', () => { ui.temperature.disabled = ui.greedy.checked; });

main();
