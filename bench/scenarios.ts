export interface Scenario {
  readonly name: string;
  /** Connected SSE watchers, spread evenly over jobs and replicas. */
  readonly C: number;
  /** Jobs (channels). */
  readonly J: number;
  /** Events published per job; 0 = connect and measure memory only. */
  readonly E: number;
  /** Events per second per job; 0 = as fast as possible. */
  readonly rate: number;
  /**
   * Each event carries this many characters of a summary being written (`delta` + `offset`, and
   * for Herald the text so far in the snapshot), as a language model's are; 0: none.
   */
  readonly deltaChars?: number;
  /**
   * Jobs per batch: the J jobs are submitted as J / batchSize batches (POST /v1/batches) and the
   * C watchers watch batches' streams (GET /v1/batches/{id}/events: every event of the batch's
   * jobs and the batch's own), watcher i batch i mod (J / batchSize). Herald only.
   */
  readonly batchSize?: number;
  /** API replicas (Herald) and floor processes, instead of --replicas: what C needs. */
  readonly replicas?: number;
}

export const SCENARIOS: Record<string, Scenario> = {
  small: { name: 'small', C: 100, J: 10, E: 50, rate: 5 },
  wide: { name: 'wide', C: 5000, J: 500, E: 20, rate: 2 },
  hot: { name: 'hot', C: 1000, J: 10, E: 1000, rate: 0 },
  idle: { name: 'idle', C: 20000, J: 100, E: 0, rate: 0 },
  // A model writing 500 summaries at once, 10 watchers each, its tokens coalesced into 10 events
  // per second per job (STREAM_FLUSH_MS=100): 40 characters an event, 2,000 per summary.
  tokens: { name: 'tokens', C: 5000, J: 500, E: 50, rate: 10, deltaChars: 40 },
};

/**
 * The same summaries token by token, uncoalesced: 50 events per second per job of 8 characters.
 * Not in `all`: it is what `tokens` is measured against (docs/benchmarks.md).
 */
export const TOKENS_RAW: Scenario = { name: 'tokens-raw', C: 5000, J: 500, E: 250, rate: 50, deltaChars: 8 };

/**
 * 100 batches of 100 jobs (10,000 jobs), 2 watchers per batch on its stream (one per replica),
 * each job 5 `processing` events then `done`, one every 2 s: 60,000 job events in 12 s (5,000 a
 * second), each appended to its batch's stream too, with a batch event whenever the overall
 * figure moves. At one a second the two cores are saturated (publisher, subscriber, Redis and
 * the replicas together) and the latency measured is the queue's. Herald only: Nchan has no
 * batch stream. Not in `all`: `all` is the matrix measured against Nchan (docs/benchmarks.md);
 * this would add a Herald-only row and the setup of 10,000 jobs to every run of it.
 */
export const BATCH: Scenario = { name: 'batch', C: 200, J: 10_000, E: 6, rate: 0.5, batchSize: 100 };

/**
 * 100,000 watchers on this two-core machine, 10,000 jobs at one event per job per second (10 of
 * them). Six replicas, because a process may hold 20,000 open files here and each replica then
 * holds about 16,700 watchers; the load's 17 subscriber processes hold about 5,900 each. Not in
 * `all`: Herald only (Nchan's nginx would need its own configuration for it), and it saturates
 * both cores, which is the point (docs/benchmarks.md).
 */
export const C100K: Scenario = { name: 'c100k', C: 100_000, J: 10_000, E: 10, rate: 1, replicas: 6 };
