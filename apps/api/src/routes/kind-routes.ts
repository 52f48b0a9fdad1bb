import { Router } from 'express';
import type { KindList } from '@herald/contract';
import type { RegisteredKind } from '@herald/shared';
import type { Access } from '../auth/access.ts';
import { redisCall } from '../http/deadline.ts';
import type { SubmissionLimiter } from '../limits/submission-limiter.ts';

export interface KindRoutesDeps {
  readonly access: Access;
  /** Snapshot reads per client IP (READ_RATE_PER_IP): a listing counts as one. */
  readonly reads: SubmissionLimiter;
  /** The registered kinds, by name, not expired (shared/jobs/kind-registry.ts). */
  readonly listKinds: () => Promise<RegisteredKind[]>;
}

/** GET /v1/kinds (docs/api.md, "Kinds"): what a job may be, and what input each kind takes. An API key, as for submitting. */
export function kindRoutes({ access, reads, listKinds }: KindRoutesDeps): Router {
  const router = Router();
  router.get('/v1/kinds', async (req, res) => {
    const caller = access.requireKey(req);
    await reads.enforce(caller);
    const kinds = await redisCall(listKinds());
    res.json({
      kinds: kinds.map(({ name, builtIn, inputSchema, expiresAt }) => ({ name, builtIn, inputSchema, expiresAt })),
    } satisfies KindList);
  });
  return router;
}
