/**
 * Migrated authentication (see docs/auth-and-read-only-routes.md). Client routes:
 * `createApiKeyAuthenticator(deps).authenticate(req, { body, res })` then the permission /
 * model helpers; admin routes: `authenticateAdmin(deps, req)`.
 */
export { createApiKeyAuthenticator, authenticateApiKey, type ApiKeyAuthenticator, type AuthenticatorOptions } from './authenticate-api-key.js';
export { authenticateAdmin, adminTokenOf, type AdminAuthResult, type AdminIdentity } from './authenticate-admin.js';
export { sendAuthRejection } from './send.js';
export type { AuthenticatedKey, AuthResult, AuthSuccess, AuthRejection, AuthAbandoned, AuthRequestOptions, RateLimitInfo } from './types.js';
export {
  hasPermission,
  permissionBodies,
  effectiveModel,
  isModelBlacklisted,
  isModelWhitelistedOut,
  filterBlacklisted,
  modelBodies,
  type Service,
  type RouteRejection,
} from './permissions.js';
export { extractApiKey, queryKeyOf } from './extract-key.js';
export { applyBrowserFallback, BROWSER_FALLBACK_UA } from './browser-fallback.js';
export { normalizeRequestPath, isTokenCountRequest, isClaudeMessagesEndpoint, routerPath, splitMount } from './request-paths.js';
export { matchAllowedClient, validateClaudeCode, validateGeminiCli, validateCodexCli, validateDroidCli, type ClientRequestView } from './client-validators.js';
export { RelayConfigReader, DEFAULT_RELAY_CONFIG, type RelayConfig } from './relay-config.js';
export { createLeaseStore, type LeaseStore } from './lease-store.js';
export { validateApiKey, type ValidatedKey, type Validation } from './validate-key.js';
