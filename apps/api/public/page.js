// The demo page's script: a module the browser runs as it is, type-checked through its JSDoc
// (apps/api/public/tsconfig.json). It talks to Herald only through @herald/client (served as
// /assets/herald-client.js), whose event and snapshot types are the server's own.

import { closeBatch, initBatchView, openBatch, pageUrl } from './batch-view.js';
import { HeraldError, createClient } from './herald-client.js';

/** @typedef {import('../../../packages/contract/src/event.ts').JobEvent} JobEvent */
/** @typedef {import('../../../packages/contract/src/event.ts').JobStatus} JobStatus */

/**
 * The job on screen; a newer job replaces it.
 * @typedef {object} Job
 * @property {string} id
 * @property {string | null} token the job's watch token, when Herald gave one
 * @property {AbortController} watching aborted when the page stops watching this job
 * @property {boolean} terminal
 * @property {number | undefined} firstTs
 */

/** @typedef {'idle' | 'connecting' | 'live' | 'reconnecting' | 'closed'} ConnectionState */

/**
 * An element of the page's own markup, which has every id this script uses.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @returns {T}
 */
const $ = (id) => /** @type {T} */ (document.getElementById(id));
/** @type {ReadonlySet<string>} */
const TERMINAL = new Set(['done', 'error', 'cancelled']);
/** @type {Partial<Record<ConnectionState, string>>} */
const CONNECTION_LABELS = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…' };
/** @type {Record<string, string>} */
const STAGE_LABELS = {
  queued: 'Queued',
  received: 'Received',
  analyzing: 'Analyzing',
  summarizing: 'Summarizing',
  polishing: 'Polishing',
  done: 'Done',
  error: 'Failed',
  cancelled: 'Cancelled',
};

/** @type {Job | null} */
let current = null;
let submitting = false;
/** What Enter in the API key field does after Herald asked for a key: submit the form, or retry the cancel. */
/** @type {'submit' | 'cancel'} */
let keyFor = 'submit';

const KEY_STORAGE = 'herald.apiKey';
const KEY_HINT = 'Sent to Herald to submit and cancel jobs; kept in this tab only.';
/** What an Authorization header can carry (the server's rule too): printable ASCII, no spaces, at most 4096 characters (MAX_CREDENTIAL_CHARS). */
const KEY_SHAPE = /^[\x21-\x7e]{1,4096}$/;

/** @param {string} stage */
const label = (stage) => STAGE_LABELS[stage] ?? stage.charAt(0).toUpperCase() + stage.slice(1);
/** The page's own address for a job (batch-view.js's pageUrl). @param {string} id @param {string | null} token */
const jobUrl = (id, token) => pageUrl('jobs', id, token);
/** @param {string} text */
const announce = (text) => {
  $('announcer').textContent = text;
};
/** @returns {HTMLInputElement} */
const keyField = () => $('api-key');
/** @returns {HTMLTextAreaElement} */
const textField = () => $('text');

/**
 * The API key lives in the field and in this tab's sessionStorage: never in a URL, never in a
 * log line. It goes out only as `Authorization: Bearer` to this origin (submit, cancel, and a
 * snapshot when there is no watch token). Storage may be off (privacy settings): the field alone then.
 */
const apiKey = () => keyField().value.trim();
/** Herald on this origin, with the API key when the field holds one the browser can send. */
const keyed = () => createClient({ baseUrl: location.origin, apiKey: KEY_SHAPE.test(apiKey()) ? apiKey() : undefined });
/** Herald on this origin without the key: what watching uses (a job's watch token, or nothing with auth off). */
const unkeyed = () => createClient({ baseUrl: location.origin });

function loadKey() {
  let key = '';
  try {
    key = sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    /* storage unavailable */
  }
  keyField().value = key;
  if (key) $('key-row').hidden = false;
}

function saveKey() {
  try {
    if (apiKey()) sessionStorage.setItem(KEY_STORAGE, apiKey());
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage unavailable: the key lasts as long as the field */
  }
}

/** Herald wants a key (a 401): its words above the form, the key field shown, the cursor in it. */
/** @param {string} message @param {'submit' | 'cancel'} next */
function askForKey(message, next) {
  keyFor = next;
  showProblem(message);
  $('key-hint').textContent =
    next === 'cancel'
      ? 'Cancelling a job needs an API key: enter it, then press Enter or Cancel job again.'
      : 'Submitting needs an API key: enter it, then press Enter or Summarize again.';
  $('key-row').hidden = false;
  keyField().focus();
  keyField().select();
}

/** A key the browser could not even send (a space, a non-ASCII character): say so instead of failing. */
/** @param {'submit' | 'cancel'} next */
function keyIsSendable(next) {
  if (!apiKey() || KEY_SHAPE.test(apiKey())) return true;
  askForKey('This API key cannot be right: a key is letters, digits and punctuation, without spaces.', next);
  return false;
}

/** Shows a message (and the server's per-field details, when it sent any), or hides it given ''. */
/** @param {string} message @param {readonly string[]} [details] */
function showProblem(message, details = []) {
  $('problem-message').textContent = message;
  $('problem-details').replaceChildren(
    ...details.map((detail) => {
      const item = document.createElement('li');
      item.textContent = detail;
      return item;
    }),
  );
  $('problem-details').hidden = details.length === 0;
  $('problem').hidden = !message;
}

/**
 * What to tell a person when Herald refuses a request: plain words chosen by what happened (the
 * status, the field the error names), rather than the API's own message, which is meant for
 * programs. That message is shown only for what is not foreseen here.
 * @param {HeraldError} error
 * @param {'submit' | 'cancel'} doing
 * @returns {[string, string[]]}
 */
function problemOf(error, doing) {
  const { message, status } = error;
  /** @type {{ path?: unknown, message?: unknown }[]} */
  const details = Array.isArray(error.details) ? error.details : [];
  const fields = details.map((detail) => String(detail.path ?? ''));
  const later = error.retryAfterSeconds ? `try again in ${error.retryAfterSeconds} s` : 'try again in a moment';
  const task = doing === 'submit' ? 'Submitting' : 'Cancelling';
  switch (status) {
    case 0:
      return [`Could not reach Herald: ${message}`, []];
    case 400:
      if (fields.includes('text')) return ['There is nothing to summarize here: paste a text with some words in it.', []];
      if (fields.some((field) => field.startsWith('options'))) return ['Sentences: choose a whole number from 1 to 20.', []];
      break;
    case 401:
      return [KEY_SHAPE.test(apiKey()) ? 'Herald does not accept this API key.' : `${task} here needs an API key.`, []];
    case 413: {
      const limit = /at most (\d+) characters/.exec(message)?.[1];
      const length = textField().value.length.toLocaleString();
      return [
        limit
          ? `This text is too long: Herald takes up to ${Number(limit).toLocaleString()} characters, and it has ${length}.`
          : 'This text is too long for Herald.',
        [],
      ];
    }
    case 429:
      return [`That is a lot of jobs from here just now: ${later}.`, []];
    case 503:
      return [`Herald is busy or restarting: ${later}.`, []];
    default:
      if (status >= 500) return ["Something went wrong on Herald's side; try again.", []];
  }
  const listed = details
    .filter((detail) => typeof detail?.message === 'string' && detail.message !== message)
    .map(({ path, message: text }) => (typeof path === 'string' && path ? `${path}: ${text}` : String(text)));
  return [error.code === 'http_error' ? `Herald answered ${status}.` : `Herald could not take this: ${message}`, listed];
}

/** @param {ConnectionState} state */
function setConnection(state) {
  const el = $('connection');
  if (el.dataset.state === state) return;
  const was = el.dataset.state;
  el.dataset.state = state;
  // Every change, in order: a record of what the reader saw (and what the browser tests check).
  el.dataset.history = el.dataset.history ? `${el.dataset.history} ${state}` : state;
  el.textContent = CONNECTION_LABELS[state] ?? '';
  el.hidden = !CONNECTION_LABELS[state];
  if (state === 'reconnecting') announce('Connection lost, reconnecting…');
  else if (state === 'live' && was === 'reconnecting') announce('Reconnected');
}

function stopWatching() {
  current?.watching.abort();
  current = null;
}

/** The address, and the link to share, for a job's page with this token. @param {string} id @param {string | null} token */
function showAddress(id, token) {
  history.replaceState(history.state, '', jobUrl(id, token));
  const share = new URL(jobUrl(id, token), location.href).href;
  /** @type {HTMLAnchorElement} */ ($('share')).href = share;
  $('share').textContent = share;
}

/** @param {string} id @param {string | null} token */
function resetJobView(id, token) {
  const share = new URL(jobUrl(id, token), location.href).href;
  $('job').hidden = false;
  $('not-found').hidden = true;
  $('denied').hidden = true;
  $('job').dataset.status = '';
  $('job-id').textContent = id;
  $('status').textContent = 'waiting';
  $('message').textContent = '';
  setProgress(0, '');
  $('cancel').hidden = true;
  $('cancel').removeAttribute('aria-disabled');
  $('cancel').textContent = 'Cancel job';
  /** @type {HTMLAnchorElement} */ ($('share')).href = share;
  $('share').textContent = share;
  for (const box of ['result-box', 'failure-box', 'cancelled-box']) $(box).hidden = true;
  $('log').replaceChildren();
  const conn = $('connection');
  conn.dataset.state = 'idle';
  conn.dataset.history = '';
  conn.hidden = true;
}

/** @param {number} progress @param {string} message */
function setProgress(progress, message) {
  const bar = $('bar');
  bar.setAttribute('aria-valuenow', String(progress));
  bar.setAttribute('aria-valuetext', message ? `${progress}% — ${message}` : `${progress}%`);
  $('fill').style.width = `${progress}%`;
  $('percent').textContent = `${progress}%`;
}

/**
 * One event on screen. `partial`: the summary as written so far, which the client folds from the
 * events' deltas (docs/api.md: the fold rule).
 * @param {Job} job @param {JobEvent} event @param {string} eventId @param {string} partial
 */
function render(job, event, eventId, partial) {
  const stage = event.stage ?? event.status;
  job.firstTs ??= event.ts;
  $('job').dataset.status = event.status;
  $('status').textContent = event.status;
  $('message').textContent = event.message;
  setProgress(event.progress, event.message);
  if (TERMINAL.has(event.status) && document.activeElement === $('cancel')) $('job-title').focus();
  $('cancel').hidden = TERMINAL.has(event.status);

  // One line per event, as it arrives, so the log is the stream — except that the summary being
  // written (many small events a second) keeps one line, brought up to date.
  const previous = $('log').lastElementChild;
  // A named stream's delta (`stream`) is not the summary: its event gets a line of its own.
  const writing = event.delta !== undefined && event.stream === undefined;
  const item =
    writing && previous instanceof HTMLLIElement && previous.dataset.writing === 'true' ? previous : document.createElement('li');
  item.replaceChildren();
  if (writing) item.dataset.writing = 'true';
  item.dataset.stage = stage;
  item.dataset.status = event.status;
  item.dataset.progress = String(event.progress);
  if (eventId) item.dataset.eventId = eventId;
  const what = document.createElement('span');
  what.className = 'what';
  const name = document.createElement('span');
  name.className = 'stage';
  name.textContent = label(stage);
  const msg = document.createElement('span');
  msg.className = 'msg';
  msg.textContent = event.message;
  what.append(name, msg);
  const time = document.createElement('time');
  if (Number.isFinite(event.ts)) {
    time.dateTime = new Date(event.ts).toISOString();
    time.textContent = `+${((event.ts - job.firstTs) / 1000).toFixed(1)} s`;
    time.title = new Date(event.ts).toLocaleTimeString();
  }
  item.append(what, time);
  if (item !== previous) $('log').append(item);

  if (writing) {
    // The summary as it comes: shown in its box, marked busy until done.
    $('result').textContent = partial;
    $('result-box').hidden = false;
    $('result-box').setAttribute('aria-busy', 'true');
  } else if (event.status === 'done') {
    showResult(event.result);
    $('result-box').hidden = false;
    $('result-box').removeAttribute('aria-busy');
    announce('Summary ready');
  } else if (event.status === 'error') {
    $('failure').textContent = event.error?.message ?? event.message;
    $('failure-box').hidden = false;
  } else if (event.status === 'cancelled') {
    $('cancelled-box').hidden = false;
    announce('Job cancelled');
  } else {
    announce(`${label(stage)}: ${event.message}, ${event.progress}%`);
  }
  if (TERMINAL.has(event.status) && event.status !== 'done') {
    $('result-box').hidden = true;
    $('result-box').removeAttribute('aria-busy');
  }
}

/**
 * The `done` event's result: a string (a summary) as it is, any other JSON value (an external
 * job's object, say) as pretty JSON, in monospace.
 * @param {JobEvent['result']} result
 */
function showResult(result) {
  const text = typeof result === 'string' || result === undefined;
  $('result').textContent = text ? (result ?? '') : JSON.stringify(result, null, 2);
  $('result').toggleAttribute('data-json', !text);
}

/** After the terminal event the stream is over: the client does not reconnect. */
/** @param {Job} job */
function finish(job) {
  job.terminal = true;
  setConnection('closed');
}

/**
 * Watches the job to its end with the client's resuming watch: after a drop it reconnects by
 * itself with Last-Event-ID, to whichever replica, and keeps trying for as long as the page is
 * open. Its watch token goes as a bearer (not in the URL); the API key never rides on the
 * stream. What no retry can change ends it: an unknown job, a refused token.
 * @param {Job} job
 */
async function watch(job) {
  try {
    const events = unkeyed().watch(job.id, {
      // With auth off (no token) nothing is sent, and nothing expires.
      getToken: job.token === null ? undefined : tokenSource(job),
      signal: job.watching.signal,
      maxRetries: Number.POSITIVE_INFINITY,
      maxBackoffMs: 10_000,
      onOpen: () => current === job && setConnection('live'),
      onReconnect: () => current === job && setConnection('reconnecting'),
    });
    for await (const { id, event, partial } of events) {
      if (current !== job) return;
      setConnection('live');
      render(job, event, id, partial);
    }
    if (current === job) finish(job);
  } catch (error) {
    if (current !== job || job.watching.signal.aborted) return;
    if (!(error instanceof HeraldError)) throw error;
    if (error.status === 404) return showNotFound(job.id);
    if (error.status === 401 || error.status === 403) return denied(job, error.message);
    // What Herald will not stream, and no retry can mend (an event this page does not know).
    setConnection('closed');
    showProblem(`Watching this job stopped: ${error.message}`);
  }
}

/**
 * Whether a failed mint may pass if asked again: no answer at all, a rate limit, or the server's
 * side (a replica going away). Any other refusal (401, 403, 404, …) would be the same again.
 * @param {HeraldError} error
 */
const mayPass = (error) => error.status === 0 || error.status === 429 || error.status >= 500;

/**
 * Waits `ms`, or less when `signal` aborts first.
 * @param {number} ms
 * @param {AbortSignal} signal
 * @returns {Promise<void>}
 */
const pause = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve(undefined);
    }
  });

/**
 * The watch's getToken: the job's token first; once Herald says it has expired, a fresh one
 * minted with the API key when this tab holds one (POST /v1/jobs/{id}/watch-tokens), which the
 * address and the share link then carry. A page opened from a link holds only its token: it
 * hands the same one back, the client ends the watch with token_expired, and the page says the
 * link has expired. A mint that fails on the way (the network, a replica going away, 429, 503)
 * is asked again, waiting longer each time, for as long as the page watches the job: the watch
 * would end for good, as expired, if it were handed the old token.
 * @param {Job} job
 * @returns {() => Promise<string>}
 */
function tokenSource(job) {
  let asked = false;
  return async () => {
    const token = /** @type {string} */ (job.token);
    if (!asked || !KEY_SHAPE.test(apiKey())) {
      asked = true;
      return token;
    }
    for (let waitMs = 1000; ; waitMs = Math.min(waitMs * 2, 10_000)) {
      if (job.watching.signal.aborted) return token; // the page left the job: the watch ends anyway
      let retryAfterMs = 0;
      try {
        const { watchToken } = await keyed().watchToken(job.id);
        if (current === job) {
          job.token = watchToken;
          showAddress(job.id, watchToken);
        }
        return watchToken;
      } catch (error) {
        // Only a failure on the way is worth asking again (no answer, 429, 5xx); any other
        // refusal (the key is not this job's, or not valid) will not change: the link has expired.
        if (!(error instanceof HeraldError) || !mayPass(error)) return token;
        retryAfterMs = (error.retryAfterSeconds ?? 0) * 1000;
      }
      await pause(Math.max(waitMs, retryAfterMs), job.watching.signal);
    }
  };
}

/** @param {string} id */
function showNotFound(id) {
  stopWatching();
  $('job').hidden = true;
  $('denied').hidden = true;
  $('not-found-id').textContent = id;
  $('not-found').hidden = false;
  announce('Job not found');
}

/**
 * A watch token that has expired, was tampered with, or is another job's (or none, with auth on).
 * `reason`: the server's words, which for a link that no longer works are plain already.
 * @param {Job} job @param {string} reason
 */
function denied(job, reason) {
  if (current !== job) return;
  stopWatching();
  $('job').hidden = true;
  $('not-found').hidden = true;
  $('denied-id').textContent = job.id;
  $('denied-reason').textContent = reason;
  $('denied').hidden = false;
  announce('This link has expired or is not valid');
}

/**
 * Watches a job. From a link the job may be unknown or expired, or the link's token no good:
 * ask for its snapshot first (with the token, else with the API key if there is one).
 */
/** @param {string} id @param {{ fromLink: boolean, token: string | null }} how */
async function openJob(id, { fromLink, token }) {
  stopWatching();
  closeBatch();
  /** @type {Job} */
  const job = { id, token, watching: new AbortController(), terminal: false, firstTs: undefined };
  current = job;
  resetJobView(id, token);
  setConnection('connecting');
  if (fromLink) {
    try {
      // With the link's token; without one, with the API key if the tab holds one.
      const snapshot = token ? await readWithToken(job, token) : await keyed().job(id);
      if (current !== job) return;
      if (!job.token && snapshot.watchToken) {
        // Read with the API key: Herald hands back a watch token, which the stream (and a
        // shareable link) uses, so the key itself never rides along on the stream.
        job.token = snapshot.watchToken;
        history.replaceState(history.state, '', jobUrl(id, job.token));
        resetJobView(id, job.token);
      }
      $('status').textContent = snapshot.status;
      $('message').textContent = snapshot.message;
    } catch (error) {
      if (current !== job) return;
      if (error instanceof HeraldError && error.status === 404) return showNotFound(id);
      if (error instanceof HeraldError && (error.status === 401 || error.status === 403)) return denied(job, error.message);
      /* anything else: the watch below retries by itself */
    }
  }
  void watch(job);
}

/**
 * The snapshot read with a link's token. When that token has expired and this tab holds the API
 * key, read again with the key, which hands back a fresh token (then the job's, not the link's):
 * a link reopened after its hour is not locked out while the key can reach the job. A key that
 * cannot (another key's job) leaves the link's own refusal.
 * @param {Job} job @param {string} token
 */
async function readWithToken(job, token) {
  try {
    return await unkeyed().job(job.id, { token });
  } catch (error) {
    if (!(error instanceof HeraldError && error.code === 'token_expired' && KEY_SHAPE.test(apiKey()))) throw error;
    const snapshot = await keyed()
      .job(job.id)
      .catch(() => {
        throw error;
      });
    if (snapshot.watchToken) job.token = null; // the fresh token replaces the link's below
    return snapshot;
  }
}

function showHome() {
  stopWatching();
  closeBatch();
  $('job').hidden = true;
  $('not-found').hidden = true;
  $('denied').hidden = true;
}

/**
 * The watch token of the link the page was opened with: in the fragment (`#token=…`), or in the
 * query as links made before the fragment had it (`?token=…`). An old link's address is
 * rewritten to the fragment form, so a reload or a copied address sends the token nowhere.
 * @param {'jobs' | 'batches'} kind @param {string} id
 */
function linkToken(kind, id) {
  const fromFragment = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromFragment) return fromFragment;
  const fromQuery = new URLSearchParams(location.search).get('token');
  if (!fromQuery) return null;
  history.replaceState(history.state, '', pageUrl(kind, id, fromQuery));
  return fromQuery;
}

function route() {
  showProblem('');
  const batch = /^\/batches\/([^/]+)\/?$/.exec(location.pathname)?.[1];
  if (batch !== undefined) {
    const id = decodeURIComponent(batch);
    return void openBatch(id, linkToken('batches', id));
  }
  const raw = /^\/jobs\/([^/]+)\/?$/.exec(location.pathname)?.[1];
  let id = null;
  if (raw !== undefined) {
    try {
      id = decodeURIComponent(raw);
    } catch {
      id = raw;
    }
  }
  if (id) void openJob(id, { fromLink: true, token: linkToken('jobs', id) });
  else showHome();
}

/** @returns {HTMLFormElement} */
const form = () => $('form');

form().addEventListener('submit', async (e) => {
  e.preventDefault();
  if (submitting || !keyIsSendable('submit')) return;
  submitting = true;
  showProblem('');
  const button = $('submit');
  button.setAttribute('aria-busy', 'true');
  button.textContent = 'Submitting…';
  try {
    /** @type {{ text: string, options?: { maxSentences: number } }} */
    const body = { text: textField().value };
    const sentences = /** @type {HTMLInputElement} */ ($('maxSentences')).value.trim();
    if (sentences !== '') body.options = { maxSentences: Number(sentences) };
    let submitted;
    try {
      submitted = await keyed().submit(body);
    } catch (error) {
      if (!(error instanceof HeraldError)) throw error;
      const [message, details] = problemOf(error, 'submit');
      if (error.status === 401) askForKey(message, 'submit');
      else showProblem(message, details);
      return;
    }
    const { jobId, watchToken } = submitted;
    // With auth on (or a token secret), the job's watch token: for the stream, and in the link.
    const token = watchToken || null;
    keyFor = 'submit';
    $('key-hint').textContent = KEY_HINT;
    history.pushState({ jobId }, '', jobUrl(jobId, token));
    await openJob(jobId, { fromLink: false, token });
    if ($('job').getBoundingClientRect().top > innerHeight) $('job').scrollIntoView({ behavior: 'smooth', block: 'start' });
  } catch (error) {
    showProblem(`Could not reach Herald: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    submitting = false;
    button.removeAttribute('aria-busy');
    button.textContent = 'Summarize';
  }
});

$('text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    form().requestSubmit();
  }
});

$('text').addEventListener('input', () => {
  $('count').textContent = textField().value.length.toLocaleString();
});

keyField().addEventListener('input', saveKey);

keyField().addEventListener('keydown', (e) => {
  // After a cancel asked for the key, Enter retries the cancel rather than submitting the form.
  if (e.key !== 'Enter' || keyFor !== 'cancel') return;
  e.preventDefault();
  $('cancel').click();
});

$('cancel').addEventListener('click', async () => {
  const job = current;
  if (!job || job.terminal) return;
  const button = $('cancel');
  if (button.getAttribute('aria-disabled') === 'true') return;
  if (!keyIsSendable('cancel')) return;
  showProblem('');
  // aria-disabled rather than disabled: the button keeps the keyboard focus.
  button.setAttribute('aria-disabled', 'true');
  button.textContent = 'Cancelling…';
  try {
    // Cancelling takes an API key (a watch token only watches); without one, Herald's 401 asks for it.
    // 202: the cancelled event is on its way down the stream. 409: the job ended first.
    await keyed().cancel(job.id);
    keyFor = 'submit';
    $('key-hint').textContent = KEY_HINT;
    return;
  } catch (error) {
    if (error instanceof HeraldError && error.status === 409) return;
    if (!(error instanceof HeraldError)) throw error;
    const [message, details] = problemOf(error, 'cancel');
    if (error.status === 401) askForKey(message, 'cancel');
    else showProblem(message, details);
  }
  if (current === job && !job.terminal) {
    button.removeAttribute('aria-disabled');
    button.textContent = 'Cancel job';
  }
});

initBatchView({
  keyed,
  unkeyed,
  showProblem,
  askForKey: (message) => askForKey(message, 'submit'),
  leaveOtherViews: () => {
    stopWatching();
    $('job').hidden = true;
    $('not-found').hidden = true;
    $('denied').hidden = true;
  },
  maxSentences: () => {
    const sentences = /** @type {HTMLInputElement} */ ($('maxSentences')).value.trim();
    return sentences === '' ? null : Number(sentences);
  },
});
window.addEventListener('popstate', route);
loadKey();
route();
