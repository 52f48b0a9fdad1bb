import { createHash, createHmac } from 'node:crypto';
import { TAG_PATTERN } from '@herald/contract';

// How a BullMQ job is named on Herald's side (docs/api.md, "The BullMQ bridge"): its tag, which
// anyone can compute from the queue and the BullMQ job id, and its Herald job id, which a
// restarted bridge computes again and so finds the same job.

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8');

/**
 * `bullmq:<queue>:<bullmq job id>`; when that would break the tag rule (TAG_PATTERN: at most 64
 * of [A-Za-z0-9:_.-]), `bullmq:` and the first 40 hex characters of its SHA-256 instead.
 */
export function bullmqTag(queue: string, bullmqJobId: string): string {
  const tag = `bullmq:${queue}:${bullmqJobId}`;
  return TAG_PATTERN.test(tag) ? tag : `bullmq:${sha256(tag).digest('hex').slice(0, 40)}`;
}

/**
 * The Herald job id of a BullMQ job: 22 characters of base64url of a SHA-256 of the queue's
 * prefix, its name and the BullMQ job id (a Herald job id may not begin with '-': that one
 * becomes '_').
 */
export function bridgedJobId(prefix: string, queue: string, bullmqJobId: string): string {
  const id = sha256(`herald-bullmq-bridge:v1\n${prefix}\n${queue}\n${bullmqJobId}`).digest('base64url').slice(0, 22);
  return id.startsWith('-') ? `_${id.slice(1)}` : id;
}

/**
 * An API key's id, as the API derives it to own jobs (apps/api/src/auth/api-keys.ts, `digest`:
 * the first 12 hex characters of HMAC-SHA256 keyed with WATCH_TOKEN_SECRET);
 * test/unit/bullmq-bridge.test.ts holds the two to the same answer.
 */
export function apiKeyId(watchTokenSecret: string, apiKey: string): string {
  return createHmac('sha256', watchTokenSecret).update(`herald-key-id:v1:${apiKey}`, 'utf8').digest('hex').slice(0, 12);
}
