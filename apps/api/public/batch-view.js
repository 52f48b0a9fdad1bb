// The demo page's batch view (docs/api.md, "Batches"): several texts submitted as one batch, and
// every job's bar and the overall bar kept live by one stream, the batch's, opened with
// `?typed=1` so each kind of event has its own listener. Loaded by page.js, which hands it what
// the two views share (the API key, the problem box).

/** @typedef {import('../../../packages/contract/src/event.ts').JobEvent} JobEvent */
/**
 * The batch's own event and its snapshot as this view reads them (docs/api.md, "Batches"; the
 * contract's batch.ts, whose schemas need Node's types, which the page's type check leaves out).
 * @typedef {{ batchId: string, status: string, progress: number, counts: Record<string, number> }} BatchEvent
 * @typedef {BatchEvent & { jobs: { jobId: string, status: string, progress: number }[] }} BatchSnapshot
 */

/**
 * What the batch view needs of the page.
 * @typedef {object} PageParts
 * @property {(headers: Record<string, string>) => Record<string, string>} withKey the API key as a bearer, when there is one
 * @property {(message: string, details?: readonly string[]) => void} showProblem
 * @property {(message: string) => void} askForKey Herald wants a key to submit
 * @property {() => void} leaveOtherViews hides the job view (and stops watching its job)
 * @property {() => number | null} maxSentences the form's "Sentences", or null when empty
 */

/**
 * The batch on screen.
 * @typedef {object} Batch
 * @property {string} id
 * @property {string | null} token
 * @property {EventSource | null} source
 * @property {Map<string, HTMLLIElement>} rows each job's row, by job id
 * @property {boolean} ended
 */

/**
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @returns {T}
 */
const $ = (id) => /** @type {T} */ (document.getElementById(id));
const ENDS = new Set(['done', 'cancelled']);
const JOB_ENDS = new Set(['done', 'error', 'cancelled']);
/** One text per paragraph: texts are separated by a blank line. */
const PARAGRAPHS = /\n[ \t]*\n/;

/** @type {Batch | null} */
let current = null;
/** @type {PageParts | null} */
let page = null;

/** @param {string} id @param {string | null} token */
export const batchPageUrl = (id, token) => `/batches/${encodeURIComponent(id)}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
/** @param {string} id @param {string | null} token */
const jobPageUrl = (id, token) => `/jobs/${encodeURIComponent(id)}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
/** The batch's snapshot (`''`) or stream (`'/events'`) in the API, with its token when there is one. */
/** @param {string} id @param {string | null} token @param {'' | '/events'} [what] @param {Record<string, string>} [extra] */
const apiUrl = (id, token, what = '', extra = {}) => {
  const query = new URLSearchParams({ ...extra, ...(token ? { token } : {}) }).toString();
  return `/v1/batches/${encodeURIComponent(id)}${what}${query ? `?${query}` : ''}`;
};

/** The texts in the batch box, one per paragraph, empty ones dropped. */
const texts = () =>
  /** @type {HTMLTextAreaElement} */ ($('batch-texts')).value
    .split(PARAGRAPHS)
    .map((text) => text.trim())
    .filter(Boolean);

/** @param {HTMLElement} bar @param {HTMLElement} percent @param {number} progress */
function setBar(bar, percent, progress) {
  const value = Math.max(0, Math.min(100, Math.round(progress)));
  bar.setAttribute('aria-valuenow', String(value));
  const fill = /** @type {HTMLElement | null} */ (bar.firstElementChild);
  if (fill) fill.style.width = `${value}%`;
  percent.textContent = `${value}%`;
}

/** @param {Batch} batch @param {string} jobId @param {number} index */
function jobRow(batch, jobId, index) {
  const row = document.createElement('li');
  row.dataset.testid = 'batch-job';
  row.dataset.jobId = jobId;
  row.dataset.status = 'queued';
  const link = document.createElement('a');
  link.href = jobPageUrl(jobId, batch.token);
  link.textContent = `Text ${index + 1}`;
  const bar = document.createElement('div');
  bar.className = 'bar';
  bar.setAttribute('role', 'progressbar');
  bar.setAttribute('aria-label', `Text ${index + 1}`);
  bar.setAttribute('aria-valuemin', '0');
  bar.setAttribute('aria-valuemax', '100');
  bar.append(document.createElement('div'));
  const percent = document.createElement('span');
  percent.className = 'pct';
  row.append(link, bar, percent);
  setBar(bar, percent, 0);
  return row;
}

/** @param {Batch} batch @param {string} jobId @param {string} status @param {number} progress */
function showJob(batch, jobId, status, progress) {
  const row = batch.rows.get(jobId);
  if (!row) return;
  row.dataset.status = status;
  const [, bar, percent] = row.children;
  if (bar instanceof HTMLElement && percent instanceof HTMLElement) setBar(bar, percent, progress);
}

/** @param {Batch} batch @param {{ status: string, progress: number, counts: Record<string, number> }} state */
function showOverall(batch, state) {
  $('batch').dataset.status = state.status;
  $('batch-status').textContent = state.status;
  const { queued = 0, processing = 0, done = 0, error = 0, cancelled = 0 } = state.counts;
  $('batch-counts').textContent =
    `${done} done · ${processing} running · ${queued} waiting${error ? ` · ${error} failed` : ''}${cancelled ? ` · ${cancelled} cancelled` : ''}`;
  setBar($('batch-bar'), $('batch-percent'), state.progress);
  if (ENDS.has(state.status) && !batch.ended) {
    batch.ended = true;
    batch.source?.close();
    $('batch-connection').dataset.state = 'closed';
    $('batch-connection').hidden = true;
  }
}

/** @param {Batch} batch @param {BatchSnapshot} snapshot */
function showSnapshot(batch, snapshot) {
  if (batch.rows.size === 0) {
    const rows = snapshot.jobs.map((job, index) => {
      const row = jobRow(batch, job.jobId, index);
      batch.rows.set(job.jobId, row);
      return row;
    });
    $('batch-jobs').replaceChildren(...rows);
  }
  for (const job of snapshot.jobs) showJob(batch, job.jobId, job.status, job.progress);
  showOverall(batch, snapshot);
}

/** @param {Batch} batch @param {string} state */
function setConnection(batch, state) {
  if (batch.ended) return;
  const el = $('batch-connection');
  el.dataset.state = state;
  el.textContent = state === 'live' ? 'live' : 'reconnecting…';
  el.hidden = false;
}

/**
 * One EventSource for the whole batch. It reconnects by itself with Last-Event-ID (through the
 * load balancer, to whichever replica), so a replica going away mid-batch costs nothing.
 * @param {Batch} batch
 */
function connect(batch) {
  const source = new EventSource(apiUrl(batch.id, batch.token, '/events', { typed: '1' }));
  batch.source = source;
  /** @param {Event} message */
  const jobEvent = (message) => {
    // `error` is also the name EventSource gives its own connection errors (no data): only a
    // message from the server is a job's event.
    if (current !== batch || !(message instanceof MessageEvent) || typeof message.data !== 'string') return;
    /** @type {JobEvent} */
    const event = JSON.parse(message.data);
    showJob(batch, event.jobId, event.status, JOB_ENDS.has(event.status) ? 100 : event.progress);
  };
  for (const name of ['progress', 'delta', 'done', 'error', 'cancelled']) source.addEventListener(name, jobEvent);
  source.addEventListener('batch', (message) => {
    if (current === batch) showOverall(batch, /** @type {BatchEvent} */ (JSON.parse(message.data)));
  });
  source.addEventListener('resync', (message) => {
    if (current === batch) showSnapshot(batch, /** @type {BatchSnapshot} */ (JSON.parse(message.data)));
  });
  source.onopen = () => current === batch && setConnection(batch, 'live');
  source.onerror = () => {
    if (current !== batch || batch.ended) return;
    setConnection(batch, 'reconnecting');
    // Closed for good (an answer that is not a stream): look at the batch again, then reopen.
    if (source.readyState === EventSource.CLOSED) setTimeout(() => current === batch && void refresh(batch), 2000);
  };
}

/** @param {Batch} batch */
async function refresh(batch) {
  try {
    const response = await fetch(apiUrl(batch.id, batch.token), { headers: { Accept: 'application/json' } });
    if (current !== batch) return;
    if (!response.ok) {
      page?.showProblem(
        response.status === 404 ? `There is no batch ${batch.id} (it may have expired).` : `Herald answered ${response.status}.`,
      );
      return;
    }
    showSnapshot(batch, await response.json());
  } catch {
    /* offline: the stream below retries */
  }
  if (current === batch && !batch.ended) connect(batch);
}

/** Shows batch `id` and keeps it live; `token`: the batch's watch token, when auth is on. */
/** @param {string} id @param {string | null} token */
export async function openBatch(id, token) {
  closeBatch();
  page?.leaveOtherViews();
  /** @type {Batch} */
  const batch = { id, token, source: null, rows: new Map(), ended: false };
  current = batch;
  $('batch-id').textContent = id;
  const share = /** @type {HTMLAnchorElement} */ ($('batch-share'));
  share.href = batchPageUrl(id, token);
  share.textContent = `${location.origin}${batchPageUrl(id, token)}`;
  $('batch-jobs').replaceChildren();
  $('batch').hidden = false;
  await refresh(batch);
}

/** Stops watching the batch on screen, if any, and hides its view. */
export function closeBatch() {
  current?.source?.close();
  current = null;
  $('batch').hidden = true;
}

/** Wires the batch form: paste texts (one per paragraph) or pick a file of them, then submit them all. */
/** @param {PageParts} parts */
export function initBatchView(parts) {
  page = parts;
  const box = /** @type {HTMLTextAreaElement} */ ($('batch-texts'));
  const count = () => {
    $('batch-count').textContent = String(texts().length);
  };
  box.addEventListener('input', count);
  /** @param {File | undefined} file */
  const load = async (file) => {
    if (!file) return;
    box.value = await file.text();
    count();
  };
  $('batch-file').addEventListener('change', (e) => void load(/** @type {HTMLInputElement} */ (e.target).files?.[0]));
  // A file dropped on the box fills it, as picking it does.
  box.addEventListener('dragover', (e) => e.preventDefault());
  box.addEventListener('drop', (e) => {
    const file = e.dataTransfer?.files[0];
    if (!file) return;
    e.preventDefault();
    void load(file);
  });
  $('batch-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const items = texts();
    if (items.length === 0) return parts.showProblem('Paste some texts, separated by a blank line, or pick a file of them.');
    parts.showProblem('');
    const sentences = parts.maxSentences();
    const button = $('batch-submit');
    button.setAttribute('aria-busy', 'true');
    try {
      const response = await fetch('/v1/batches', {
        method: 'POST',
        headers: parts.withKey({ 'Content-Type': 'application/json', Accept: 'application/json' }),
        body: JSON.stringify({
          items: items.map((text) => (sentences === null ? { text } : { text, options: { maxSentences: sentences } })),
        }),
      });
      if (!response.ok) {
        /** @type {{ error?: { message?: string } }} */
        const body = await response.json().catch(() => ({}));
        const message = body.error?.message ?? `Herald answered ${response.status}.`;
        if (response.status === 401) parts.askForKey('Submitting here needs an API key.');
        else parts.showProblem(`Herald could not take these texts: ${message}`);
        return;
      }
      const { batchId, watchToken } = await response.json();
      const token = typeof watchToken === 'string' && watchToken ? watchToken : null;
      history.pushState({ batchId }, '', batchPageUrl(batchId, token));
      await openBatch(batchId, token);
    } catch (error) {
      parts.showProblem(`Could not reach Herald: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      button.removeAttribute('aria-busy');
    }
  });
}
