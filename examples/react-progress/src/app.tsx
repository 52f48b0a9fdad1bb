import { useEffect, useMemo, useState } from 'react';
import { createClient, type HeraldClient } from '@herald/client';
import { useBatch, useJob, useJobs, type JobState, type JobStates } from '@herald/react';
import { recordRender } from './record.ts';

const SAMPLE =
  'Bees live in colonies. Worker bees collect nectar from flowers. Bees turn nectar into honey. A hive can hold fifty thousand bees.';

/** A job or a batch as submitted: its id and, with auth on, its watch token (and a batch's jobs). */
interface Watched {
  readonly id: string;
  readonly token: string | undefined;
  readonly jobIds?: readonly string[];
}

export function App({ baseUrl }: { baseUrl: string }) {
  // One client for the app: it submits, and the hooks watch with it.
  const client = useMemo(() => createClient({ baseUrl }), [baseUrl]);
  const [job, setJob] = useState<Watched | null>(null);
  const [batch, setBatch] = useState<Watched | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  /** How the batch is watched: its own stream (useBatch), or its jobs as a list (useJobs). */
  const [watchWith, setWatchWith] = useState<'batch' | 'list'>('batch');
  useEffect(() => recordRender('app-mount', {}), []);

  async function submitText(text: string): Promise<void> {
    setProblem(null);
    try {
      const submitted = await client.submit({ kind: 'summarize', text });
      setJob({ id: submitted.jobId, token: submitted.watchToken });
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  }

  async function submitBatch(): Promise<void> {
    setProblem(null);
    try {
      const items = Array.from({ length: 10 }, (_, i) => ({ text: `${SAMPLE} This is text number ${i + 1}.` }));
      const submitted = await client.submitBatch({ items });
      setBatch({ id: submitted.batchId, token: submitted.watchToken, jobIds: submitted.jobIds });
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  }

  return (
    <main>
      <h1>Herald, from React</h1>
      {problem && (
        <p role="alert" data-testid="problem">
          {problem}
        </p>
      )}
      <TextForm onSubmit={submitText} />
      {job && <JobView client={client} watched={job} />}
      <section>
        <h2>A batch of 10</h2>
        <label>
          Watch it with{' '}
          <select data-testid="watch-with" value={watchWith} onChange={(event) => setWatchWith(event.target.value as 'batch' | 'list')}>
            <option value="batch">useBatch: the batch's stream</option>
            <option value="list">useJobs: its jobs on one connection</option>
          </select>
        </label>{' '}
        <button type="button" data-testid="batch-submit" onClick={() => void submitBatch()}>
          Summarize 10 texts
        </button>
        {batch && watchWith === 'batch' && <BatchView client={client} watched={batch} />}
        {batch && watchWith === 'list' && <ListView client={client} watched={batch} />}
      </section>
    </main>
  );
}

function TextForm({ onSubmit }: { onSubmit: (text: string) => Promise<void> }) {
  const [text, setText] = useState(SAMPLE);
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        void onSubmit(text);
      }}
    >
      <label>
        Text to summarize
        <textarea data-testid="text" value={text} onChange={(event) => setText(event.target.value)} rows={4} />
      </label>
      <button type="submit" data-testid="submit">
        Summarize
      </button>
    </form>
  );
}

/** One job: its bar, stage and message, the answer as it is written, then its result. */
function JobView({ client, watched }: { client: HeraldClient; watched: Watched }) {
  const job = useJob(watched.id, { client, token: watched.token });
  useEffect(() => recordRender('job', { jobId: watched.id, ...job }));
  return (
    <section data-testid="job" data-job-id={watched.id} data-status={job.status ?? ''} data-connection={job.connection}>
      <h2>Job {watched.id}</h2>
      <Bar label="Job progress" value={job.progress} testId="job-progress" />
      <p>
        <span data-testid="job-connection">{job.connection}</span> · <span data-testid="job-stage">{job.stage}</span> · {job.message}
      </p>
      <Answer job={job} />
    </section>
  );
}

/** The batch's overall bar and counts, and each job's row, all on the batch's one stream. */
function BatchView({ client, watched }: { client: HeraldClient; watched: Watched }) {
  const batch = useBatch(watched.id, { client, token: watched.token });
  useEffect(() => recordRender('batch', { batchId: watched.id, ...batch }));
  const counts = batch.counts;
  return (
    <div data-testid="batch" data-batch-id={watched.id} data-status={batch.status ?? ''} data-connection={batch.connection}>
      <Bar label="Batch progress" value={batch.progress} testId="batch-progress" />
      <p data-testid="batch-counts">
        {counts.done} done, {counts.processing} processing, {counts.queued} queued, {counts.error} failed, {counts.cancelled} cancelled ·{' '}
        {batch.connection}
      </p>
      <JobRows jobs={batch.jobs} testId="batch-jobs" />
    </div>
  );
}

/**
 * The batch's jobs as a list, on one GET /v1/events?jobs=… stream. The list is a new array at
 * every render (same ids: the stream stays); dropping the last job makes another list (reopened).
 */
function ListView({ client, watched }: { client: HeraldClient; watched: Watched }) {
  const [dropped, setDropped] = useState(0);
  const ids = (watched.jobIds ?? []).slice(0, (watched.jobIds?.length ?? 0) - dropped);
  const list = useJobs(ids, { client, token: watched.token });
  useEffect(() => recordRender('list', { ids, ...list }));
  return (
    <div data-testid="list" data-ids={ids.length} data-connection={list.connection}>
      <p>
        {ids.length} jobs on one connection · {list.connection}{' '}
        <button type="button" data-testid="list-drop" onClick={() => setDropped((n) => n + 1)}>
          Stop watching the last one
        </button>
      </p>
      <JobRows jobs={list.jobs} testId="list-jobs" />
    </div>
  );
}

function JobRows({ jobs, testId }: { jobs: JobStates; testId: string }) {
  return (
    <ol data-testid={testId}>
      {Object.entries(jobs).map(([jobId, job]) => (
        <li key={jobId} data-job-id={jobId} data-status={job.status ?? ''}>
          <Bar label={`Job ${jobId}`} value={job.progress} />
          <Answer job={job} />
        </li>
      ))}
    </ol>
  );
}

function Answer({ job }: { job: JobState }) {
  if (job.status === 'done') return <p data-testid="result">{typeof job.result === 'string' ? job.result : JSON.stringify(job.result)}</p>;
  if (job.error) return <p data-testid="error">{job.error.message}</p>;
  return <p data-testid="partial">{job.partial}</p>;
}

function Bar({ label, value, testId }: { label: string; value: number; testId?: string }) {
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={value}
      data-testid={testId}
      className="bar"
    >
      <div style={{ width: `${value}%` }} />
    </div>
  );
}
