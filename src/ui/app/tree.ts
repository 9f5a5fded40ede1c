/**
 * The key browser's prefix tree: the direct children of a prefix, keys
 * split on "/", found with bounded Range calls so a prefix over a million
 * keys lists as fast as one over ten.
 *
 * Each call reads at most `batch` keys (keys only) from a cursor. A key in
 * a sub-directory reveals that directory; the cursor then jumps past the
 * whole directory (to the prefix end of "dir/"), so a directory costs one
 * key read however many keys it holds. Listing stops after `pageSize`
 * entries or `maxCalls` calls and hands back the cursor of the next page.
 *
 * @module
 */
import { prefixEnd } from "./bytes.ts";

/** One child of a prefix. */
export interface TreeEntry {
  /** A key, or a directory (keys sharing the prefix up to the next "/"). */
  kind: "key" | "dir";
  /** The whole key, or the directory's prefix ending in "/" (binary strings). */
  path: string;
  /** The part after the listed prefix (binary string); "" is the prefix itself as a key. */
  name: string;
}

/** One page of children. */
export interface TreePage {
  entries: TreeEntry[];
  /** Where the next page starts; undefined when this was the last page. */
  next?: string;
  /** Range calls made. */
  calls: number;
}

/** Reads up to `limit` keys in [from, end) in key order; `more` when some were left. */
export type KeyReader = (
  from: string,
  end: string,
  limit: number,
) => Promise<{ keys: string[]; more: boolean }>;

/** Options of {@link listChildren}. */
export interface ListOptions {
  /** Entries per page (default 100). */
  pageSize?: number;
  /** Keys per Range call (default 200). */
  batch?: number;
  /** Range calls per page at most (default 25); a page may come back short. */
  maxCalls?: number;
  /** Cursor from a previous page. */
  cursor?: string;
}

/** Lists the children of `prefix` (a binary string; "" is the root). */
export async function listChildren(
  read: KeyReader,
  prefix: string,
  opts: ListOptions = {},
): Promise<TreePage> {
  const pageSize = opts.pageSize ?? 100;
  const batch = opts.batch ?? 200;
  const maxCalls = opts.maxCalls ?? 25;
  const end = prefixEnd(prefix);
  const entries: TreeEntry[] = [];
  let cursor = opts.cursor ?? prefix;
  let calls = 0;
  while (entries.length < pageSize && calls < maxCalls) {
    calls++;
    const { keys, more } = await read(cursor, end, batch);
    let exhausted = !more;
    for (const key of keys) {
      // Keys before the cursor belong to a directory listed earlier in this batch.
      if (key < cursor) continue;
      if (entries.length >= pageSize) {
        exhausted = false;
        break;
      }
      const name = key.slice(prefix.length);
      const slash = name.indexOf("/");
      if (slash >= 0 && slash < name.length - 1) {
        const dir = prefix + name.slice(0, slash + 1);
        entries.push({ kind: "dir", path: dir, name: name.slice(0, slash + 1) });
        cursor = prefixEnd(dir);
        // A directory ending in 0xff bytes has no end below the range's own.
        if (cursor === "\0" || (end !== "\0" && cursor >= end)) return { entries, calls };
      } else {
        entries.push({ kind: "key", path: key, name });
        cursor = key + "\0";
      }
    }
    if (exhausted) return { entries, calls };
  }
  return { entries, next: cursor, calls };
}

/** The directories leading to `prefix`: "a/b/c" gives "", "a/", "a/b/" (breadcrumbs). */
export function ancestors(prefix: string): string[] {
  const out = [""];
  for (
    let i = prefix.indexOf("/");
    i >= 0 && i < prefix.length - 1;
    i = prefix.indexOf("/", i + 1)
  ) {
    out.push(prefix.slice(0, i + 1));
  }
  return out;
}
