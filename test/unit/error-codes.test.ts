import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, allowsStatus, isErrorCode, soleCodeFor, type ErrorCode } from '@herald/contract';
import { HttpError, conflict, serviceUnavailable, toHttpError } from '../../apps/api/src/http/errors.ts';
import type { HeraldErrorCode } from '../../packages/client/src/index.ts';

// The error catalogue (packages/contract/src/errors.ts) is the one list of what an answer's
// `code` can be, with its statuses: docs/api.md's table states the same, and what the server
// and the bundled nginx answer comes from it.

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** docs/api.md's "Error codes" table, as `status code` pairs. */
function documentedPairs(): Set<string> {
  const doc = read('docs/api.md');
  const start = doc.indexOf('### Error codes');
  const section = doc.slice(start, doc.indexOf('\n## ', start));
  return new Set([...section.matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)].map(([, status, code]) => `${status} ${code}`));
}

const cataloguePairs = () =>
  new Set(Object.entries(ERROR_CODES).flatMap(([code, { statuses }]) => statuses.map((status) => `${status} ${code}`)));

describe('the error catalogue', () => {
  it('is docs/api.md’s error table, every code with every status, and nothing else', () => {
    const documented = documentedPairs();
    expect(documented.size).toBeGreaterThan(15);
    expect([...documented].sort()).toEqual([...cataloguePairs()].sort());
  });

  it('holds what the bundled nginx answers itself, with the code’s own message', () => {
    const answers = [...read('deploy/nginx/nginx.conf').matchAll(/return (\d{3}) '(\{"error".*\})';/g)];
    expect(answers.length).toBeGreaterThanOrEqual(2);
    for (const [, status, body] of answers) {
      const { code, message } = (JSON.parse(body!) as { error: { code: string; message: string } }).error;
      expect(isErrorCode(code), code).toBe(true);
      expect(allowsStatus(code as ErrorCode, Number(status)), `${status} ${code}`).toBe(true);
      expect(message).toBe(ERROR_CODES[code as ErrorCode].message);
    }
  });

  it('gives each code a status and a message', () => {
    for (const [code, { statuses, message }] of Object.entries(ERROR_CODES)) {
      expect(statuses.length, code).toBeGreaterThan(0);
      expect(message.length, code).toBeGreaterThan(0);
    }
    expect(isErrorCode('toString')).toBe(false);
    expect([soleCodeFor(431), soleCodeFor(409), soleCodeFor(503), soleCodeFor(418)]).toEqual(['invalid_request', null, null, null]);
  });
});

describe('HttpError', () => {
  it('takes only the catalogue’s codes, each with a status the catalogue allows for it', () => {
    // @ts-expect-error a code the catalogue does not list
    expect(() => conflict('already_finishd', 'x')).toThrow(TypeError);
    // @ts-expect-error a status the catalogue does not allow for the code
    expect(() => new HttpError(409, 'payload_too_large', 'x')).toThrow('does not answer payload_too_large with 409');
    // @ts-expect-error draining is a 503, never a 409
    expect(() => conflict('draining', 'x')).toThrow(TypeError);
    expect(new HttpError(431, 'invalid_request', 'headers').status).toBe(431);
  });

  it('carries the code’s own message unless its caller says more', () => {
    expect(serviceUnavailable('draining').message).toBe(ERROR_CODES.draining.message);
    expect(new HttpError(408, 'request_timeout').toBody()).toEqual({
      error: { code: 'request_timeout', message: ERROR_CODES.request_timeout.message },
    });
  });

  it('answers a library’s 4xx under the catalogue’s code for it, and one it has no single code for as a 400', () => {
    const fromLibrary = (status: number) => {
      const http = toHttpError(Object.assign(new Error('refused'), { status }))!;
      return [http.status, http.code];
    };
    expect(fromLibrary(400)).toEqual([400, 'invalid_request']);
    expect(fromLibrary(404)).toEqual([404, 'not_found']);
    expect(fromLibrary(413)).toEqual([413, 'payload_too_large']);
    expect(fromLibrary(431)).toEqual([431, 'invalid_request']);
    expect(fromLibrary(405)).toEqual([400, 'invalid_request']);
    expect(fromLibrary(409)).toEqual([400, 'invalid_request']);
  });
});

describe('HeraldError’s code', () => {
  it('is a catalogue code or one of the client’s own', () => {
    const codes: HeraldErrorCode[] = ['not_found', 'replica_full', 'unreachable', 'invalid_response', 'gave_up', 'not_a_stream'];
    // @ts-expect-error neither the catalogue’s nor the client’s
    const typo: HeraldErrorCode = 'unreachabel';
    expect(codes.length + typo.length).toBeGreaterThan(0);
  });
});
