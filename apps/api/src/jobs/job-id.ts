import { randomBytes } from 'node:crypto';

// 128 random bits, base64url: unguessable, and free of the ':' BullMQ forbids in custom ids.
export const newJobId = (): string => randomBytes(16).toString('base64url');

const JOB_ID = /^[A-Za-z0-9_-]{22}$/;

/** An id that could never have been issued is simply an unknown job. */
export const isJobId = (text: string): boolean => JOB_ID.test(text);
