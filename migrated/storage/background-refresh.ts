/**
 * A trigger for refreshing a cached value ahead of its expiry: each call starts `read` after the current turn of
 * the event loop (so a request that triggers it writes its own I/O first), unless one is still running. A failed
 * read is dropped: the cached value stays until it expires, and the next miss reads in the caller.
 */
export function backgroundRefresh(read: () => Promise<unknown>): () => void {
  let running = false;
  return () => {
    if (running) return;
    running = true;
    setImmediate(() => {
      read()
        .catch(() => undefined)
        .finally(() => {
          running = false;
        });
    });
  };
}
