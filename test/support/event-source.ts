import { EventSource, type EventSourceInit } from 'eventsource';
import { isTerminal } from '@herald/contract';
import type { ReceivedEvent } from './sse-client.ts';

/** A real EventSource (the `eventsource` package, as a browser's) watching one job to its end. */
export interface WatchingSource {
  readonly source: EventSource;
  /** Every message, in order, across reconnects. */
  readonly events: ReceivedEvent[];
  /** Resolves at the terminal event, after which the source is closed. */
  readonly finished: Promise<void>;
  readonly opens: () => number;
  readonly errors: () => number;
}

/**
 * Opens `url` and keeps every message; it reconnects by itself with Last-Event-ID, as the
 * seed's browser client would. `init.fetch` can reroute its requests (a load balancer's part).
 */
export function watchWithEventSource(url: string, init?: EventSourceInit): WatchingSource {
  const source = new EventSource(url, init);
  const events: ReceivedEvent[] = [];
  let opens = 0;
  let errors = 0;
  source.onopen = () => {
    opens += 1;
  };
  source.onerror = () => {
    errors += 1;
  };
  const finished = new Promise<void>((resolve) => {
    source.onmessage = (message) => {
      const json = JSON.parse(message.data);
      events.push({ id: message.lastEventId, data: message.data, json });
      if (isTerminal(json.status)) {
        source.close();
        resolve();
      }
    };
  });
  return { source, events, finished, opens: () => opens, errors: () => errors };
}
