import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureLocalCert } from '../../scripts/tls/local-cert.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
/** What `npm run cert` makes, and compose's nginx mounts for its TLS port. */
export const EDGE_CERT = ensureLocalCert(`${ROOT}deploy/nginx/tls`);

/**
 * docker-compose on the repository's docker-compose.yml (and `files` on top of it, e.g.
 * docker-compose.redis-cluster.yml), under a project name of the test's.
 */
export function composeProject(project: string, env: Record<string, string>, files: readonly string[] = []) {
  const fileArgs = files.length === 0 ? [] : ['-f', 'docker-compose.yml', ...files.flatMap((file) => ['-f', file])];
  const compose = async (...args: string[]): Promise<string> => {
    const { stdout } = await run('docker-compose', [...fileArgs, '-p', project, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 64 << 20,
    });
    return stdout;
  };
  const container = async (service: string): Promise<string> => {
    const id = (await compose('ps', '-q', service)).trim();
    if (!id) throw new Error(`no container for ${service}`);
    return id;
  };
  const inspect = async (service: string, format: string): Promise<string> => {
    const { stdout } = await run('docker', ['inspect', '-f', format, await container(service)]);
    return stdout.trim();
  };
  return { compose, container, inspect };
}

/** Polls until `check` returns a value, or throws with `what` after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
