import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The response being written on `socket`, if any: node:http keeps it on the socket as
 * `_httpMessage` (`ServerResponse.assignSocket`, also for the bare path's responses) and reads it
 * there itself (its 'drain' forwarding, its default 'clientError' answer); it has no public
 * accessor. Requests pipelined behind it wait with their responses in node's queue.
 */
export function currentResponse(socket: Socket): ServerResponse | null {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? null;
}
