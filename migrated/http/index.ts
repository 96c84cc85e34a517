/** The shared response layer of the migrated modules (see docs/auth-and-read-only-routes.md). */
export { HeaderList } from './header-list.js';
export { weakEtag, isFresh } from './etag.js';
export { envelopeHeaders, isHttpsRequest, pathOf, requestFactsOf, CSP_VALUE, type PipelineStage, type RequestFacts } from './legacy-headers.js';
export { sendPreflight } from './preflight.js';
export { httpSurfaceFromConfig, httpSurfaceFromEnv, defaultHttpSurface, type HttpSurfaceOptions } from './legacy-surface.js';
export { legacyReply, sendJson, requestFacts, type LegacyReply, type ReplyOptions } from './reply.js';
export { readLegacyBody, exceedsPrecheck, errorHandlerBody, precheckTooLargeBody, JSON_LIMIT_BYTES, type BodyResult } from './body.js';
export { sendBodyError, notFoundBody } from './errors.js';
export { negotiateEncoding, maybeCompress } from './compress.js';
