/** A system under test, as the orchestrator drives it. */
export interface SystemUnderTest {
  readonly name: 'herald' | 'nchan';
  readonly redisUrl: string;
  /** Server processes whose CPU and RSS count (API replicas; nginx master + workers). */
  readonly serverPids: () => number[];
  /** Makes `count` channels (Herald: submits jobs) and returns their names. */
  createChannels(count: number): Promise<string[]>;
  /** The SSE URL of a channel, served by replica `replica` (modulo the replica count). */
  subscribeUrl(channel: string, replica: number): string;
  /** The publish URL template (Nchan), with {chan}. */
  readonly pubUrl?: string;
  /** Redis connections the servers hold, per replica. */
  redisConnectionsPerReplica(clientList: string): number;
  stop(): Promise<void>;
}
