/**
 * Merge Prometheus text expositions of several processes (cluster workers) into one: samples with the
 * same name and labels are summed (right for counters, histogram buckets/sums/counts and the in-flight
 * gauge); HELP/TYPE lines are kept once, families in first-seen order.
 */
export function mergeExpositions(texts: string[]): string {
  const families = new Map<string, { meta: string[]; samples: Map<string, number> }>();
  const familyOf = (sample: string): string => {
    const name = sample.slice(0, sample.search(/[{ ]/) === -1 ? sample.length : sample.search(/[{ ]/));
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (name.endsWith(suffix) && families.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length);
    }
    return name;
  };
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (!line) continue;
      if (line.startsWith('#')) {
        const [, kind, name] = line.split(' ', 3);
        if (!name || (kind !== 'HELP' && kind !== 'TYPE')) continue;
        let f = families.get(name);
        if (!f) families.set(name, (f = { meta: [], samples: new Map() }));
        if (!f.meta.some((m) => m.startsWith(`# ${kind} `))) f.meta.push(line);
        continue;
      }
      const space = line.lastIndexOf(' ');
      const key = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      const fam = familyOf(key);
      let f = families.get(fam);
      if (!f) families.set(fam, (f = { meta: [], samples: new Map() }));
      f.samples.set(key, (f.samples.get(key) ?? 0) + value);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(...f.meta);
    for (const [key, value] of f.samples) out.push(`${key} ${value}`);
  }
  return out.join('\n') + '\n';
}
