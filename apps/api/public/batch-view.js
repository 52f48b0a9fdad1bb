// The demo page's batch view (docs/api.md, "Batches"): several texts submitted as one batch, and
// every job's bar and the overall bar kept live by one stream, the batch's, through
// @herald/client's watchBatch. Loaded by page.js, which hands it what the two views share (the
// clients, the problem box).

import { HeraldError } from './herald-client.js';

/** @typedef {import('./herald-client.js').HeraldClient} HeraldClient */
/** @typedef {import('./herald-client.js').BatchSnapshot} BatchSnapshot */

/**
 * What the batch view needs of the page.
 * @typedef {object} PageParts
 * @property {() => HeraldClient} keyed Herald with the API key, when the tab holds one (to submit)
 * @property {() => HeraldClient} unkeyed Herald without it (to watch, with the batch's watch token)
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
 * @property {AbortController} watching aborted when the view stops watching this batch
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

/**
 * The page's own address for a job or a batch; with auth on it carries the watch token, so it
 * can be shared. The token goes in the fragment (`#token=…`), which a browser never sends: it
 * stays out of every server's and proxy's logs, and out of a Referer.
 * @param {'jobs' | 'batches'} kind @param {string} id @param {string | null} token
 */
export const pageUrl = (kind, id, token) => `/${kind}/${encodeURIComponent(id)}${token ? `#token=${encodeURIComponent(token)}` : ''}`;

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
  link.href = pageUrl('jobs', jobId, batch.token);
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
 * One stream for the whole batch. The client reconnects by itself with Last-Event-ID (through
 * the load balancer, to whichever replica), so a replica going away mid-batch costs nothing; it
 * keeps trying for as long as the view is open, and ends after the batch's own end.
 * @param {Batch} batch
 */
async function watch(batch) {
  if (!page) return;
  try {
    const events = page.unkeyed().watchBatch(batch.id, {
      token: batch.token ?? undefined,
      signal: batch.watching.signal,
      maxRetries: Number.POSITIVE_INFINITY,
      maxBackoffMs: 10_000,
      onOpen: () => current === batch && setConnection(batch, 'live'),
      onReconnect: () => current === batch && setConnection(batch, 'reconnecting'),
    });
    for await (const item of events) {
      if (current !== batch) return;
      if (item.kind === 'job') {
        const { jobId, status, progress } = item.event;
        showJob(batch, jobId, status, JOB_ENDS.has(status) ? 100 : progress);
      } else if ('jobs' in item.event) {
        showSnapshot(batch, item.event); // a resync: the whole batch as it stands
      } else {
        showOverall(batch, item.event);
      }
    }
  } catch (error) {
    if (current !== batch || batch.watching.signal.aborted) return;
    if (!(error instanceof HeraldError)) throw error;
    page.showProblem(`Watching this batch stopped: ${error.message}`);
  }
}

/** The batch as it stands, then its stream. */
/** @param {Batch} batch */
async function refresh(batch) {
  if (!page) return;
  try {
    const snapshot = await page.unkeyed().batch(batch.id, batch.token ? { token: batch.token } : {});
    if (current !== batch) return;
    showSnapshot(batch, snapshot);
  } catch (error) {
    if (current !== batch) return;
    if (error instanceof HeraldError && error.status === 404) {
      return page.showProblem(`There is no batch ${batch.id} (it may have expired).`);
    }
    if (error instanceof HeraldError && error.status !== 0) return page.showProblem(`Herald answered ${error.status}: ${error.message}`);
    /* unreachable: the stream below retries by itself */
  }
  if (current === batch && !batch.ended) void watch(batch);
}

/** Shows batch `id` and keeps it live; `token`: the batch's watch token, when auth is on. */
/** @param {string} id @param {string | null} token */
export async function openBatch(id, token) {
  closeBatch();
  page?.leaveOtherViews();
  /** @type {Batch} */
  const batch = { id, token, watching: new AbortController(), rows: new Map(), ended: false };
  current = batch;
  $('batch-id').textContent = id;
  const share = /** @type {HTMLAnchorElement} */ ($('batch-share'));
  share.href = pageUrl('batches', id, token);
  share.textContent = `${location.origin}${pageUrl('batches', id, token)}`;
  $('batch-jobs').replaceChildren();
  $('batch').hidden = false;
  await refresh(batch);
}

/** Stops watching the batch on screen, if any, and hides its view. */
export function closeBatch() {
  current?.watching.abort();
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
      const { batchId, watchToken } = await parts.keyed().submitBatch({
        items: items.map((text) => (sentences === null ? { text } : { text, options: { maxSentences: sentences } })),
      });
      const token = watchToken || null;
      history.pushState({ batchId }, '', pageUrl('batches', batchId, token));
      await openBatch(batchId, token);
    } catch (error) {
      if (error instanceof HeraldError && error.status === 401) parts.askForKey('Submitting here needs an API key.');
      else if (error instanceof HeraldError && error.status !== 0) parts.showProblem(`Herald could not take these texts: ${error.message}`);
      else parts.showProblem(`Could not reach Herald: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      button.removeAttribute('aria-busy');
    }
  });
}
