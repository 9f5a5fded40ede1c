/**
 * Member and cluster ids derived exactly as etcd derives them, so a member
 * restarted with the same flags keeps its ids, and ids match what etcd
 * would assign to the same peer URLs and cluster token.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** A URL written the way Go's url.URL.String() writes a scheme://host URL (no trailing slash). */
export function urlString(u: URL): string {
  const path = u.pathname === "/" ? "" : u.pathname;
  return `${u.protocol}//${u.host}${path}`;
}

function first8BigEndian(bytes: Uint8Array): bigint {
  let id = 0n;
  for (let i = 0; i < 8; i++) id = (id << 8n) | BigInt(bytes[i]);
  return id;
}

/**
 * etcd's computeMemberID: SHA-1 of the sorted peer URLs joined with no
 * separator, then the cluster token (and, for members added at runtime, the
 * Unix time in seconds); the first 8 bytes big-endian.
 */
export function computeMemberId(
  peerUrls: readonly string[],
  token: string,
  unixSeconds?: number,
): bigint {
  const joined = [...peerUrls].sort().join("") + token +
    (unixSeconds === undefined ? "" : String(unixSeconds));
  return first8BigEndian(createHash("sha1").update(joined, "utf8").digest());
}

/** etcd's genID: SHA-1 of the sorted member ids as 8-byte big-endian values. */
export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = new Uint8Array(8 * sorted.length);
  const view = new DataView(buf.buffer);
  sorted.forEach((id, i) => view.setBigUint64(8 * i, id));
  return first8BigEndian(createHash("sha1").update(buf).digest());
}

/** Lower-case hex without padding, as etcd prints member ids. */
export function idToHex(id: bigint): string {
  return id.toString(16);
}
