import { BucketsMemo } from '../storage/keys.js';
import { PackTexts } from '../storage/write-batch.js';
import { CounterRuns } from './token-counters.js';
import { UsageKeyNames } from './usage-keys.js';

/**
 * What a usage recorder computes once and reuses across its requests: the packed JSON texts, the key
 * names per key/account/model and hour, the prepared counter runs and the time buckets of the hour.
 * Memo tables of pure functions, bounded, owned by one UsageRecorder (never module-wide): what they hold
 * never changes a byte written, only how often it is computed (the recorder's own CPU x0.41, session 3).
 */
export class UsageMemo {
  readonly texts = new PackTexts();
  readonly names = new UsageKeyNames();
  readonly runs = new CounterRuns(this.texts);
  readonly buckets = new BucketsMemo();
}
