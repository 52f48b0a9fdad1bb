import type { RedisClient } from '../connection.ts';
import { keys } from '../keys.ts';
import { luaScript, replyTuple } from './load.ts';

const script = luaScript('stream-slots-2.lua');

/** Which replica's count for which IP; leases last `leaseMs`. */
export interface StreamSlotsScope {
  readonly ip: string;
  readonly replicaId: string;
  readonly leaseMs: number;
}

export type StreamSlotsOp =
  /** One more stream for this replica, unless the IP holds `limit` already. */
  | { readonly op: 'acquire'; readonly limit: number }
  /** One stream fewer. */
  | { readonly op: 'release' }
  /** Sets this replica's count for the IP to what it really holds, and renews its lease. */
  | { readonly op: 'assert'; readonly count: number };

export interface StreamSlotsReply {
  /** False only for an acquire over the limit. */
  readonly allowed: boolean;
  /** The IP's streams on every replica with a live lease, after the op. */
  readonly total: number;
}

/** stream-slots-2.lua: concurrent streams per client IP, each replica's count under a lease. */
export async function streamSlotsScript(redis: RedisClient, scope: StreamSlotsScope, op: StreamSlotsOp): Promise<StreamSlotsReply> {
  const value = op.op === 'acquire' ? op.limit : op.op === 'assert' ? op.count : '';
  const reply = await script.run(
    redis,
    [keys.streamSlots(scope.ip), keys.streamLeases(scope.ip)],
    [op.op, scope.replicaId, scope.leaseMs, value],
  );
  const [allowed, total] = replyTuple(script, reply, 2);
  return { allowed: Number(allowed) === 1, total: Number(total) };
}
