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
