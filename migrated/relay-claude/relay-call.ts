import type { AuthenticatedKey } from '../auth/types.js';
import type { AccountHash } from '../storage/accounts.js';
import type { ClientHeaders } from './headers.js';
import type { RelayServices } from './relay-services.js';

/** What every account type's relay gets from the messages module once the scheduler has picked the account. */
export interface RelayCallBase {
  s: RelayServices;
  key: AuthenticatedKey;
  clientHeaders: ClientHeaders;
  body: Record<string, unknown>;
  accountId: string;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** The account hash the scheduler decided on (read in this request), if any. */
  snapshot?: AccountHash | undefined;
}
