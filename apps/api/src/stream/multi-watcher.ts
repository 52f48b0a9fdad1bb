import type { ServerResponse } from 'node:http';
import { STREAM_START, compareStreamIds, type StreamId } from '@herald/contract';
import { formatCursors } from './cursor.ts';
import { Backlog } from './backlog.ts';
import type { EventSink, FanoutEvent } from './fanout-event.ts';
import { eventHead } from './frames.ts';
import type { HistoryPages } from './history-pages.ts';
import type { WatcherEnd, WatcherLimits } from './watcher.ts';

/**
 * One SSE client following several jobs on one connection (GET /v1/events?jobs=…). It is
 * SseWatcher's gate once per job: each job has its own position, and an event passes when its
 * id is after its job's. The event's `id:` is the composite cursor — every job's position, in
 * the order of `?jobs=` — so one Last-Event-ID resumes every job where it was; that line is the
 * one part framed per connection (the JSON is the replica's, shared). The stream ends once
 * every job has had its terminal event (or had ended before the cursor). Per client: a position
 * and a sink per job, the response, and bounded holds — nothing that grows with time.
 */
export class MultiWatcher {
  readonly sinks: readonly EventSink[];
  readonly #res: ServerResponse;
  readonly #backlog: Backlog;
  readonly #limits: WatcherLimits;
  readonly #onEnd: (how: WatcherEnd) => void;
  readonly #positions: StreamId[];
  readonly #ended: boolean[];
  #open: number;
  #held: { job: number; event: FanoutEvent }[] | null = [];
  #finished = false;

  constructor(res: ServerResponse, jobIds: readonly string[], limits: WatcherLimits, onEnd: (how: WatcherEnd) => void) {
    this.#res = res;
    this.#backlog = new Backlog(res);
    this.#limits = limits;
    this.#onEnd = onEnd;
    this.#positions = jobIds.map(() => STREAM_START);
    this.#ended = jobIds.map(() => false);
    this.#open = jobIds.length;
    const positions = this.#positions;
    this.sinks = jobIds.map((_, job) => ({
      get position(): StreamId {
        return positions[job]!;
      },
      deliver: (event: FanoutEvent) => this.#deliver(job, event),
      cork: () => res.socket?.cork(),
      uncork: () => res.socket?.uncork(),
    }));
    res.once('close', () => this.#finish('client-left'));
  }

  get ended(): boolean {
    return this.#finished;
  }

  /** As SseWatcher's: since when its backlog has waited to drain (0: it has not). */
  get backlogSince(): number {
    return this.#backlog.since;
  }

  hasEnded(job: number): boolean {
    return this.#ended[job]!;
  }

  /** Where job `job` starts, and whether it has already ended for this client. */
  begin(job: number, position: StreamId, ended: boolean): void {
    this.#positions[job] = position;
    if (ended) this.#endJob(job);
  }

  /**
   * Sends the opening events (resyncs, already positioned), then each job's history in the order
   * of `?jobs=` (null: the job has ended for this client), a page at a time, then what arrived
   * meanwhile, then goes live; paced by the socket as SseWatcher's.
   */
  async start(opening: readonly FanoutEvent[], histories: readonly (HistoryPages | null)[]): Promise<void> {
    for (const event of opening) {
      await this.#backlog.writePaced(this.#frame(event));
      if (this.#finished) return;
    }
    if (this.#open === 0) return this.end('completed');
    for (const [job, history] of histories.entries()) {
      if (
        history &&
        !(await history.sendAll(
          (event) => this.#paced(job, event),
          () => this.cutOff(),
        ))
      )
        return;
    }
    for (let next = this.#held?.shift(); next; next = this.#held?.shift()) {
      if (!(await this.#paced(next.job, next.event))) return;
    }
    this.#held = null;
  }

  writeRaw(chunk: Buffer): void {
    if (!this.#finished) this.#write(chunk);
  }

  end(how: WatcherEnd): void {
    if (this.#finished) return;
    this.#res.end();
    this.#finish(how);
  }

  #deliver(job: number, event: FanoutEvent): void {
    if (this.#finished || this.#ended[job]) return;
    if (this.#held) {
      if (this.#held.length >= this.#limits.maxPendingEvents) this.cutOff();
      else this.#held.push({ job, event });
      return;
    }
    if (this.#advance(job, event)) this.#write(this.#frame(event));
    this.#endAfter(job, event);
  }

  async #paced(job: number, event: FanoutEvent): Promise<boolean> {
    if (this.#finished) return false;
    if (!this.#ended[job]) {
      if (this.#advance(job, event)) await this.#backlog.writePaced(this.#frame(event));
      this.#endAfter(job, event);
    }
    return !this.#finished;
  }

  /** The gate: whether the event is after its job's position (then the position moves to it). */
  #advance(job: number, event: FanoutEvent): boolean {
    if (compareStreamIds(event.position, this.#positions[job]!) <= 0) return false;
    this.#positions[job] = event.position;
    return true;
  }

  /** The event with the connection's composite cursor as its id; the data lines are the replica's, shared. */
  #frame(event: FanoutEvent): string {
    return eventHead(formatCursors(this.#positions), this.#limits.typed ? event.name : undefined) + event.dataLines;
  }

  #endAfter(job: number, event: FanoutEvent): void {
    if (event.terminal) {
      this.#endJob(job);
      // Whatever is still held belongs to jobs that have ended: nothing more to send.
      if (this.#open === 0) this.end('completed');
    }
  }

  #endJob(job: number): void {
    if (this.#ended[job]) return;
    this.#ended[job] = true;
    this.#open -= 1;
  }

  #write(chunk: Buffer | string): void {
    this.#backlog.write(chunk);
    if (this.#backlog.bytes > this.#limits.maxBacklogBytes) this.cutOff();
  }

  /** Cuts off a client too slow to read its events; it resumes from its cursor. */
  cutOff(): void {
    if (this.#finished) return;
    this.#finish('cut-off');
    this.#res.destroy();
  }

  #finish(how: WatcherEnd): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#held = null;
    this.#onEnd(how);
  }
}
