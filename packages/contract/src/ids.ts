// Job and batch ids (docs/api.md, "Batches"). A batch's jobs are named after it: `<batchId>~<n>`,
// n = 0, 1, … in the order of its items, so every key of a batch and of its jobs shares the
// batch's Redis Cluster hash tag and one script can write a job's event and the batch's at once.

/** 22 characters of base64url (128 random bits), never starting with '-'. */
const RANDOM_ID = /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/;
const JOB_ID = /^([A-Za-z0-9_][A-Za-z0-9_-]{21})(?:~(0|[1-9]\d{0,4}))?$/;

export const BATCH_MEMBER = '~';

/** A job id Herald could have issued: a random one, or a batch's `<batchId>~<n>`. */
export const isJobId = (text: string): boolean => JOB_ID.test(text);

/** A batch id Herald could have issued. */
export const isBatchId = (text: string): boolean => RANDOM_ID.test(text);

/** The batch a job belongs to, or null for a job submitted on its own. */
export function batchOf(jobId: string): string | null {
  const at = jobId.indexOf(BATCH_MEMBER);
  return at === -1 ? null : jobId.slice(0, at);
}

/** The id of a batch's `index`th job. */
export const batchJobId = (batchId: string, index: number): string => `${batchId}${BATCH_MEMBER}${index}`;
