import { describe, expect, it } from 'vitest';
import { validateTable, validateTableText } from './validate.js';

const known = { knownModules: ['models', 'health'] };
const errorsOf = (input: unknown) => {
  const r = validateTable(input, known);
  return r.ok ? [] : r.errors;
};

describe('validateTable', () => {
  it('accepts a valid table and applies defaults', () => {
    const r = validateTable({ routes: [{ id: 'a', paths: ['/a'], mode: 'shadow', module: 'models' }] }, known);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.table.defaultMode).toBe('legacy');
    expect(r.table.routes[0]!.methods).toEqual(['*']);
  });

  it('rejects a duplicate id, naming the route and field', () => {
    expect(errorsOf({ routes: [{ id: 'a', paths: ['/a'], mode: 'legacy' }, { id: 'a', paths: ['/b'], mode: 'legacy' }] })).toEqual([
      'route "a" field id: duplicate id',
    ]);
  });

  it('rejects an unknown module outside legacy mode, and warns in legacy mode', () => {
    expect(errorsOf({ routes: [{ id: 'x', paths: ['/x'], mode: 'migrated', module: 'nope' }] })[0]).toMatch(/^route "x" field module: unknown migrated module "nope"/);
    expect(errorsOf({ routes: [{ id: 'x', paths: ['/x'], mode: 'canary', canary: { percent: 5 } }] })[0]).toMatch(/^route "x" field module: required/);
    const r = validateTable({ routes: [{ id: 'x', paths: ['/x'], mode: 'legacy', module: 'nope' }] }, known);
    expect(r.ok && r.warnings[0]).toMatch(/route "x" field module/);
  });

  it('rejects overlapping patterns of equal specificity with overlapping methods', () => {
    const errs = errorsOf({
      routes: [
        { id: 'a', methods: ['GET'], paths: ['/u/:id'], mode: 'legacy' },
        { id: 'b', methods: ['GET', 'POST'], paths: ['/U/:other/'], mode: 'legacy' },
      ],
    });
    expect(errs).toEqual(['route "b" field paths[0]: "/U/:other/" overlaps route "a" with equal specificity']);
    // Different methods on the same pattern are fine; so are different specificities.
    expect(errorsOf({ routes: [{ id: 'a', methods: ['GET'], paths: ['/u/:id'], mode: 'legacy' }, { id: 'b', methods: ['POST'], paths: ['/u/:id'], mode: 'legacy' }] })).toEqual([]);
    expect(errorsOf({ routes: [{ id: 'a', paths: ['/u/:id'], mode: 'legacy' }, { id: 'b', paths: ['/u/me'], mode: 'legacy' }] })).toEqual([]);
  });

  it('rejects a percent outside 0-100 and a canary without percent', () => {
    expect(errorsOf({ routes: [{ id: 'c', paths: ['/c'], mode: 'canary', module: 'models', canary: { percent: 101 } }] })).toEqual([
      'route "c" field canary.percent: must be 0..100',
    ]);
    expect(errorsOf({ routes: [{ id: 'c', paths: ['/c'], mode: 'canary', module: 'models' }] })[0]).toMatch(/route "c" field canary: required/);
  });

  it('names the field for shape errors (mode, sampleRate, path syntax, unknown keys)', () => {
    expect(errorsOf({ routes: [{ id: 'a', paths: ['/a'], mode: 'fast' }] })[0]).toMatch(/^route "a" field mode: must be one of/);
    expect(errorsOf({ routes: [{ id: 'a', paths: ['/a'], mode: 'shadow', module: 'models', shadow: { sampleRate: 2 } }] })).toEqual([
      'route "a" field shadow.sampleRate: must be 0..1',
    ]);
    expect(errorsOf({ routes: [{ id: 'a', paths: ['/a/*/b'], mode: 'legacy' }] })[0]).toMatch(/^route "a" field paths\[0\]: a wildcard/);
    expect(errorsOf({ routes: [{ id: 'a', paths: ['/a'], mode: 'legacy', percent: 3 }] })[0]).toMatch(/^route "a" field percent/);
    expect(errorsOf({ routes: 'x' })[0]).toMatch(/^field routes/);
  });

  it('reports invalid JSON text', () => {
    const r = validateTableText('{"routes": [', known);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]).toMatch(/^table: invalid JSON/);
  });
});
