import type { CompiledTable } from './match.js';
import type { RouteMode } from './schema.js';
import { validateTable, type ValidateOptions } from './validate.js';

/**
 * The gateway's live routing table: the one piece of mutable state. A request reads `current` once at
 * its start and keeps that snapshot, so a swap never moves an in-flight request to the other side.
 */

export interface TableStatus {
  version: string;
  source: string;
  appliedAt: string;
  lastError: { at: string; source: string; errors: string[] } | null;
  warnings: string[];
}

export interface ModeChange {
  id: string;
  from: RouteMode | 'absent';
  to: RouteMode | 'absent';
}

export type ApplyResult = { ok: true; version: string; changes: ModeChange[]; warnings: string[] } | { ok: false; error: string; errors: string[] };

function modeDetail(r: { mode: RouteMode; canary?: { percent: number } | undefined; shadow?: { primary: string } | undefined }): string {
  if (r.mode === 'canary') return `canary ${r.canary?.percent}%`;
  if (r.mode === 'shadow') return `shadow(primary ${r.shadow?.primary ?? 'legacy'})`;
  return r.mode;
}

export function diffModes(before: CompiledTable | null, after: CompiledTable): ModeChange[] {
  const changes: ModeChange[] = [];
  const old = new Map((before?.table.routes ?? []).map((r) => [r.id, r]));
  for (const r of after.table.routes) {
    const o = old.get(r.id);
    if (!o) {
      if (before) changes.push({ id: r.id, from: 'absent', to: r.mode });
    } else if (modeDetail(o) !== modeDetail(r)) changes.push({ id: r.id, from: o.mode, to: r.mode });
    old.delete(r.id);
  }
  for (const id of old.keys()) changes.push({ id, from: old.get(id)!.mode, to: 'absent' });
  return changes;
}

export class LiveTable {
  current: CompiledTable;
  private status: TableStatus;

  constructor(initial: CompiledTable, source: string, now: () => number, warnings: string[] = []) {
    this.current = initial;
    this.now = now;
    this.status = { version: initial.version, source, appliedAt: new Date(now()).toISOString(), lastError: null, warnings };
  }

  private readonly now: () => number;

  /** Validate and swap in atomically; an invalid table leaves the live one untouched. */
  apply(input: unknown, source: string, opts: ValidateOptions): ApplyResult {
    const result = validateTable(input, opts);
    if (!result.ok) {
      this.status.lastError = { at: new Date(this.now()).toISOString(), source, errors: result.errors };
      return { ok: false, error: result.errors.join('; '), errors: result.errors };
    }
    const changes = diffModes(this.current, result.compiled);
    this.current = result.compiled;
    this.status = {
      version: result.compiled.version,
      source,
      appliedAt: new Date(this.now()).toISOString(),
      lastError: this.status.lastError,
      warnings: result.warnings,
    };
    return { ok: true, version: result.compiled.version, changes, warnings: result.warnings };
  }

  recordError(source: string, errors: string[]): void {
    this.status.lastError = { at: new Date(this.now()).toISOString(), source, errors };
  }

  describe(): TableStatus {
    return { ...this.status };
  }
}
