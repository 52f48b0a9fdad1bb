import type { RedisClient } from '../connection.ts';
import { keys } from '../keys.ts';
import { luaScript } from './load.ts';

const script = luaScript('webhook-host-slots-1.lua');

export interface WebhookHostSlot {
  /** The receiver's host, as hostKey writes it. */
  readonly host: string;
  /** The delivery's own id (its chore's), the same on each try. */
  readonly deliveryId: string;
  /** How long the slot is held should its worker die without releasing it. */
  readonly leaseMs: number;
}

/** webhook-host-slots-1.lua: takes one of the host's `limit` delivery slots; false when all are taken. */
export async function takeWebhookHostSlot(redis: RedisClient, slot: WebhookHostSlot, limit: number): Promise<boolean> {
  const reply = await script.run(redis, [keys.webhookHostSlots(slot.host)], [slot.deliveryId, slot.leaseMs, limit]);
  return Number(reply) === 1;
}

/** Gives the slot back as the delivery ends. */
export async function releaseWebhookHostSlot(redis: RedisClient, slot: WebhookHostSlot): Promise<void> {
  await redis.zrem(keys.webhookHostSlots(slot.host), slot.deliveryId);
}
