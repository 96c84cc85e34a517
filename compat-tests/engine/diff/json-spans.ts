/**
 * A small JSON reader that keeps where every leaf value sits in the source text, so a diff can
 * name the JSON path, swap accepted values and still compare the exact bytes around them.
 */
export interface JsonLeaf {
  path: string;
  start: number;
  end: number;
  /** Source text of the value (strings with their quotes). */
  raw: string;
  /** Decoded value for strings; undefined for other leaves. */
  str?: string;
}
export interface JsonShape {
  leaves: JsonLeaf[];
  /** Key order of every object, by path. */
  keyOrder: Map<string, string[]>;
  /** Container kind by path (object/array), for type changes. */
  containers: Map<string, 'object' | 'array'>;
}

const keyPath = (base: string, key: string): string => (/^[A-Za-z_$][\w$-]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`);

export function jsonShape(text: string): JsonShape | null {
  const leaves: JsonLeaf[] = [];
  const keyOrder = new Map<string, string[]>();
  const containers = new Map<string, 'object' | 'array'>();
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const fail = (): never => {
    throw new SyntaxError(`bad JSON at ${i}`);
  };
  const readString = (): string => {
    const start = i;
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (text[i] !== '"') fail();
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      containers.set(path, 'object');
      const keys: string[] = [];
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        keyOrder.set(path, keys);
        return;
      }
      for (;;) {
        ws();
        const k = readString();
        keys.push(k);
        ws();
        if (text[i] !== ':') fail();
        i++;
        value(keyPath(path, k));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          break;
        }
        fail();
      }
      keyOrder.set(path, keys);
      return;
    }
    if (c === '[') {
      containers.set(path, 'array');
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        value(`${path}[${n}]`);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          break;
        }
        fail();
      }
      return;
    }
    const start = i;
    if (c === '"') {
      const str = readString();
      leaves.push({ path, start, end: i, raw: text.slice(start, i), str });
      return;
    }
    const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
    if (!m) fail();
    i += m![0].length;
    leaves.push({ path, start, end: i, raw: text.slice(start, i) });
  };
  try {
    ws();
    if (text[i] !== '{' && text[i] !== '[') return null;
    value('$');
    ws();
    if (i !== text.length) return null;
    return { leaves, keyOrder, containers };
  } catch {
    return null;
  }
}
