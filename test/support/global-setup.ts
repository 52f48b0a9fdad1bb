import type { TestProject } from 'vitest/node';
import { startTestRedis } from './redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** One Redis for the integration run (a container in CI), handed to every file. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startTestRedis();
  console.log(`[herald tests] Redis ${redis.kind} on ${redis.url}`);
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
