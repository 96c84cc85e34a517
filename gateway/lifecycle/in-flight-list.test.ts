import { describe, expect, it } from 'vitest';
import { InFlightList } from './in-flight-list.js';

describe('InFlightList', () => {
  it('adds, removes from any position, counts and iterates newest first', () => {
    const list = new InFlightList<{ id: number }>();
    const items = [1, 2, 3, 4].map((id) => ({ id }));
    for (const it of items) list.add(it);
    expect(list.size).toBe(4);
    expect([...list].map((x) => x.id)).toEqual([4, 3, 2, 1]);
    expect(list.delete(items[2]!)).toBe(true); // middle
    expect(list.delete(items[3]!)).toBe(true); // head
    expect(list.delete(items[0]!)).toBe(true); // tail
    expect([...list].map((x) => x.id)).toEqual([2]);
    expect(list.size).toBe(1);
    expect(list.delete(items[1]!)).toBe(true);
    expect(list.size).toBe(0);
    expect([...list]).toEqual([]);
  });

  it('refuses what it does not hold: never added, removed already', () => {
    const list = new InFlightList<object>();
    const a = {};
    const b = {};
    expect(list.delete(a)).toBe(false);
    list.add(a);
    list.add(b);
    expect(list.delete(a)).toBe(true);
    expect(list.delete(a)).toBe(false);
    expect(list.size).toBe(1);
    // an item of another list is not this list's
    const other = new InFlightList<object>();
    const c = {};
    other.add(c);
    expect(list.delete(c)).toBe(false);
    expect(other.size).toBe(1);
  });

  it('a removed item keeps no link to the others, and can be added again', () => {
    const list = new InFlightList<object>();
    const a = {};
    const b = {};
    const c = {};
    list.add(a);
    list.add(b);
    list.add(c);
    list.delete(b);
    for (const sym of Object.getOwnPropertySymbols(b)) expect((b as Record<symbol, unknown>)[sym]).toBeUndefined();
    list.add(b);
    expect([...list]).toEqual([b, c, a]);
  });

  it('iteration survives removing the current item (what drain() does as responses close)', () => {
    const list = new InFlightList<{ id: number }>();
    const items = [1, 2, 3].map((id) => ({ id }));
    for (const it of items) list.add(it);
    const seen: number[] = [];
    for (const x of list) {
      seen.push(x.id);
      list.delete(x);
    }
    expect(seen).toEqual([3, 2, 1]);
    expect(list.size).toBe(0);
  });
});
