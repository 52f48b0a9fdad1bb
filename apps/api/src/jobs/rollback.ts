import { redisCall } from '../http/deadline.ts';

/**
 * What a submission undoes when one of its steps fails (Redis out of memory, or not answering):
 * its first events and snapshots, its chores, its queue entries, so that no job is left
 * `queued` for ever with nothing to run it. Each undo is registered before its step runs, since
 * a step that timed out may still have landed. Undoing is DEL and BullMQ's removal, which Redis
 * takes even at its memory limit (docs/api.md, "Redis").
 */
export class Rollback {
  readonly #undos: (() => Promise<unknown>)[] = [];

  /** The undo of the step about to run. */
  add(undo: () => Promise<unknown>): void {
    this.#undos.push(undo);
  }

  /** Runs every undo, the latest first, each within the Redis deadline; a failed undo is skipped. */
  async run(): Promise<void> {
    for (const undo of this.#undos.reverse()) await redisCall(undo()).catch(() => {});
  }
}
