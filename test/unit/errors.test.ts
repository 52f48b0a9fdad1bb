import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RedisOutOfMemoryError, RedisUnavailableError, asRedisFailure } from '@herald/shared';
import { redisCall } from '../../apps/api/src/http/deadline.ts';
import { HttpError, badRequest, clientErrorResponse, rateLimited, toHttpError, writeError } from '../../apps/api/src/http/errors.ts';
import { loopbackServer, until, type LoopbackServer } from '../support/loopback-response.ts';

// Every error a client can see, mapped in one place (http/errors.ts), and how a failed Redis
// round trip is judged (http/deadline.ts).

/** An error as ioredis builds an error reply from Redis (redis-errors' ReplyError). */
function replyError(message: string): Error {
  const error = new Error(message);
  Object.defineProperty(error, 'name', { value: 'ReplyError' });
  return error;
}

const mapped = (error: unknown) => {
  const http = toHttpError(error);
  return http && [http.status, http.code, http.message];
};

describe('toHttpError', () => {
  it('keeps an HttpError as it is', () => {
    const error = badRequest('no');
    expect(toHttpError(error)).toBe(error);
  });

  it('answers a schema failure with 400 and the fields, and a text over the limit with 413', () => {
    const schema = z.strictObject({ text: z.string().max(3, 'text must be at most 3 characters'), n: z.number().optional() });
    const invalid = schema.safeParse({ text: 'ok', n: 'x', extra: 1 }).error!;
    const http = toHttpError(invalid)!;
    expect([http.status, http.code]).toEqual([400, 'invalid_request']);
    expect(http.toBody().error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'n' })]));
    expect(mapped(schema.safeParse({ text: 'long' }).error)).toEqual([413, 'payload_too_large', 'text must be at most 3 characters']);
  });

  it('answers body-parser’s refusals: too large 413, not JSON 400, a charset or encoding it cannot read 415', () => {
    expect(mapped({ type: 'entity.too.large', status: 413 })?.slice(0, 2)).toEqual([413, 'payload_too_large']);
    expect(mapped({ type: 'entity.parse.failed', status: 400 })?.slice(0, 2)).toEqual([400, 'invalid_request']);
    expect(mapped({ type: 'charset.unsupported', status: 415 })?.slice(0, 2)).toEqual([415, 'unsupported_media_type']);
    expect(mapped({ type: 'encoding.unsupported', status: 415 })?.slice(0, 2)).toEqual([415, 'unsupported_media_type']);
  });

  it('keeps another library’s 4xx status, in our JSON and our words', () => {
    expect(mapped(Object.assign(new Error('Failed to decode param'), { status: 400 }))).toEqual([
      400,
      'invalid_request',
      'The request could not be read',
    ]);
    expect(mapped(Object.assign(new Error('x'), { statusCode: 404 }))?.slice(0, 2)).toEqual([404, 'not_found']);
  });

  it('answers Redis being unavailable with 503 and Retry-After, whatever its cause said', () => {
    const http = toHttpError(new RedisUnavailableError('Redis did not answer', { cause: new Error('ECONNREFUSED 10.0.0.1:6379') }))!;
    expect([http.status, http.code, http.headers['Retry-After']]).toEqual([503, 'redis_unavailable', '1']);
    expect(http.message).not.toMatch(/ECONN|6379/);
  });

  it('answers Redis out of memory with 503 redis_out_of_memory and a Retry-After', () => {
    const http = toHttpError(new RedisOutOfMemoryError('Redis is out of memory', { cause: replyError('OOM command not allowed') }))!;
    expect([http.status, http.code]).toEqual([503, 'redis_out_of_memory']);
    expect(Number(http.headers['Retry-After'])).toBeGreaterThanOrEqual(1);
  });

  it('knows nothing of other errors (they become a 500)', () => {
    expect(toHttpError(new Error('Connection is closed.'))).toBeNull();
    expect(toHttpError(new TypeError('x is undefined'))).toBeNull();
  });

  it('gives rate limits a whole number of seconds to wait, at least one', () => {
    expect(rateLimited('slow down', 0.2).headers['Retry-After']).toBe('1');
    expect(rateLimited('slow down', 4.1).headers['Retry-After']).toBe('5');
  });
});

describe('asRedisFailure', () => {
  it('takes a failure before any reply for Redis being unavailable', () => {
    for (const message of [
      'Connection is closed.',
      "Stream isn't writeable and enableOfflineQueue options is false",
      'Command timed out',
    ]) {
      const judged = asRedisFailure(new Error(message));
      expect(judged).toBeInstanceOf(RedisUnavailableError);
      expect((judged as Error).cause).toBeInstanceOf(Error);
    }
  });

  it('takes Redis saying "not now" for unavailable, and any other error reply for a real error', () => {
    for (const reply of [
      'LOADING Redis is loading the dataset in memory',
      "READONLY You can't write against a read only replica.",
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
    ]) {
      expect(asRedisFailure(replyError(reply))).toBeInstanceOf(RedisUnavailableError);
    }
    const wrong = replyError('ERR Error running script (call to f_123): @user_script:1: bad');
    expect(asRedisFailure(wrong)).toBe(wrong);
  });

  it('takes an OOM reply, to a command, a script or a MULTI, for Redis out of memory', () => {
    const oom = "OOM command not allowed when used memory > 'maxmemory'.";
    const execAbort = Object.assign(replyError('EXECABORT Transaction discarded because of previous errors.'), {
      previousErrors: [replyError(oom)],
    });
    for (const error of [replyError(oom), replyError(`${oom} script: 1a2b, on @user_script:12.`), execAbort]) {
      const judged = asRedisFailure(error);
      expect(judged).toBeInstanceOf(RedisOutOfMemoryError);
      expect((judged as Error).cause).toBe(error);
    }
    // A MULTI discarded for another reason is a real error, as before.
    const other = Object.assign(replyError('EXECABORT Transaction discarded because of previous errors.'), {
      previousErrors: [replyError('ERR wrong number of arguments')],
    });
    expect(asRedisFailure(other)).toBe(other);
  });

  it('never hides a bug in the code around the call', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'id')");
    expect(asRedisFailure(bug)).toBe(bug);
    expect(asRedisFailure('a string')).toBe('a string');
  });
});

describe('redisCall', () => {
  it('settles within its deadline: a round trip that hangs is Redis being unavailable', async () => {
    const started = Date.now();
    await expect(redisCall(new Promise(() => {}), 50)).rejects.toBeInstanceOf(RedisUnavailableError);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('passes a reply through, and judges a failure', async () => {
    await expect(redisCall(Promise.resolve('PONG'))).resolves.toBe('PONG');
    await expect(redisCall(Promise.reject(new Error('Connection is closed.')))).rejects.toBeInstanceOf(RedisUnavailableError);
    const reply = replyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    await expect(redisCall(Promise.reject(reply))).rejects.toBe(reply);
  });
});

describe('writeError', () => {
  let server: LoopbackServer;
  beforeAll(async () => {
    server = await loopbackServer();
  });
  afterAll(() => server.close());

  it('writes the JSON error with its status and headers, and reports only the unexpected', async () => {
    const known = await server.open();
    const unexpected: unknown[] = [];
    writeError(known.res, new HttpError(429, 'rate_limited', 'Too many', undefined, { 'Retry-After': '3' }), (e) => unexpected.push(e));
    await until(() => known.body().endsWith('}'), 2000, 'the body');
    expect(known.received()).toMatch(/^HTTP\/1\.1 429 /);
    expect(known.received()).toMatch(/retry-after: 3/i);
    expect(JSON.parse(known.body())).toEqual({ error: { code: 'rate_limited', message: 'Too many' } });
    expect(unexpected).toEqual([]);

    const bug = await server.open();
    const oops = new Error('secret detail at /srv/app.ts:12');
    writeError(bug.res, oops, (e) => unexpected.push(e));
    await until(() => bug.body().endsWith('}'), 2000, 'the body');
    expect(bug.received()).toMatch(/^HTTP\/1\.1 500 /);
    expect(JSON.parse(bug.body())).toEqual({ error: { code: 'internal', message: 'Something went wrong on our side' } });
    expect(unexpected).toEqual([oops]);
  });

  it('cuts the connection when the response had already begun: no JSON inside a stream', async () => {
    const started = await server.open();
    started.res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    started.res.write('retry: 1000\n\n');
    writeError(started.res, badRequest('late'), () => {});
    await started.closedByServer;
    expect(started.res.destroyed).toBe(true);
    expect(started.received()).not.toContain('invalid_request');
  });
});

describe('clientErrorResponse', () => {
  it('answers what the HTTP parser refused in JSON, then closes', () => {
    const text = (code: string | undefined) => clientErrorResponse(code).toString();
    expect(text('HPE_HEADER_OVERFLOW')).toMatch(/^HTTP\/1\.1 431 .*"code":"invalid_request"/s);
    expect(text('ERR_HTTP_REQUEST_TIMEOUT')).toMatch(/^HTTP\/1\.1 408 .*"code":"request_timeout"/s);
    expect(text('HPE_INVALID_METHOD')).toMatch(/^HTTP\/1\.1 400 /);
    expect(text(undefined)).toContain('Connection: close');
    // Every answer carries a request id (docs/api.md); nothing of this request could be read: a new one.
    expect(text(undefined)).toMatch(/\r\nX-Request-Id: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\r\n/);
    expect(text(undefined)).not.toBe(text(undefined));
  });
});
