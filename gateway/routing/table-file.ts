import { watch, type FSWatcher } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

/** Reading, atomically writing and watching routing-table.json. */

export async function readTableFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: invalid JSON: ${(err as Error).message}`);
  }
}

/** Write via a temp file in the same folder + rename, so readers never see half a file. */
export async function writeTableFileAtomic(path: string, table: unknown): Promise<void> {
  const target = resolve(path);
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, JSON.stringify(table, null, 2) + '\n', 'utf8');
  await rename(tmp, target);
}

/**
 * Watch the table file (its folder, so an atomic rename is seen) and call `onChange` once per burst of
 * events (debounced), well within a second of the write.
 */
export function watchTableFile(path: string, onChange: () => void, debounceMs = 40): { close(): void } {
  const target = resolve(path);
  const name = basename(target);
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dirname(target), { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
    });
    watcher.on('error', () => {});
  } catch {
    watcher = null;
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}
