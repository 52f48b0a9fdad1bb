import { createServer, type Socket } from 'node:net';

// The floor (bench `--compare floor`): the least a fan-out of these events can cost on this
// machine. A raw node:net server: no Redis, no HTTP parser (it reads a watcher's request line
// and skips the rest of the head), no framework. A watcher's socket gets the same head and the
// same frames Herald sends; a publisher's connection (its first line is `PUBLISH`) sends lines of
// `<channel> <json>`, each framed once and written to that channel's sockets, which end after
// the channel's terminal event, as Herald's streams do. Everything Herald adds on top of this
// — Redis, the durable log, HTTP parsing, auth, limits, resume — is what Herald ÷ floor measures.

const HEAD = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache, no-transform\r\n' +
    'X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: 3000\n\n',
);
const REQUEST_LINE = /^GET \/v1\/jobs\/([^/\s]+)\/events[^\s]* HTTP\/1\.1\r\n/;

const channels = new Map<string, Set<Socket>>();
const ids = new Map<string, number>();

function watch(socket: Socket, channel: string): void {
  const set = channels.get(channel) ?? new Set<Socket>();
  channels.set(channel, set);
  set.add(socket);
  socket.on('close', () => set.delete(socket));
  socket.write(HEAD);
}

function publish(line: string): void {
  const space = line.indexOf(' ');
  const channel = line.slice(0, space);
  const json = line.slice(space + 1);
  const id = (ids.get(channel) ?? 0) + 1;
  ids.set(channel, id);
  const frame = Buffer.from(`id: ${id}\ndata: ${json}\n\n`);
  const watchers = channels.get(channel);
  if (!watchers) return;
  const terminal = json.includes('"status":"done"');
  for (const socket of watchers) {
    socket.write(frame);
    if (terminal) socket.end();
  }
  if (terminal) channels.delete(channel);
}

const server = createServer({ noDelay: true }, (socket) => {
  let head = '';
  const onData = (chunk: Buffer): void => {
    head += chunk.toString('latin1');
    if (head.startsWith('PUBLISH\n')) {
      socket.off('data', onData);
      let rest = head.slice('PUBLISH\n'.length);
      socket.setEncoding('utf8');
      const take = (text: string): void => {
        rest += text;
        for (let end = rest.indexOf('\n'); end >= 0; end = rest.indexOf('\n')) {
          publish(rest.slice(0, end));
          rest = rest.slice(end + 1);
        }
      };
      socket.on('data', take);
      take('');
      return;
    }
    if (!head.includes('\r\n\r\n')) return;
    socket.off('data', onData);
    const match = REQUEST_LINE.exec(head);
    if (!match) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    watch(socket, decodeURIComponent(match[1]!));
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
});

server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.({ type: 'listening' }));
process.on('SIGTERM', () => process.exit(0));
