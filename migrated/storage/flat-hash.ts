/**
 * A flat HGETALL reply (field, value, field, value, ...) as a record of own enumerable properties, the
 * object ioredis' hgetall gives: for replies that come back flat (inside a Lua script's reply). Only a
 * field named `__proto__` cannot be assigned (it would set the prototype); it is defined instead. `out`: the
 * object to fill (fields it already has keep their position, as in `{ id, ...fields }`).
 */
export function flatHash(flat: readonly string[], out: Record<string, string> = {}): Record<string, string> {
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const k = flat[i]!;
    if (k === '__proto__') Object.defineProperty(out, k, { value: flat[i + 1]!, configurable: true, enumerable: true, writable: true });
    else out[k] = flat[i + 1]!;
  }
  return out;
}
