import { z } from 'zod';
import { readSecretFiles } from './config-secret-files.ts';
import { redactUrl } from './logger.ts';

// Every setting of API and worker, parsed once at start-up. Both apps parse the whole set so
// `npm start` (both in one process) and the split commands read the environment the same way.

const int = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(fallback);

/** A comma-separated list; blanks around items and empty items are dropped. */
const list = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  );

/** `host:port` items, e.g. Redis Cluster seed nodes or Sentinels. */
const hostPorts = list.pipe(
  z.array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'must be host:port items, comma-separated')),
);

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .default('false')
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/** A secret's file (Docker and Kubernetes secrets): read by loadConfig instead of the variable itself (config-secret-files.ts). */
const secretFile = z.string().min(1).optional();

/** The Redis Herald uses when nothing says otherwise. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export const configSchema = z.object({
  // Where Redis is (docs/api.md, "Redis"): exactly one of a URL (one Redis), Cluster seed nodes,
  // or Sentinels with the name of their master set.
  /** One Redis: redis:// or rediss://, with user:password@ if needed. The default when no other is set. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  /** A Redis Cluster: some of its nodes (the rest are discovered). */
  REDIS_CLUSTER_NODES: hostPorts,
  /** Redis behind Sentinel: the Sentinels, and the master set they watch. */
  REDIS_SENTINELS: hostPorts,
  REDIS_SENTINEL_NAME: z.string().min(1).optional(),
  /** Credentials for every Redis node (with a URL they may also be in it). */
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_PASSWORD_FILE: secretFile,
  /** The Sentinels' own password, when they have one. */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD_FILE: secretFile,
  /** TLS to every Redis node (a rediss:// URL turns it on too). */
  REDIS_TLS: flag,
  /** A PEM file of the CA(s) that signed Redis's certificates, when not a public CA. */
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  /**
   * With replicas (a Cluster's, Sentinel's): a job's end is written to this many replicas before
   * Herald goes on (WAIT, up to REDIS_WAIT_TIMEOUT_MS), so a master killed at that instant cannot
   * lose it. 0: don't wait. Replicas that do not answer in time pause the waiting for 10 s.
   */
  REDIS_WAIT_REPLICAS: int(0, 0, 10),
  REDIS_WAIT_TIMEOUT_MS: int(250, 10, 10_000),
  PORT: int(8080, 0, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  HEARTBEAT_MS: int(15_000, 100),
  SSE_RETRY_MS: int(3_000, 0),
  /**
   * A draining replica spreads its watchers' reconnects over this window: each gets its own
   * `retry:` between SSE_RETRY_MS and SSE_RETRY_MS + this, evenly, so they do not all land on the
   * survivors in the same instant (0: everyone gets SSE_RETRY_MS, as before).
   */
  DRAIN_SPREAD_MS: int(5_000, 0, 600_000),
  /**
   * Streams a replica ends per second once their job's terminal event is sent (the event itself
   * goes at once): jobs finishing together have their streams ended over a moment instead of in
   * one burst that would delay other jobs' events. 0: end each at once.
   */
  STREAM_END_RATE: int(2_000, 0, 1_000_000),
  /**
   * How an event stream's request head is read: `bare` reads a plain one off the socket without
   * node:http's parser (about half of what a watcher costs, docs/benchmarks.md), `node` leaves
   * every request to node:http. `bare` leans on node:http internals (apps/api/src/http/bare/):
   * `node` is the way out should a Node release break them.
   */
  STREAM_READER: z.enum(['bare', 'node']).default('bare'),
  SSE_MAX_BACKLOG_BYTES: int(1 << 20, 1024),
  /**
   * A client whose unsent backlog has not drained for this long is cut off, history included
   * (it resumes from its cursor): a reader that stops reading holds its page and its backlog no
   * longer than this (checked by the heartbeat sweep, so up to HEARTBEAT_MS later).
   */
  SSE_WRITE_DEADLINE_MS: int(30_000, 100, 3_600_000),
  /**
   * Events per history read (XRANGE … COUNT): a watcher catching up holds at most one page, and
   * reads the next once its socket has drained, so a long history never sits whole in the
   * replica's memory or in one Redis reply per reader.
   */
  HISTORY_PAGE_EVENTS: int(100, 1, 1_000),
  MAX_SSE_CLIENTS: int(50_000, 1),
  MAX_TEXT_CHARS: int(100_000, 1),
  /** The most items one batch may hold (POST /v1/batches). */
  MAX_BATCH_ITEMS: int(1_000, 1, 10_000),
  /** The most jobs one multi-job stream may follow (GET /v1/events?jobs=…). */
  MAX_JOBS_PER_STREAM: int(100, 1, 1_000),
  JOB_TTL_SECONDS: int(86_400, 1),
  /** How long past JOB_TTL_SECONDS a listing's index entry may outlive its job's submission (GET /v1/jobs). */
  JOB_INDEX_GRACE_SECONDS: int(7 * 86_400, 0, 30 * 86_400),
  STREAM_MAXLEN: int(1_000, 10),
  /**
   * The entries one tag's feed keeps (XADD MAXLEN ~; docs/api.md, "A tag's stream"): every event
   * of the tag's jobs, each as its job's Stream holds it. A stream that needs entries trimmed
   * away is told so (`resync`).
   */
  TAG_FEED_MAXLEN: int(10_000, 100, 1_000_000),
  /**
   * The bytes one tag's feed holds at most (its entries' JSON, status and job id), whatever their
   * count: TAG_FEED_MAXLEN alone lets 10,000 events of 64 KiB hold 655 MB. Past it the feed is
   * trimmed to about half (tag-relay-n.lua); a stream that needs what went is told (`resync`).
   */
  TAG_FEED_MAX_BYTES: int(64 * 1024 * 1024, 65_536),
  /**
   * A producer's writes, bounded (POST /v1/jobs/{id}/events; 413 past each): one event's JSON
   * as stored (escapes included; `result` aside, which MAX_TEXT_CHARS bounds), one `delta`, and
   * the bytes a job's Stream holds, which STREAM_MAXLEN alone leaves at ~1,000 × an event's size.
   */
  MAX_EVENT_BYTES: int(65_536, 1_024),
  MAX_DELTA_CHARS: int(32_768, 1),
  MAX_JOB_STREAM_BYTES: int(16 * 1024 * 1024, 1_024),
  /**
   * A job's metadata, merged (its creation's and every event's patch, RFC 7396), as JSON bytes:
   * a patch past it is refused (413 metadata_too_large) and nothing is published; at creation, 400.
   */
  MAX_METADATA_BYTES: int(16_384, 2, 1024 * 1024),
  /** One named stream's text (UTF-16 code units, as MAX_TEXT_CHARS counts the answer's); unset: MAX_TEXT_CHARS. */
  MAX_STREAM_CHARS: z.coerce.number().int().min(1).optional(),
  WORKER_CONCURRENCY: int(4, 1, 1000),
  /**
   * How long a kind a worker registered stays registered without being renewed (docs/api.md,
   * "Kinds"): a running worker renews its kinds every third of it.
   */
  KIND_TTL_SECONDS: int(60, 3, 86_400),
  STAGE_DELAY_MS: int(700, 0),
  JOB_ATTEMPTS: int(3, 1, 100),
  JOB_BACKOFF_MS: int(1_000, 0),
  JOB_LOCK_MS: int(30_000, 1000),
  SHUTDOWN_GRACE_MS: int(10_000, 0),
  /**
   * The worker's own HTTP server for GET /metrics and GET /healthz, on HOST (0: any free port).
   * Only `npm run start:worker` opens it; `npm start` serves the worker's metrics on the API's
   * /metrics instead.
   */
  METRICS_PORT: int(9091, 0, 65535),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  // What writes the summaries (docs/api.md, "Summarizers"). The extractive one runs offline;
  // `openai` calls any server that speaks the OpenAI Chat Completions API.
  SUMMARIZER: z.enum(['extractive', 'openai']).default('extractive'),
  /** The API's base URL, up to `/v1` (Ollama: http://127.0.0.1:11434/v1). */
  OPENAI_BASE_URL: z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL')
    .default('https://api.openai.com/v1'),
  /** Optional: local servers (Ollama, vLLM, llama.cpp) take none. */
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_API_KEY_FILE: secretFile,
  /** Required with SUMMARIZER=openai. */
  OPENAI_MODEL: z.string().min(1).optional(),
  /** How long the model may send nothing (before its answer starts, or in the middle of it). */
  LLM_TIMEOUT_MS: int(60_000, 100),
  /** How long one answer may take in all, however steadily it comes: a slow server cannot hold a slot for ever. */
  LLM_TOTAL_TIMEOUT_MS: int(600_000, 100, 86_400_000),
  /** A text longer than this is summarized in parts, then the parts' summaries together. */
  LLM_CHUNK_CHARS: int(12_000, 200),
  LLM_MAX_OUTPUT_TOKENS: int(1_024, 16),
  /** Retries of one model call on 429, 5xx and lost connections (Retry-After honoured). */
  LLM_MAX_RETRIES: int(3, 0, 10),
  /** The text being written goes out at most once per this many ms per job. */
  STREAM_FLUSH_MS: int(100, 0, 10_000),

  // Jobs Herald does not run (kind "external"): their producers publish through the API.
  /** An external job whose producer publishes nothing for this long ends with producer_timeout. */
  EXTERNAL_IDLE_TIMEOUT_SECONDS: int(600, 1, 7 * 86_400),

  // Completion webhooks (Standard Webhooks). A callbackUrl is refused without a secret.
  /** `whsec_` + base64 of the signing key, as Standard Webhooks writes it. */
  WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]{24,}={0,2}$/, 'must be whsec_ followed by a base64 key of at least 18 bytes')
    .optional(),
  WEBHOOK_SECRET_FILE: secretFile,
  /** Hosts a callback may reach although they are loopback, private or link-local (names or IPs). */
  WEBHOOK_ALLOWED_HOSTS: list,
  /** Delivery attempts before a webhook is given up: 8 over about 21 minutes with the default backoff. */
  WEBHOOK_ATTEMPTS: int(8, 1, 20),
  /** The first retry's delay; each next one doubles. */
  WEBHOOK_BACKOFF_MS: int(10_000, 100),
  /** One delivery attempt's whole time (lookup, connect, request, the answer's status line). */
  WEBHOOK_TIMEOUT_MS: int(10_000, 100, 120_000),
  /** Deliveries to one receiver host at once, all workers together: one slow host cannot hold every slot. */
  WEBHOOK_CONCURRENCY_PER_HOST: int(2, 1, 100),

  // Access (docs/security.md). Auth is on when API_KEYS, API_KEYS_FILE or ADMIN_API_KEYS names at least one key.
  API_KEYS: list,
  /** One key per line (# comments and blank lines ignored); read once at start-up. */
  API_KEYS_FILE: z.string().min(1).optional(),
  /** Keys that may see and cancel every job, whoever made it; they are API keys as well. */
  // ADMIN_API_KEYS_FILE's keys come as a list already (one a line: a key may hold a comma there).
  ADMIN_API_KEYS: z.array(z.string()).or(list),
  ADMIN_API_KEYS_FILE: secretFile,
  /** Signs watch tokens; every replica needs the same one. Required when auth is on. */
  WATCH_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  WATCH_TOKEN_SECRET_FILE: secretFile,
  WATCH_TOKEN_TTL_SECONDS: int(3_600, 10, 7 * 86_400),
  /**
   * Watch JWTs, minted by the adopter's own backend (docs/security.md): the JWKS their keys are
   * fetched from (https; http only to a loopback host), and the `iss` and `aud` every such token
   * must carry. All three or none, and only with auth on (watchJwtRules).
   */
  WATCH_JWKS_URL: z.string().min(1).optional(),
  WATCH_JWT_ISSUER: z.string().min(1).optional(),
  WATCH_JWT_AUDIENCE: z.string().min(1).optional(),
  /** Origins allowed to call the API from a browser; `*` only while auth is off. */
  CORS_ORIGINS: list,
  /** Peers whose X-Forwarded-For is believed: IPs, CIDRs, or loopback/linklocal/uniquelocal. */
  TRUSTED_PROXIES: list,

  // Limits shared by all replicas through Redis (0 turns one off).
  SUBMIT_RATE_PER_KEY: int(600, 0),
  SUBMIT_RATE_PER_IP: int(120, 0),
  /**
   * Snapshot reads (GET /v1/jobs/{id}, GET /v1/batches/{id}) per client IP per window: a batch's
   * snapshot costs a read per job, and a poller has the stream instead.
   */
  READ_RATE_PER_IP: int(600, 0),
  RATE_WINDOW_SECONDS: int(60, 1, 86_400),
  /**
   * Jobs one API key may have that have not ended (auth on; a batch's count one each): the rate
   * limits bound how fast jobs arrive, this how many wait in Redis and the queue at once.
   */
  MAX_ACTIVE_JOBS_PER_KEY: int(10_000, 0),
  MAX_SSE_CLIENTS_PER_IP: int(1_000, 0),
  /** A producer's publishes a second into one job (not Herald's own workers, whose pace it sets). */
  PUBLISH_RATE_PER_JOB: int(50, 0),
});

/** Variables whose values never appear in a message, even a wrong one. */
const SECRET_VARIABLES = new Set([
  'API_KEYS',
  'ADMIN_API_KEYS',
  'WATCH_TOKEN_SECRET',
  'OPENAI_API_KEY',
  'WEBHOOK_SECRET',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
]);
/** URLs that may carry credentials: shown without them. */
const URL_VARIABLES = new Set(['REDIS_URL', 'OPENAI_BASE_URL', 'WATCH_JWKS_URL']);

type ParsedConfig = z.infer<typeof configSchema>;
/** The settings, every default resolved (MAX_STREAM_CHARS: MAX_TEXT_CHARS unless set). */
export type Config = Omit<ParsedConfig, 'MAX_STREAM_CHARS'> & { MAX_STREAM_CHARS: number };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "unset", as in most shells' `FOO= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  // Secrets given as files become the variables they stand for, so every rule below sees them alike.
  const secretFiles = readSecretFiles(present);
  const parsed = configSchema
    .superRefine(redisRules)
    .superRefine(accessRules)
    .superRefine(watchJwtRules)
    .safeParse({ ...present, ...secretFiles.values });
  if (parsed.success && secretFiles.problems.length === 0) {
    const config = parsed.data;
    const elsewhere = config.REDIS_CLUSTER_NODES.length > 0 || config.REDIS_SENTINELS.length > 0;
    const withStreams = { ...config, MAX_STREAM_CHARS: config.MAX_STREAM_CHARS ?? config.MAX_TEXT_CHARS };
    return elsewhere || config.REDIS_URL !== undefined ? withStreams : { ...withStreams, REDIS_URL: DEFAULT_REDIS_URL };
  }
  const issues = parsed.success ? [] : parsed.error.issues;
  const problems = issues.map((issue) => {
    const name = String(issue.path[0]);
    if (SECRET_VARIABLES.has(name)) {
      const source = name in secretFiles.values ? ` (from ${name}_FILE)` : '';
      return `${name}${source}: ${issue.message}`;
    }
    // A URL may carry a password; the message names the variable without showing it.
    const value = URL_VARIABLES.has(name) && env[name] !== undefined ? redactUrl(env[name]) : env[name];
    return `${name}=${JSON.stringify(value)}: ${issue.message}`;
  });
  throw new ConfigError(`invalid configuration: ${[...secretFiles.problems, ...problems].join('; ')}`);
}

/** Whether submitting and managing jobs needs an API key. */
export const authEnabled = (config: Pick<Config, 'API_KEYS' | 'API_KEYS_FILE' | 'ADMIN_API_KEYS'>): boolean =>
  config.API_KEYS.length > 0 || config.API_KEYS_FILE !== undefined || config.ADMIN_API_KEYS.length > 0;

const ORIGIN = /^https?:\/\/[^/\s]+$/;

/** Exactly one way to Redis; Sentinels need their master set's name. */
function redisRules(config: ParsedConfig, ctx: z.RefinementCtx): void {
  const given = [
    config.REDIS_URL !== undefined && 'REDIS_URL',
    config.REDIS_CLUSTER_NODES.length > 0 && 'REDIS_CLUSTER_NODES',
    config.REDIS_SENTINELS.length > 0 && 'REDIS_SENTINELS',
  ].filter((name): name is string => name !== false);
  if (given.length > 1) {
    ctx.addIssue({
      code: 'custom',
      path: [given[1]!],
      message: `set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS (here: ${given.join(' and ')})`,
    });
  }
  if (config.REDIS_SENTINELS.length > 0 && config.REDIS_SENTINEL_NAME === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_SENTINEL_NAME'],
      message: 'is required with REDIS_SENTINELS (the master set, e.g. mymaster)',
    });
  }
  if (config.REDIS_SENTINEL_NAME !== undefined && config.REDIS_SENTINELS.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_SENTINEL_NAME'], message: 'goes with REDIS_SENTINELS, which is not set' });
  }
}

function accessRules(config: ParsedConfig, ctx: z.RefinementCtx): void {
  if (config.SUMMARIZER === 'openai' && config.OPENAI_MODEL === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['OPENAI_MODEL'],
      message: 'is required when SUMMARIZER=openai (e.g. gpt-4o-mini, or llama3.2 on Ollama)',
    });
  }
  for (const origin of config.CORS_ORIGINS) {
    if (origin !== '*' && !ORIGIN.test(origin)) {
      ctx.addIssue({
        code: 'custom',
        path: ['CORS_ORIGINS'],
        message: `${JSON.stringify(origin)} is not an origin like https://app.example.com`,
      });
    }
  }
  if (!authEnabled(config)) return;
  if (config.WATCH_TOKEN_SECRET === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['WATCH_TOKEN_SECRET'],
      message: 'is required when API_KEYS, API_KEYS_FILE or ADMIN_API_KEYS is set',
    });
  }
  if (config.CORS_ORIGINS.includes('*')) {
    ctx.addIssue({ code: 'custom', path: ['CORS_ORIGINS'], message: 'cannot be * when API_KEYS, API_KEYS_FILE or ADMIN_API_KEYS is set' });
  }
}

/** 127.0.0.0/8, ::1 and localhost, as a URL's hostname spells them once parsed (`127.1` is `127.0.0.1` by then). */
const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const isLoopbackHost = (hostname: string): boolean => hostname === 'localhost' || hostname === '[::1]' || LOOPBACK_V4.test(hostname);

/**
 * Why a JWKS URL is refused, or null: https, or plain http to this machine only (tests, a sidecar):
 * keys fetched in the clear from elsewhere could be swapped on the way, and every token with them.
 */
function jwksUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an https:// URL';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:') {
    return isLoopbackHost(url.hostname) ? null : 'must be https:// (plain http:// only to a loopback host: 127.0.0.0/8, ::1, localhost)';
  }
  return 'must be an https:// URL';
}

/** The three watch-JWT settings go together, and only with auth on: with auth off every stream is open, and a JWT would gate nothing. */
function watchJwtRules(config: ParsedConfig, ctx: z.RefinementCtx): void {
  const url = config.WATCH_JWKS_URL;
  if (url === undefined) {
    for (const name of ['WATCH_JWT_ISSUER', 'WATCH_JWT_AUDIENCE'] as const) {
      if (config[name] !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: 'goes with WATCH_JWKS_URL, which is not set' });
    }
    return;
  }
  const problem = jwksUrlProblem(url);
  if (problem !== null) ctx.addIssue({ code: 'custom', path: ['WATCH_JWKS_URL'], message: problem });
  for (const name of ['WATCH_JWT_ISSUER', 'WATCH_JWT_AUDIENCE'] as const) {
    if (config[name] === undefined) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'is required with WATCH_JWKS_URL (every watch JWT must carry it)' });
    }
  }
  if (!authEnabled(config)) {
    ctx.addIssue({
      code: 'custom',
      path: ['WATCH_JWKS_URL'],
      message: 'needs auth on (API_KEYS, API_KEYS_FILE or ADMIN_API_KEYS): with auth off every stream is open and a JWT would gate nothing',
    });
  }
}
