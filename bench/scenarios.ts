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
}

export const SCENARIOS: Record<string, Scenario> = {
  small: { name: 'small', C: 100, J: 10, E: 50, rate: 5 },
  wide: { name: 'wide', C: 5000, J: 500, E: 20, rate: 2 },
  hot: { name: 'hot', C: 1000, J: 10, E: 1000, rate: 0 },
  idle: { name: 'idle', C: 20000, J: 100, E: 0, rate: 0 },
};
