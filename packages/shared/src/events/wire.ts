// The pub/sub message a publish carries: "<streamId> <status> <eventJson>". The id and status
// ride in front so a replica can dedupe and spot the terminal event without parsing the JSON.

export interface WireEvent {
  readonly id: string;
  readonly status: string;
  readonly data: string;
}

export function decodeWireEvent(message: string): WireEvent | null {
  const first = message.indexOf(' ');
  const second = first < 0 ? -1 : message.indexOf(' ', first + 1);
  if (second < 0) return null;
  return {
    id: message.slice(0, first),
    status: message.slice(first + 1, second),
    data: message.slice(second + 1),
  };
}

/** Mirrors what publish-6.lua sends; used by tests and tools that publish by hand. */
export const encodeWireEvent = (event: WireEvent): string => `${event.id} ${event.status} ${event.data}`;
