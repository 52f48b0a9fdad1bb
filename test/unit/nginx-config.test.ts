import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NGINX_CONFIG, renderNginxConfig } from '../../scripts/stack/nginx.ts';
import { ensureLocalCert } from '../../scripts/tls/local-cert.ts';
import { canRun } from '../support/requirements.ts';

const source = readFileSync(NGINX_CONFIG, 'utf8');
const layout = {
  listenPort: 18080,
  tlsPort: 18443,
  tlsDir: '/tmp/herald-x/tls',
  opsPort: 18090,
  upstreamPorts: [18081, 18082],
  runtimeDir: '/tmp/herald-x',
};

describe('the load balancer config npm run stack derives from the compose one', () => {
  const rendered = renderNginxConfig(source, layout);
  const unmarked = (text: string) => text.split('\n').filter((line) => !line.includes('# stack:') && !line.includes('server 127.0.0.1:'));

  it('keeps every SSE-relevant line as compose has it', () => {
    expect(unmarked(rendered)).toEqual(unmarked(source));
    for (const directive of ['proxy_buffering off;', 'proxy_http_version 1.1;', 'proxy_read_timeout 1h;']) {
      expect(rendered).toContain(directive);
    }
    expect(rendered).not.toMatch(/gzip_types[^;]*event-stream/);
    expect(rendered).not.toMatch(/^\s*(ip_hash|hash|sticky)\b/m);
  });

  it('changes only ports and runtime paths', () => {
    expect(rendered).toContain('listen 127.0.0.1:18080;');
    expect(rendered).toContain('listen 127.0.0.1:18443 ssl http2;');
    expect(rendered).toContain('listen 127.0.0.1:18090;');
    expect(rendered).toContain('ssl_certificate /tmp/herald-x/tls/cert.pem;');
    expect(rendered).not.toContain('/etc/herald/tls');
    expect(rendered.match(/server 127\.0\.0\.1:\d+/g)).toEqual(['server 127.0.0.1:18081', 'server 127.0.0.1:18082']);
    expect(rendered).toContain('pid /tmp/herald-x/nginx.pid;');
    expect(rendered).not.toContain('/tmp/herald-nginx');
  });

  const haveNginx = canRun('the nginx config check', [
    spawnSync('nginx', ['-v']).status !== 0 && 'no nginx on the PATH (apt-get install nginx-light)',
  ]);
  it.runIf(haveNginx)('is a config nginx accepts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-nginx-test-'));
    const file = join(dir, 'nginx.conf');
    const tlsDir = join(dir, 'tls');
    ensureLocalCert(tlsDir);
    writeFileSync(file, renderNginxConfig(source, { ...layout, runtimeDir: dir, tlsDir }));
    const result = spawnSync('nginx', ['-t', '-p', dir, '-c', file], { encoding: 'utf8' });
    expect(result.stderr).toContain('test is successful');
  });
});

/** A block of the config: its head (`server`, `location ~ ^/x$`…), its own directives, its blocks. */
interface Block {
  readonly head: string;
  readonly directives: string[];
  readonly blocks: Block[];
}

/** nginx's syntax as far as this file uses it: directives end in `;`, blocks in braces, `#` comments. */
function parse(text: string): Block {
  // A quoted string, a brace or `;`, a comment (to the end of its line), or a word.
  const tokens = (text.match(/'[^']*'|"[^"]*"|[{};]|#[^\n]*|[^\s{};'"#]+/g) ?? []).filter((token) => !token.startsWith('#'));
  const root: Block = { head: '', directives: [], blocks: [] };
  const stack = [root];
  let words: string[] = [];
  for (const token of tokens) {
    const top = stack.at(-1)!;
    if (token === '{') {
      const block = { head: words.join(' '), directives: [], blocks: [] };
      top.blocks.push(block);
      stack.push(block);
      words = [];
    } else if (token === '}') {
      stack.pop();
    } else if (token === ';') {
      top.directives.push(words.join(' '));
      words = [];
    } else words.push(token);
  }
  return root;
}

const http = parse(source).blocks.find((block) => block.head === 'http')!;
const servers = http.blocks.filter((block) => block.head === 'server');
const listensOn = (server: Block, port: string) =>
  server.directives.some((d) => d.startsWith('listen ') && d.split(' ')[1]!.endsWith(port));
const publicServer = servers.find((server) => listensOn(server, '8080'))!;
const opsServer = servers.find((server) => listensOn(server, '8090'))!;

/** The location nginx picks for `path`: `=` exact, else the first matching regex, else the longest prefix. */
function locationFor(server: Block, path: string): Block {
  const locations = server.blocks.filter((block) => block.head.startsWith('location '));
  const args = (block: Block) => block.head.split(' ').slice(1);
  const exact = locations.find((block) => args(block)[0] === '=' && args(block)[1] === path);
  if (exact) return exact;
  const regex = locations.find((block) => {
    const [modifier, pattern] = args(block);
    return (modifier === '~' || modifier === '~*') && new RegExp(pattern!, modifier === '~*' ? 'i' : '').test(path);
  });
  if (regex) return regex;
  const prefixes = locations.filter((block) => args(block).length === 1 && path.startsWith(args(block)[0]!));
  return prefixes.sort((a, b) => args(b)[0]!.length - args(a)[0]!.length)[0]!;
}
const named = (server: Block, name: string) => server.blocks.find((block) => block.head === `location ${name}`)!;

describe('the load balancer config, route by route', () => {
  it('quiets the error log (crit) on every route a watch token reaches in the query', () => {
    // nginx's error lines quote the request line, query included.
    for (const path of [
      '/v1/jobs/j1',
      '/v1/jobs/j1/',
      '/v1/batches/b1',
      '/jobs/j1',
      '/batches/b1',
      '/v1/jobs/j1/events',
      '/v1/batches/b1/events',
      '/v1/events',
    ]) {
      expect(locationFor(publicServer, path).directives, path).toContain('error_log stderr crit');
    }
    expect(http.directives.concat(publicServer.directives).filter((d) => d.startsWith('error_log'))).toEqual([]);
    expect(parse(source).directives).toContain('error_log stderr warn');
  });

  it("gives the streams' retry hint to GET only: a producer's POST on the same path gets the replica's answer", () => {
    const events = locationFor(publicServer, '/v1/jobs/j1/events');
    expect(events.directives).toContain('error_page 502 503 504 = @stream_later');
    const methodSwitch = events.blocks.find((block) => block.head === 'if ($request_method != GET)');
    expect(methodSwitch?.directives).toEqual(['return 418']);
    expect(events.directives).toContain('error_page 418 = @publish');
    expect(events.directives).toContain('recursive_error_pages on');
    const publish = named(publicServer, '@publish');
    expect(publish.directives).toEqual(['proxy_pass http://herald_api', 'error_page 502 504 = @unavailable']);
  });

  it('refuses /metrics, /readyz and /admin on the public server, in any case; the operations server, on loopback, serves them', () => {
    for (const path of ['/metrics', '/METRICS', '/readyz', '/readyz/', '/admin', '/admin/api/queues', '/Admin']) {
      expect(locationFor(publicServer, path).directives, path).toContain(
        `return 404 '{"error":{"code":"not_found","message":"No such route"}}'`,
      );
    }
    for (const path of ['/', '/healthz', '/metricsx', '/administrator', '/v1/jobs', '/jobs/metrics']) {
      expect(locationFor(publicServer, path).directives, path).toContain('proxy_pass http://herald_api');
    }
    expect(opsServer.directives.filter((d) => d.startsWith('listen '))).toEqual(['listen 127.0.0.1:8090']);
    for (const path of ['/metrics', '/readyz', '/admin']) {
      expect(locationFor(opsServer, path).directives, path).toContain('proxy_pass http://herald_api');
    }
  });
});
