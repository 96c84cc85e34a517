import { readFileSync } from 'node:fs';

/** The lab's env file (docs/legacy-lab.md): raw keys, ids, admin login of the running lab legacy. */
export const LAB_ENV_FILE = process.env.BENCH_LAB_ENV ?? '/work/lab/lab.env';

/** `NAME=value` lines of the lab's env file (an `export ` prefix and quotes allowed); {} when there is no lab. */
export function labEnv(file = LAB_ENV_FILE): Record<string, string> {
  const out: Record<string, string> = {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(?:export\s+)?([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^['"]|['"]$/g, '');
  }
  return out;
}

/** labEnv(), or an error naming the file when it is missing or lacks `name`. */
export function requireLabEnv(name: string, file = LAB_ENV_FILE): Record<string, string> {
  const env = labEnv(file);
  if (!env[name]) throw new Error(`no ${name} in ${file}: the lab is needed (docs/legacy-lab.md)`);
  return env;
}
