import { ConfigError, type Config, type Logger, type RedisClient } from '@herald/shared';
import { clientIpResolver, type ClientIpOf } from '../http/client-ip.ts';
import { Access } from './access.ts';
import { ApiKeys } from './api-keys.ts';
import { PublishTokens } from './publish-tokens.ts';
import { tokenSecret } from './token-secret.ts';
import { WatchJwts } from './watch-jwts.ts';
import { WatchTokens } from './watch-tokens.ts';

/**
 * Keys, tokens and trusted proxies, checked at start-up: a bad one stops the replica here.
 * `redis` keeps the publish tokens' secret when no WATCH_TOKEN_SECRET is set.
 */
export function accessFromConfig(config: Config, logger: Logger, redis: RedisClient): Access {
  const keys = ApiKeys.fromConfig(config);
  const tokens =
    config.WATCH_TOKEN_SECRET === undefined ? null : new WatchTokens(config.WATCH_TOKEN_SECRET, config.WATCH_TOKEN_TTL_SECONDS);
  let ipOf: ClientIpOf;
  try {
    ipOf = clientIpResolver(config.TRUSTED_PROXIES);
  } catch (error) {
    throw new ConfigError(`TRUSTED_PROXIES: ${(error as Error).message}`);
  }
  if (!keys.enabled) {
    logger.warn('API_KEYS is not set: anyone who can reach this replica may submit, cancel and watch jobs (docs/security.md)');
  }
  const jwts = watchJwtsFromConfig(config, logger);
  return new Access(keys, tokens, new PublishTokens(tokenSecret(config.WATCH_TOKEN_SECRET, redis)), ipOf, jwts);
}

/** Watch JWTs' verifier when WATCH_JWKS_URL is set (config.ts has checked the three settings), its key set fetched now. */
function watchJwtsFromConfig(config: Config, logger: Logger): WatchJwts | null {
  const { WATCH_JWKS_URL: jwksUrl, WATCH_JWT_ISSUER: issuer, WATCH_JWT_AUDIENCE: audience } = config;
  if (jwksUrl === undefined || issuer === undefined || audience === undefined) return null;
  const jwts = new WatchJwts({ jwksUrl, issuer, audience }, (error) =>
    logger.warn(
      { err: error, jwksUrl },
      "the watch JWTs' key set (WATCH_JWKS_URL) could not be fetched: JWTs get 503 jwks_unavailable until it can",
    ),
  );
  void jwts.warmUp();
  return jwts;
}
