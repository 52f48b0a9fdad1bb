import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative, resolve } from 'node:path';
import { loadConfig } from '@herald/shared';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// deploy/k8s: a kustomize base and an overlay per Redis topology. No cluster runs here, so each
// overlay is rendered with `kubectl kustomize` (no API server needed) and every object checked
// against the Kubernetes API's own JSON schemas, which kubernetes-models ships offline.

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const ROOT = resolve(import.meta.dirname, '../..');
const OVERLAYS = ['redis', 'redis-cluster', 'redis-sentinel'] as const;

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  /** A rendered manifest, read by field names below. */
  spec?: any;
  data?: Record<string, string>;
}

/** The schema each kind the manifests use is checked against; a kind not here fails the test. */
const MODELS: Record<string, new (object: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
};

function kustomize(dir: string, extra: readonly string[] = []): KubeObject[] {
  const run = spawnSync(KUBECTL, ['kustomize', ...extra, dir], { encoding: 'utf8' });
  if (run.error !== undefined) throw new Error(`${KUBECTL} kustomize ${dir}: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`${KUBECTL} kustomize ${dir} exited ${run.status}: ${run.stderr}`);
  return parseAllDocuments(run.stdout).map((document) => document.toJS() as KubeObject);
}

const one = (objects: KubeObject[], kind: string, name: string): KubeObject => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
};

/** A command's duration in ms when it is a node setTimeout pause (the preStop's form), else 0. */
function preStopMs(container: { lifecycle?: { preStop?: { exec?: { command?: string[] } } } }): number {
  const command = container.lifecycle?.preStop?.exec?.command ?? [];
  const pause = /setTimeout\(\(\) => \{\}, (\d+)\)/.exec(command.join(' '));
  return pause === null ? 0 : Number(pause[1]);
}

describe('deploy/k8s', () => {
  it(`needs kubectl at ${KUBECTL} (set KUBECTL to another path) to render the manifests`, () => {
    // Not a skip: without kubectl nothing below could say whether the manifests render.
    expect(existsSync(KUBECTL), `${KUBECTL} is missing: install kubectl, or set KUBECTL, to test deploy/k8s`).toBe(true);
  });

  describe.each(OVERLAYS)('overlays/%s', (overlay) => {
    const render = () => kustomize(join(ROOT, 'deploy/k8s/overlays', overlay));

    it('renders, and every object is valid against the Kubernetes API schema of its kind', () => {
      const objects = render();
      expect(objects.map((o) => o.kind).sort()).toEqual(
        [
          'ConfigMap',
          'Deployment',
          'Deployment',
          'HorizontalPodAutoscaler',
          'Ingress',
          'Ingress',
          'NetworkPolicy',
          'NetworkPolicy',
          'PodDisruptionBudget',
          'Service',
        ].sort(),
      );
      for (const object of objects) {
        const Model = MODELS[`${object.apiVersion}/${object.kind}`];
        expect(Model, `${object.apiVersion} ${object.kind} has no schema here`).toBeDefined();
        expect(() => new Model!(object as never).validate(), `${object.kind}/${object.metadata.name}`).not.toThrow();
      }
    });

    it('names exactly one Redis, which the shared config accepts', () => {
      const settings = one(render(), 'ConfigMap', 'herald-config').data ?? {};
      const given = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'].filter((name) => name in settings);
      expect(given).toHaveLength(1);
      expect(() => loadConfig({ ...settings })).not.toThrow();
    });

    it('probes the API on /readyz and /healthz of its own port, and the worker on METRICS_PORT /healthz', () => {
      const objects = render();
      const api = one(objects, 'Deployment', 'herald-api').spec.template.spec.containers[0];
      const port = api.ports.find((p: { name: string }) => p.name === api.readinessProbe.httpGet.port);
      expect(port?.containerPort).toBe(Number(api.env.find((e: { name: string }) => e.name === 'PORT').value));
      expect(api.readinessProbe.httpGet.path).toBe('/readyz');
      expect(api.livenessProbe.httpGet).toEqual({ path: '/healthz', port: api.readinessProbe.httpGet.port });

      const worker = one(objects, 'Deployment', 'herald-worker').spec.template.spec.containers[0];
      const metricsPort = Number(worker.env.find((e: { name: string }) => e.name === 'METRICS_PORT').value);
      const probed = worker.ports.find((p: { name: string }) => p.name === worker.livenessProbe.httpGet.port);
      expect(probed?.containerPort).toBe(metricsPort);
      expect(worker.livenessProbe.httpGet.path).toBe('/healthz');

      const service = one(objects, 'Service', 'herald-api');
      expect(service.spec.ports.map((p: { targetPort: string }) => p.targetPort)).toEqual([api.readinessProbe.httpGet.port]);
    });

    it('gives the API longer to stop than its preStop pause, DRAIN_SPREAD_MS and SHUTDOWN_GRACE_MS together, deployed or default', () => {
      const objects = render();
      const pod = one(objects, 'Deployment', 'herald-api').spec.template.spec;
      const deployed = loadConfig({ ...one(objects, 'ConfigMap', 'herald-config').data });
      const defaults = loadConfig({});
      const pause = preStopMs(pod.containers[0]);
      expect(pause).toBeGreaterThan(0);
      for (const config of [deployed, defaults]) {
        expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(pause + config.DRAIN_SPREAD_MS + config.SHUTDOWN_GRACE_MS);
      }
      const worker = one(objects, 'Deployment', 'herald-worker').spec.template.spec;
      expect(worker.terminationGracePeriodSeconds * 1000).toBeGreaterThan(deployed.SHUTDOWN_GRACE_MS);
    });

    it('points every *_FILE variable into a mounted Secret, at a key that Secret projects', () => {
      for (const name of ['herald-api', 'herald-worker']) {
        const pod = one(render(), 'Deployment', name).spec.template.spec;
        const secretVolumes = new Map<string, { items?: { path: string }[] }>(
          pod.volumes
            .filter((v: { secret?: unknown }) => v.secret !== undefined)
            .map((v: { name: string; secret: object }) => [v.name, v.secret]),
        );
        for (const container of pod.containers) {
          const files = container.env.filter((e: { name: string }) => e.name.endsWith('_FILE'));
          expect(files.length, `${name} reads no secret from a file`).toBeGreaterThan(0);
          for (const { name: variable, value } of files) {
            const mount = container.volumeMounts.find(
              (m: { name: string; mountPath: string }) => secretVolumes.has(m.name) && posix.dirname(value) === m.mountPath,
            );
            expect(mount, `${name}: ${variable}=${value} is in no mounted Secret`).toBeDefined();
            expect(mount.readOnly).toBe(true);
            const items = secretVolumes.get(mount.name)?.items;
            if (items !== undefined) expect(items.map((item) => item.path)).toContain(posix.basename(value));
          }
        }
      }
    });

    it('runs both as non-root on a read-only root filesystem, with requests and a memory limit', () => {
      for (const name of ['herald-api', 'herald-worker']) {
        const pod = one(render(), 'Deployment', name).spec.template.spec;
        expect(pod.securityContext.runAsNonRoot).toBe(true);
        expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
        for (const container of pod.containers) {
          expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
          expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
          expect(container.resources.limits.memory).toEqual(expect.any(String));
          expect(container.image).toMatch(name === 'herald-api' ? /^herald-api:/ : /^herald-worker:/);
        }
      }
    });

    it('sets ingress-nginx up for SSE: no buffering, HTTP/1.1, read and send timeouts of an hour or more', () => {
      const annotations = one(render(), 'Ingress', 'herald').metadata.annotations ?? {};
      const nginx = (key: string) => annotations[`nginx.ingress.kubernetes.io/${key}`];
      expect(nginx('proxy-buffering')).toBe('off');
      expect(nginx('proxy-http-version')).toBe('1.1');
      expect(Number(nginx('proxy-read-timeout'))).toBeGreaterThanOrEqual(3600);
      expect(Number(nginx('proxy-send-timeout'))).toBeGreaterThanOrEqual(3600);
    });

    it('keeps /metrics, /readyz and /admin off the public Ingress, on the same host as the rest', () => {
      const objects = render();
      const publicHosts = one(objects, 'Ingress', 'herald').spec.rules.map((rule: { host: string }) => rule.host);
      const operations = one(objects, 'Ingress', 'herald-operations');
      expect(operations.metadata.annotations?.['nginx.ingress.kubernetes.io/whitelist-source-range']).toBe('127.0.0.1/32');
      for (const rule of operations.spec.rules) {
        expect(publicHosts).toContain(rule.host);
        expect(rule.http.paths.map((p: { path: string }) => p.path).sort()).toEqual(['/admin', '/metrics', '/readyz']);
      }
    });
  });

  it('keeps the ServiceMonitors in a component, so the base renders without their CRD', () => {
    expect(kustomize(join(ROOT, 'deploy/k8s/base')).some((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'herald-k8s-'));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `resources: [${relative(dir, join(ROOT, 'deploy/k8s/overlays/redis'))}]\ncomponents: [${relative(dir, join(ROOT, 'deploy/k8s/components/service-monitor'))}]\n`,
    );
    const objects = kustomize(dir, ['--load-restrictor=LoadRestrictionsNone']);
    const monitors = objects.filter((o) => o.kind === 'ServiceMonitor');
    expect(monitors.map((m) => m.metadata.name).sort()).toEqual(['herald-api', 'herald-worker']);
    // Each scrapes a port some Service of this render names, on /metrics.
    for (const monitor of monitors) {
      const target = objects.find(
        (o) =>
          o.kind === 'Service' &&
          o.metadata.name !== undefined &&
          monitor.spec.selector.matchLabels['app.kubernetes.io/name'] === o.metadata.labels?.['app.kubernetes.io/name'],
      );
      expect(target, `${monitor.metadata.name} selects no Service`).toBeDefined();
      expect(target!.spec.ports.map((p: { name: string }) => p.name)).toContain(monitor.spec.endpoints[0].port);
      expect(monitor.spec.endpoints[0].path).toBe('/metrics');
      expect(() => new Service(target as never).validate()).not.toThrow();
    }
  });
});
