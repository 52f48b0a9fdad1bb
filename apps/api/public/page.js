// The demo page's script: a module the browser runs as it is, type-checked through its JSDoc
// (apps/api/public/tsconfig.json). The event and snapshot types are the server's own.

import { closeBatch, initBatchView, openBatch } from './batch-view.js';

/** @typedef {import('../../../packages/contract/src/event.ts').JobEvent} JobEvent */
/** @typedef {import('../../../packages/contract/src/event.ts').JobStatus} JobStatus */

/**
 * The job on screen; a newer job replaces it.
 * @typedef {object} Job
 * @property {string} id
 * @property {string | null} token the job's watch token, when Herald gave one
 * @property {EventSource | null} source
 * @property {string | null} lastEventId
 * @property {boolean} terminal
 * @property {number | undefined} firstTs
 * @property {number} failures reconnects in a row that found no stream
 * @property {ReturnType<typeof setTimeout> | undefined} timer
 * @property {string} partial the summary as written so far: the fold of the events' deltas
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
/** What an Authorization header can carry (the server's rule too): printable ASCII, no spaces. */
const KEY_SHAPE = /^[\x21-\x7e]{1,512}$/;

/** @param {string} stage */
const label = (stage) => STAGE_LABELS[stage] ?? stage.charAt(0).toUpperCase() + stage.slice(1);
/** @param {string} id */
const jobUrl = (id) => `/v1/jobs/${encodeURIComponent(id)}`;
/** The page's own address for a job; with auth on it carries the job's watch token, so it can be shared. */
/** @param {string} id @param {string | null} token */
const pageUrl = (id, token) => `/jobs/${encodeURIComponent(id)}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
/** The snapshot, as the job's stream sees it: with the watch token when there is one. */
/** @param {Job} job */
const snapshotUrl = (job) => `${jobUrl(job.id)}${job.token ? `?token=${encodeURIComponent(job.token)}` : ''}`;
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
 * log line. It goes out only as `Authorization: Bearer` to this origin (POST, DELETE, and a
 * snapshot when there is no watch token). Storage may be off (privacy settings): the field alone then.
 */
const apiKey = () => keyField().value.trim();
/** @param {Record<string, string>} headers */
const withKey = (headers) => (KEY_SHAPE.test(apiKey()) ? { ...headers, Authorization: `Bearer ${apiKey()}` } : headers);

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
 * Herald's JSON error, or null for an answer that has none (a proxy's page).
 * @typedef {{ code?: unknown, message?: unknown, details?: unknown }} ApiError
 * @param {Response} response
 * @returns {Promise<ApiError | null>}
 */
async function errorOf(response) {
  try {
    /** @type {{ error?: ApiError }} */
    const body = await response.json();
    return body.error ?? null;
  } catch {
    return null;
  }
}

/**
 * What to tell a person when Herald refuses a request: plain words chosen by what happened (the
 * status, the field the error names), rather than the API's own message, which is meant for
 * programs. That message is shown only for what is not foreseen here.
 * @param {Response} response
 * @param {'submit' | 'cancel'} doing
 * @returns {Promise<[string, string[]]>}
 */
async function problemOf(response, doing) {
  const error = await errorOf(response);
  const message = typeof error?.message === 'string' ? error.message : '';
  /** @type {{ path?: unknown, message?: unknown }[]} */
  const details = Array.isArray(error?.details) ? error.details : [];
  const fields = details.map((detail) => String(detail.path ?? ''));
  const retryAfter = Number(response.headers.get('Retry-After'));
  const later = retryAfter > 0 ? `try again in ${retryAfter} s` : 'try again in a moment';
  const task = doing === 'submit' ? 'Submitting' : 'Cancelling';
  switch (response.status) {
    case 400:
      if (fields.includes('text')) return ['There is nothing to summarize here: paste a text with some words in it.', []];
      if (fields.some((field) => field.startsWith('options'))) return ['Sentences: choose a whole number from 1 to 20.', []];
      break;
    case 401:
      return [withKey({}).Authorization ? 'Herald does not accept this API key.' : `${task} here needs an API key.`, []];
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
      if (response.status >= 500) return ["Something went wrong on Herald's side; try again.", []];
  }
  const listed = details
    .filter((detail) => typeof detail?.message === 'string' && detail.message !== message)
    .map(({ path, message: text }) => (typeof path === 'string' && path ? `${path}: ${text}` : String(text)));
  return [message ? `Herald could not take this: ${message}` : `Herald answered ${response.status}.`, listed];
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
  if (!current) return;
  current.source?.close();
  clearTimeout(current.timer);
  current = null;
}

/** @param {string} id @param {string | null} token */
function resetJobView(id, token) {
  const share = new URL(pageUrl(id, token), location.href).href;
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
 * The summary as written so far after one more event (docs/api.md: the fold rule). A retried
 * attempt starts again at offset 0, which replaces what the failed one wrote.
 * @param {string} partial @param {JobEvent} event
 */
const fold = (partial, event) =>
  event.delta === undefined || event.offset === undefined ? partial : partial.slice(0, event.offset) + event.delta;

/** @param {Job} job @param {JobEvent} event @param {string} eventId */
function render(job, event, eventId) {
  const stage = event.stage ?? event.status;
  job.partial = fold(job.partial, event);
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
  const writing = event.delta !== undefined;
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
    $('result').textContent = job.partial;
    $('result-box').hidden = false;
    $('result-box').setAttribute('aria-busy', 'true');
  } else if (event.status === 'done') {
    $('result').textContent = event.result ?? '';
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

/** After the terminal event the server ends the stream; close ours so the browser does not reconnect. */
/** @param {Job} job */
function finish(job) {
  job.terminal = true;
  job.source?.close();
  clearTimeout(job.timer);
  setConnection('closed');
}

/** @param {Job} job */
function connect(job) {
  // EventSource resumes by itself with Last-Event-ID after a drop, on the same URL, so the
  // watch token in it goes along. When it gives up (an answer that is not a stream: 503, 404,
  // 401, …) we open a new one from our own cursor. EventSource cannot send headers: the token
  // rides in the query, and the API key is never used here.
  const params = new URLSearchParams();
  if (job.token) params.set('token', job.token);
  if (job.lastEventId) params.set('lastEventId', job.lastEventId);
  const query = params.toString();
  const source = new EventSource(`${jobUrl(job.id)}/events${query ? `?${query}` : ''}`);
  job.source = source;
  source.onopen = () => {
    if (current !== job) return;
    job.failures = 0;
    setConnection('live');
  };
  source.onmessage = (message) => {
    if (current !== job || job.terminal) return;
    /** @type {JobEvent} */
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (message.lastEventId) job.lastEventId = message.lastEventId;
    setConnection('live');
    render(job, event, message.lastEventId);
    if (TERMINAL.has(event.status)) finish(job);
  };
  source.onerror = () => {
    if (current !== job || job.terminal) return;
    setConnection('reconnecting');
    if (source.readyState === EventSource.CLOSED) resumeLater(job);
  };
}

/** @param {Job} job */
function resumeLater(job) {
  job.source?.close();
  job.failures = (job.failures ?? 0) + 1;
  const delay = Math.min(1000 * 2 ** (job.failures - 1), 15000);
  clearTimeout(job.timer);
  job.timer = setTimeout(async () => {
    if (current !== job) return;
    try {
      // The same credential as the stream (the token, or none): a 401/403 here is why the
      // stream failed, and no retry will fix it.
      const response = await fetch(snapshotUrl(job), { headers: { Accept: 'application/json' } });
      if (current !== job) return;
      if (response.status === 404) return showNotFound(job.id);
      if (response.status === 401 || response.status === 403) return denied(job, response);
      if (response.ok) {
        const snapshot = await response.json();
        if (current !== job) return;
        // Already at the end (the stream answered 204): the snapshot is the final state.
        if (TERMINAL.has(snapshot.status) && snapshot.lastEventId === job.lastEventId) {
          return finish(job);
        }
      }
    } catch {
      /* offline: try the stream anyway, it will fail and come back here */
    }
    if (current === job) connect(job);
  }, delay);
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

/** A watch token that has expired, was tampered with, or is another job's (or none, with auth on). */
/** @param {Job} job @param {Response} response */
async function denied(job, response) {
  const error = await errorOf(response);
  // The server's words: for a link that no longer works they are plain already (expired, another job's).
  const reason = typeof error?.message === 'string' ? error.message : `Herald answered ${response.status}.`;
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
  const job = {
    id,
    token,
    source: null,
    lastEventId: null,
    terminal: false,
    firstTs: undefined,
    failures: 0,
    timer: undefined,
    partial: '',
  };
  current = job;
  resetJobView(id, token);
  setConnection('connecting');
  if (fromLink) {
    try {
      const headers = { Accept: 'application/json' };
      const response = await fetch(snapshotUrl(job), { headers: token ? headers : withKey(headers) });
      if (current !== job) return;
      if (response.status === 404) return showNotFound(id);
      if (response.status === 401 || response.status === 403) return denied(job, response);
      if (response.ok) {
        const snapshot = await response.json();
        if (current !== job) return;
        if (!job.token && typeof snapshot.watchToken === 'string') {
          // Read with the API key: Herald hands back a watch token, which the stream (and a
          // shareable link) needs, since an EventSource cannot send the key.
          job.token = snapshot.watchToken;
          history.replaceState(history.state, '', pageUrl(id, job.token));
          resetJobView(id, job.token);
        }
        $('status').textContent = snapshot.status;
        $('message').textContent = snapshot.message;
      }
    } catch {
      /* the stream below retries by itself */
    }
  }
  connect(job);
}

function showHome() {
  stopWatching();
  closeBatch();
  $('job').hidden = true;
  $('not-found').hidden = true;
  $('denied').hidden = true;
}

function route() {
  showProblem('');
  const token = new URLSearchParams(location.search).get('token') || null;
  const batch = /^\/batches\/([^/]+)\/?$/.exec(location.pathname)?.[1];
  if (batch !== undefined) return void openBatch(decodeURIComponent(batch), token);
  const raw = /^\/jobs\/([^/]+)\/?$/.exec(location.pathname)?.[1];
  let id = null;
  if (raw !== undefined) {
    try {
      id = decodeURIComponent(raw);
    } catch {
      id = raw;
    }
  }
  if (id) void openJob(id, { fromLink: true, token });
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
    const response = await fetch('/v1/jobs', {
      method: 'POST',
      headers: withKey({ 'Content-Type': 'application/json', Accept: 'application/json' }),
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const [message, details] = await problemOf(response, 'submit');
      if (response.status === 401) askForKey(message, 'submit');
      else showProblem(message, details);
      return;
    }
    const { jobId, watchToken } = await response.json();
    // With auth on (or a token secret), the job's watch token: for the stream, and in the link.
    const token = typeof watchToken === 'string' && watchToken ? watchToken : null;
    keyFor = 'submit';
    $('key-hint').textContent = KEY_HINT;
    history.pushState({ jobId }, '', pageUrl(jobId, token));
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
    const response = await fetch(jobUrl(job.id), { method: 'DELETE', headers: withKey({ Accept: 'application/json' }) });
    // 202: the cancelled event is on its way down the stream. 409: the job ended first.
    if (response.ok || response.status === 409) {
      keyFor = 'submit';
      $('key-hint').textContent = KEY_HINT;
      return;
    }
    const [message, details] = await problemOf(response, 'cancel');
    if (response.status === 401) askForKey(message, 'cancel');
    else showProblem(message, details);
  } catch (error) {
    showProblem(`Could not reach Herald: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (current === job && !job.terminal) {
    button.removeAttribute('aria-disabled');
    button.textContent = 'Cancel job';
  }
});

initBatchView({
  withKey,
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
