import type { ApiKeyRepository } from '../storage/api-keys.js';

/**
 * The hourly expired-key sweep (src/services/apiKeyService.js `cleanupExpiredKeys`): every key, as
 * `getAllApiKeys` lists them (Redis and PostgreSQL), whose `expiresAt` has passed while it is still active is
 * deactivated the way `updateApiKey(id, { isActive: false })` does it (whole hash saved with a new `updatedAt`,
 * mirrored to PostgreSQL). Keys are never deleted. A key that fails stops the sweep, as the legacy's loop does;
 * the error is logged and the count so far is lost (0), as there.
 */
export async function disableExpiredKeys(
  repo: ApiKeyRepository,
  nowMs: number,
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void },
): Promise<number> {
  try {
    let disabled = 0;
    for (const key of await repo.listAll()) {
      if (!key.expiresAt || !(new Date(key.expiresAt).getTime() < nowMs) || key.isActive !== 'true') continue;
      await repo.deactivate(key.id);
      log.info({ keyId: key.id, name: key.name }, 'API key has expired and been disabled');
      disabled++;
    }
    return disabled;
  } catch (err) {
    log.error({ err: (err as Error).message }, 'failed to clean up expired keys');
    return 0;
  }
}
