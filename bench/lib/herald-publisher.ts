import type { PublisherReport, PublisherTask } from '../load/protocol.ts';
import { forkLoad, nextMessage } from './children.ts';

type Published = Extract<PublisherReport, { type: 'published' }>;

/**
 * A publisher process on Herald's Redis, warmed up (outside any measurement), then told to go:
 * `events` per channel at `rate` a second. What the soak and the drain bench share; resolves
 * once it has started, with the promise of its `published` report.
 */
export async function startHeraldPublisher(
  options: { redisUrl: string; channels: readonly string[]; warmupChannel: string; events: number; rate: number },
  timeoutMs: number,
): Promise<{ published: Promise<Published> }> {
  const publisher = forkLoad('publisher.ts');
  const task: PublisherTask = {
    type: 'publish',
    system: 'herald',
    channels: options.channels,
    warmupChannel: options.warmupChannel,
    events: options.events,
    rate: options.rate,
    deltaChars: 0,
    redisEnv: { REDIS_URL: options.redisUrl },
  };
  const warm = nextMessage(publisher, 'warm', timeoutMs);
  publisher.send(task);
  await warm;
  const published = nextMessage<Published>(publisher, 'published', timeoutMs);
  publisher.send({ type: 'go' });
  return { published };
}
