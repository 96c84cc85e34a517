import type { RedisSnapshot } from '../../../test-support/redis-snapshot.js';
import type { CapturedResponse, TeeRequest } from '../../server/shadow-sink.js';
import type { Difference } from '../../../compat-tests/engine/report/model.js';
import type { WriteRecord } from '../redis-tap/tap.js';
import type { CommandRecord } from '../sandbox/overlay.js';
import type { RecordedChunk, RecordedRequest } from '../upstream-tap/recording.js';
import type { CandidateCallOutcome } from '../upstream-tap/tap.js';

/** One compared exchange: the verdicts, and (kept for differing ones) every byte needed to replay it. */

export interface UpstreamCallVerdict {
  outcome: CandidateCallOutcome;
  method: string;
  url: string;
}

export type SideEffectVerdict =
  | { status: 'identical'; keys: number }
  | { status: 'differing'; keys: number }
  | { status: 'not-measured'; reason: string };

export interface PrimaryUpstreamExchange {
  request: RecordedRequest;
  status: number;
  rawHeaders: string[];
  chunks: RecordedChunk[];
  error?: string;
}

export interface ShadowRecord {
  id: string;
  routeId: string;
  module: string;
  primary: string;
  candidate: string;
  /** Epoch ms the client request arrived. */
  at: number;
  verdict: 'identical' | 'differing' | 'error';
  /** One line: where the two sides first differ (or the error). */
  firstDivergence: string | null;
  /** Every difference found by the compat diff engine (noise rules applied), first 50. */
  differences: Difference[];
  /** Differences matching compat-tests/accepted-deviations.json (not counted as differing). */
  deviations: Difference[];
  /** Values ignored by noise rules / matched as variables. */
  ignored: { count: number; bytes: number };
  upstream: {
    calls: UpstreamCallVerdict[];
    primaryCalls: number;
    notAvailable: number;
    /** complete: every primary upstream call in the window is this request's; matched-only: other requests overlapped. */
    attribution?: 'complete' | 'matched-only';
  };
  sideEffects: SideEffectVerdict;
  timing: { primaryTtfbMs: number; primaryTotalMs: number; candidateTtfbMs: number; candidateTotalMs: number };
  sandboxWarnings: string[];
  /** Full bytes, kept for differing exchanges only. */
  detail?: ShadowDetail;
}

export interface ShadowDetail {
  request: TeeRequest;
  primaryResponse: CapturedResponse;
  candidateResponse: CapturedResponse;
  primaryUpstream: PrimaryUpstreamExchange[];
  candidateUpstream: Array<{ request: RecordedRequest; outcome: CandidateCallOutcome }>;
  redis: {
    /** Starting state of every key either side touched (canonical). */
    before: RedisSnapshot;
    /** before + each side's result for every key written by either side. */
    primaryAfter: RedisSnapshot;
    candidateAfter: RedisSnapshot;
    primaryWrites: WriteRecord[];
    candidateCommands: CommandRecord[];
  } | null;
  /** ms from request arrival to the primary's state read (bounds TTL drift). */
  elapsedMs: number;
}
