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
