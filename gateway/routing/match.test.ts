import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../test-support/paths.js';
import { compileTable } from './match.js';
import type { RoutingTableInput } from './schema.js';
import { validateTable } from './validate.js';
import { knownModuleNames } from '../../migrated/registry.js';

function compile(input: RoutingTableInput) {
  const r = validateTable(input, { knownModules: ['m'] });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.compiled;
}

const table = compile({
  routes: [
    { id: 'exact', methods: ['GET'], paths: ['/admin/claude-accounts/usage'], mode: 'legacy' },
    { id: 'param', methods: ['POST'], paths: ['/admin/claude-accounts/:id/reset-status'], mode: 'legacy' },
    { id: 'param-get', methods: ['GET'], paths: ['/admin/claude-accounts/:accountId'], mode: 'legacy' },
    { id: 'admin', paths: ['/admin/*'], mode: 'legacy' },
    { id: 'gemini-gen', methods: ['POST'], paths: ['/gemini/v1beta/models/:modelName:generateContent'], mode: 'legacy' },
    { id: 'gemini-stream', methods: ['POST'], paths: ['/gemini/v1beta/models/:modelName:streamGenerateContent'], mode: 'legacy' },
    { id: 'models', methods: ['GET'], paths: ['/api/v1/models', '/claude/v1/models'], mode: 'legacy', module: 'm' },
    { id: 'all', paths: ['/*'], mode: 'legacy' },
  ],
});

describe('compileTable().match', () => {
  it('prefers exact over parameter over prefix', () => {
    expect(table.match('GET', '/admin/claude-accounts/usage')?.route.id).toBe('exact');
    expect(table.match('GET', '/admin/claude-accounts/abc')?.route.id).toBe('param-get');
    expect(table.match('GET', '/admin/claude-accounts/abc')?.params).toEqual({ accountId: 'abc' });
    expect(table.match('POST', '/admin/claude-accounts/a1/reset-status')?.params).toEqual({ id: 'a1' });
    expect(table.match('GET', '/admin/other/thing')?.route.id).toBe('admin');
    expect(table.match('GET', '/admin')?.route.id).toBe('admin');
    expect(table.match('GET', '/elsewhere')?.route.id).toBe('all');
    expect(table.match('GET', '/')?.route.id).toBe('all');
  });

  it('matches like Express: case-insensitive, optional trailing slash, query ignored, params decoded', () => {
    expect(table.match('GET', '/API/V1/Models/?x=1')?.route.id).toBe('models');
    expect(table.match('get', '/claude/v1/models')?.route.id).toBe('models');
    expect(table.match('GET', '/admin/claude-accounts/AbC%20d')?.params).toEqual({ accountId: 'AbC d' });
  });

  it('falls through when the method does not match, and answers HEAD with GET routes', () => {
    expect(table.match('POST', '/api/v1/models')?.route.id).toBe('all');
    expect(table.match('HEAD', '/api/v1/models')?.route.id).toBe('models');
    expect(table.match('DELETE', '/admin/claude-accounts/usage')?.route.id).toBe('admin');
  });

  it('supports parameters with a literal suffix (Gemini ":generateContent")', () => {
    const m = table.match('POST', '/gemini/v1beta/models/gemini-2.5-pro:generateContent');
    expect(m?.route.id).toBe('gemini-gen');
    expect(m?.params).toEqual({ modelName: 'gemini-2.5-pro' });
    expect(table.match('POST', '/gemini/v1beta/models/x:streamGenerateContent')?.route.id).toBe('gemini-stream');
    expect(table.match('POST', '/gemini/v1beta/models/:generateContent')?.route.id).toBe('all');
  });

  it('returns null when nothing matches (default mode)', () => {
    const t = compileTable({ defaultMode: 'legacy', routes: [{ id: 'a', methods: ['GET'], paths: ['/a'], mode: 'legacy' }] });
    expect(t.match('GET', '/b')).toBeNull();
    expect(t.match('POST', '/a')).toBeNull();
  });

  it('maps the project routing table: known paths to their modules, unknown ones to the 404 route', () => {
    const raw = JSON.parse(readFileSync(join(projectRoot, 'routing-table.json'), 'utf8')) as unknown;
    const r = validateTable(raw, { knownModules: knownModuleNames() });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const m = (method: string, path: string) => r.compiled.match(method, path)?.route.module;
    expect(m('POST', '/api/v1/messages')).toBe('claude-messages');
    expect(m('POST', '/claude/claude/v1/messages')).toBe('claude-messages');
    expect(m('POST', '/api/v1/messages/count_tokens')).toBe('claude-count-tokens');
    expect(m('GET', '/openai/claude/v1/models')).toBe('models');
    expect(m('GET', '/api/v1/key-info')).toBe('key-info');
    expect(m('GET', '/health')).toBe('health');
    expect(m('POST', '/apiStats/api/user-stats')).toBe('api-stats');
    expect(m('POST', '/apiStats/api/merge-renewal')).toBeUndefined();
    expect(m('GET', '/api/v1/usage')).toBe('key-info');
    expect(m('GET', '/claude/v1/organizations/org-1/usage')).toBe('key-info');
    expect(m('GET', '/gemini/key-info')).toBe('key-info');
    expect(m('GET', '/openai/claude/v1/models/claude-opus-4-20250514')).toBe('models');
    expect(m('GET', '/droid/claude/v1/models')).toBe('models');
    expect(m('GET', '/azure/models')).toBe('models');
    expect(m('POST', '/azure/models')).toBeUndefined();
    expect(m('GET', '/api/v1/does-not-exist')).toBe('not-found');
    expect(m('GET', '/api/v1/messages')).toBe('not-found');
    expect(r.compiled.match('POST', '/admin/claude-accounts/x/reset-status')?.route.id).toBe('admin');
  });
});
