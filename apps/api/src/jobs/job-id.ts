import { randomBytes } from 'node:crypto';

/**
 * 128 random bits, base64url: unguessable, and free of the ':' BullMQ forbids in custom ids.
 * Never starting with '-': an id is also a command-line argument (`herald watch <id>`, curl),
 * where a leading dash reads as an option. Redrawing those 1 in 64 costs under 0.1 bit.
 */
export function newJobId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

const JOB_ID = /^[A-Za-z0-9_-]{22}$/;

/** An id that could never have been issued is simply an unknown job. */
export const isJobId = (text: string): boolean => JOB_ID.test(text);
