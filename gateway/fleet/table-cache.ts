import { readFile, rename, writeFile } from 'node:fs/promises';
import * as v from 'valibot';
import { decodePublished, type PublishedTable } from './published-table.js';

/**
 * The last published table this instance applied, kept on local disk, so an instance that (re)starts while
 * Redis is unreachable comes back on the fleet's table rather than on its possibly older file.
 * Written atomically (temp file + rename) after every apply; read only at start-up.
 */

const CachedSchema = v.object({
  revision: v.number(),
  table: v.string(),
  sha256: v.string(),
  tableVersion: v.string(),
  publishedAt: v.number(),
  publishedBy: v.string(),
});

export async function writeTableCache(path: string, doc: PublishedTable): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const body = { revision: doc.revision, table: doc.tableJson, sha256: doc.sha256, tableVersion: doc.tableVersion, publishedAt: doc.publishedAt, publishedBy: doc.publishedBy };
  await writeFile(tmp, `${JSON.stringify(body)}\n`, 'utf8');
  await rename(tmp, path);
}

/** The cached document, or null when there is none; throws when the file exists but is damaged. */
export async function readTableCache(path: string): Promise<PublishedTable | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = v.parse(CachedSchema, JSON.parse(text));
  // Same checks as a document read from Redis (sha256 of the content).
  return decodePublished({
    revision: String(parsed.revision),
    table: parsed.table,
    sha256: parsed.sha256,
    tableVersion: parsed.tableVersion,
    publishedAt: String(parsed.publishedAt),
    publishedBy: parsed.publishedBy,
  });
}
