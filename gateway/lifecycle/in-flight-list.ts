/**
 * The responses in flight, as a doubly linked list threaded through the responses themselves.
 *
 * Not a Set: a Set whose size swings with the load re-allocates its hash table every few requests, and V8 keeps a
 * pointer from each replaced table to its successor. Once one table has reached the old generation (it lived
 * through two young GCs), that dead table keeps the next one, and every response ever added to it, alive through
 * each young GC until the next full GC: every request of the process ended up promoted. Linking the responses
 * allocates nothing, and `remove` clears the removed node's links, so a response that did reach the old generation
 * (a long stream) points at no younger one once it is gone. The links are the same two symbols for every list: an item
 * is in at most one InFlightList at a time (the drain's responses, the shadow engine's promises).
 */
const kPrev = Symbol('inFlight.prev');
const kNext = Symbol('inFlight.next');

interface Node {
  [kPrev]?: Node | null;
  [kNext]?: Node | null;
}

export class InFlightList<T extends object> {
  private head: (T & Node) | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `item` (not already in the list). */
  add(item: T): void {
    const node = item as T & Node;
    node[kPrev] = null;
    node[kNext] = this.head;
    if (this.head) this.head[kPrev] = node;
    this.head = node;
    this.count++;
  }

  /** Removes `item`; false when it is not in the list. */
  delete(item: T): boolean {
    const node = item as T & Node;
    const prev = node[kPrev];
    const next = node[kNext];
    if (prev === undefined) return false; // never added, or removed already
    if (prev) prev[kNext] = next ?? null;
    else if (this.head === node) this.head = (next as (T & Node) | null) ?? null;
    else return false;
    if (next) next[kPrev] = prev;
    node[kPrev] = undefined;
    node[kNext] = undefined;
    this.count--;
    return true;
  }

  /** The items, newest first; safe against removal of the current item while iterating. */
  *[Symbol.iterator](): IterableIterator<T> {
    let node = this.head;
    while (node) {
      const next = node[kNext] as (T & Node) | null | undefined;
      yield node;
      node = next ?? null;
    }
  }
}
