import { randomBytes } from 'node:crypto';

/**
 * 128 random bits, base64url: unguessable, and free of the ':' BullMQ forbids in custom ids.
 * Never starting with '-': an id is also a command-line argument (`herald watch <id>`, curl),
 * where a leading dash reads as an option. Redrawing those 1 in 64 costs under 0.1 bit.
 */
export function newJobId(): string {
  // (A batch's id is drawn the same way; its jobs are named after it: contract/src/ids.ts.)
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** An id that could never have been issued is simply an unknown job (or batch). */
export { isBatchId, isJobId } from '@herald/contract';
