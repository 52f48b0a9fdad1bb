/** A system under test, as the orchestrator drives it. */
export interface SystemUnderTest {
  readonly name: 'herald' | 'nchan' | 'floor';
  /** A URL of the (first) Redis node, for tools that talk to one. */
  readonly redisUrl: string;
  /** What points Herald's processes at Redis (REDIS_URL, or REDIS_CLUSTER_NODES). */
  readonly redisEnv: Record<string, string>;
  /** Every Redis master, as host:port: where Redis's commands and CPU are counted. */
  readonly redisMasters: readonly string[];
  /** Server processes whose CPU and RSS count (API replicas; nginx master + workers). */
  readonly serverPids: () => number[];
  /** Makes `count` channels (Herald: submits jobs) and returns their names. */
  createChannels(count: number): Promise<string[]>;
  /** The SSE URL of a channel, served by replica `replica` (modulo the replica count). */
  subscribeUrl(channel: string, replica: number): string;
  /**
   * Makes `count` batches of `size` jobs each (Herald: POST /v1/batches); absent when the system
   * has nothing like a batch (Nchan).
   */
  createBatches?(count: number, size: number): Promise<{ batchId: string; jobIds: string[] }[]>;
  /** The SSE URL of a batch's stream (every event of its jobs and its own), served by replica `replica`. */
  batchSubscribeUrl?(batchId: string, replica: number): string;
  /** The publish URL template (Nchan), with {chan}. */
  readonly pubUrl?: string;
  /** The floor's processes (host:port), each sent every event over a `PUBLISH` connection. */
  readonly floorAddresses?: readonly string[];
  /** Redis connections the servers hold, per replica. */
  redisConnectionsPerReplica(clientList: string): number;
  stop(): Promise<void>;
}
