import { STREAM_START, type StreamId } from '@herald/contract';
import type { StreamConnection } from './connection.ts';
import { formatCursors } from './cursor.ts';
import type { FanoutEvent } from './fanout-event.ts';
import { eventHead } from './frames.ts';
import type { HistoryPages } from './history-pages.ts';
import { TagGate } from './tag-gate.ts';
import { TopicGate, type GateOwner } from './topic-gate.ts';
import type { WatcherEnd, WatcherLimits } from './watcher-limits.ts';

/**
 * One SSE client, following 1 to n topics on one connection (a job's, a batch's, `?jobs=`).
 * Each topic has a gate (topic-gate.ts): its position and its end flag. Until `start` the
 * watcher holds live events aside; `start` sends the opening resyncs, then each topic's history
 * read after subscribing, then the held events, then goes live. A topic's terminal event ends
 * that topic whatever its gate said; the stream ends once every topic has.
 *
 * Two flags, one meaning each:
 * - `finished`: every topic has had its terminal event live; nothing more is written, and the
 *   connection's end waits its turn with the EndPacer.
 * - `ended`: the connection is over (completed, client left, cut off, drained) and that was
 *   reported, once; nothing happens to an ended watcher any more.
 *
 * Per client: the connection, a gate per topic, bounded holds — nothing that grows with time.
 */
export class Watcher implements GateOwner {
  readonly first: TopicGate;
  readonly #conn: StreamConnection;
  readonly #limits: WatcherLimits;
  readonly #onEnd: (watcher: Watcher, how: WatcherEnd) => void;
  /** Topics not done yet. */
  #open: number;
  /** Live events held during catch-up, as pairs (gate, event): no object per held event. */
  #held: (TopicGate | FanoutEvent)[] | null = [];
  #finished = false;
  #ended = false;

  /**
   * `topics`: the hub's topics, in the order of the composite cursor. With `limits.tag`, the one
   * topic is a tag's feed, whose gate sees only `only`'s jobs (null: every job).
   */
  constructor(
    conn: StreamConnection,
    topics: readonly string[],
    limits: WatcherLimits,
    onEnd: (watcher: Watcher, how: WatcherEnd) => void,
    only: string | null = null,
  ) {
    let next: TopicGate | null = null;
    if (limits.tag) next = new TagGate(this, topics[0]!, only);
    else for (let i = topics.length - 1; i >= 0; i -= 1) next = new TopicGate(this, topics[i]!, STREAM_START, next);
    this.first = next!;
    this.#conn = conn;
    this.#limits = limits;
    this.#onEnd = onEnd;
    this.#open = topics.length;
    conn.onClose(() => this.#finish('client-left'));
  }

  get ended(): boolean {
    return this.#ended;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** The gates in topic order (a new array: for setting up and tearing down, not per event). */
  get gates(): TopicGate[] {
    const gates: TopicGate[] = [];
    for (let gate: TopicGate | null = this.first; gate !== null; gate = gate.next) gates.push(gate);
    return gates;
  }

  /** Since when its backlog has waited to drain (0: it has not); the registry cuts it off past SSE_WRITE_DEADLINE_MS. */
  get backlogSince(): number {
    return this.#conn.backlogSince;
  }

  /** Where a topic starts for this client, and whether it has already ended for it (before `start`). */
  begin(gate: TopicGate, position: StreamId, done: boolean): void {
    gate.position = position;
    if (done && !gate.done) {
      gate.done = true;
      this.#open -= 1;
    }
  }

  /** A live event of the gate's topic (the hub's, through the gate). */
  take(gate: TopicGate, event: FanoutEvent): void {
    if (this.#ended || gate.done) return;
    if (this.#limits.tag && !(gate as TagGate).admits(event)) return;
    const held = this.#held;
    if (held) {
      if (held.length >= 2 * this.#limits.maxPendingEvents) this.cutOff();
      else held.push(gate, event);
      return;
    }
    if (gate.pass(event)) this.#write(this.#frameOf(gate, event));
    // Sent at once, with this tick's other events; the connection's end may wait its turn.
    if (event.terminal && this.#topicDone(gate)) {
      this.#finished = true;
      (this.#limits.endFinished ?? endAtOnce)(() => this.end('completed'));
    }
  }

  /**
   * Sends the opening events (resyncs, already positioned), then each topic's history in order
   * (null: the topic is done), a page at a time, then what arrived meanwhile, then goes live.
   * The history is paced by the socket ('drain') rather than cut off at the backlog bound: a
   * client resuming far behind must be able to catch up, as long as its backlog keeps draining
   * (SSE_WRITE_DEADLINE_MS). Live events wait aside meanwhile, within their own bound.
   */
  async start(opening: readonly FanoutEvent[], histories: readonly (HistoryPages | null)[]): Promise<void> {
    for (const event of opening) {
      await this.#conn.writePaced(this.#frameOf(this.first, event));
      if (this.#ended) return;
    }
    if (this.#open === 0) return this.end('completed');
    let gate: TopicGate | null = this.first;
    for (let i = 0; gate !== null; i += 1, gate = gate.next) {
      const history = histories[i];
      const at = gate;
      if (
        history &&
        !(await history.sendAll(
          (event) => this.#paced(at, event),
          () => this.cutOff(),
        ))
      )
        return;
    }
    for (let held = this.#held; held !== null && held.length > 0; held = this.#held) {
      const heldGate = held.shift() as TopicGate;
      if (!(await this.#paced(heldGate, held.shift() as FanoutEvent))) return;
    }
    this.#held = null;
  }

  cork(): void {
    this.#conn.cork();
  }

  uncork(): void {
    this.#conn.uncork();
  }

  /** Writes a buffer shared by all watchers (heartbeats, drain notices). */
  writeRaw(chunk: Buffer): void {
    if (!this.#ended && !this.#finished) this.#write(chunk);
  }

  /** Ends the stream: after the terminal events, or when draining (the client then reconnects). */
  end(how: WatcherEnd): void {
    if (this.#ended) return;
    this.#conn.end();
    this.#finish(how);
  }

  /** Cuts off a client too slow to read its events; it resumes from its cursor. */
  cutOff(): void {
    if (this.#ended) return;
    // Destroy rather than end: a slow client's queued bytes are dropped, not drained.
    this.#finish('cut-off');
    this.#conn.destroy();
  }

  /** Sends one catch-up event, waiting for the socket to drain when it is full; a terminal one ends its topic at once. */
  async #paced(gate: TopicGate, event: FanoutEvent): Promise<boolean> {
    if (this.#ended) return false;
    if (!gate.done) {
      if (gate.pass(event)) await this.#conn.writePaced(this.#frameOf(gate, event));
      // Sent or not (a cursor at or past it: one from the future holds no stream open for ever).
      if (event.terminal && this.#topicDone(gate)) this.end('completed');
    }
    return !this.#ended;
  }

  /** Marks the gate's topic done; whether that was the last one (whatever is still held belongs to done topics). */
  #topicDone(gate: TopicGate): boolean {
    gate.done = true;
    this.#open -= 1;
    return this.#open === 0;
  }

  #frameOf(gate: TopicGate, event: FanoutEvent): Buffer | string {
    const limits = this.#limits;
    // The data lines are the replica's, shared; only the `id:` line is this connection's, where it is its own.
    if (limits.composite) return eventHead(formatCursors(this.first), limits.typed ? event.name : undefined) + event.dataLines;
    if (limits.tag) {
      const own = (gate as TagGate).cursorOf(event);
      if (own !== null) return eventHead(own, limits.typed ? event.name : undefined) + event.dataLines;
    }
    return limits.typed ? event.typedFrame : event.frame;
  }

  #write(chunk: Buffer | string): void {
    this.#conn.write(chunk);
    if (this.#conn.backlogBytes > this.#limits.maxBacklogBytes) this.cutOff();
  }

  #finish(how: WatcherEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#held = null;
    this.#onEnd(this, how);
  }
}

const endAtOnce = (end: () => void): void => end();
