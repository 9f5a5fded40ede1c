/**
 * etcd's snapshot file: a bbolt database followed by the SHA-256 of the
 * database (32 bytes), as Maintenance.Snapshot streams it and `etcdctl
 * snapshot save` keeps it. A file carries the trailer exactly when its size
 * is 32 more than a multiple of 512, the test etcd's tools apply. Also
 * etcd's `snapshot status` digest: CRC-32C over every bucket name, key and
 * value, with the revision of the last `key` entry and the entry count.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { BoltReader } from "../bbolt/reader.ts";
import { crc32cAppend } from "../wire/crc32c.ts";
import { parseRevisionKey } from "./etcd_schema.ts";

/** Bytes of the SHA-256 trailer. */
export const SHA256_SIZE = 32;

/** Whether a file of `size` bytes carries the trailer (etcd's hasChecksum). */
export function hasSha256Trailer(size: number): boolean {
  return size % 512 === SHA256_SIZE;
}

/** The snapshot's integrity check failed, worded as etcd's restore words it. */
export class SnapshotIntegrityError extends Error {
  /** @param message etcd's error text */
  constructor(message: string) {
    super(message);
    this.name = "SnapshotIntegrityError";
  }
}

/** Go's `%v` of a byte slice: decimal bytes in brackets. */
function goBytes(b: Uint8Array): string {
  return `[${Array.from(b).join(" ")}]`;
}

/**
 * The database part of a snapshot file, its trailer checked unless
 * `skipHashCheck` (etcd's restore rules: a file without a trailer needs
 * `--skip-hash-check`).
 */
export function snapshotDatabase(file: Uint8Array, skipHashCheck: boolean): Uint8Array {
  if (!hasSha256Trailer(file.length)) {
    if (!skipHashCheck) {
      throw new SnapshotIntegrityError("snapshot missing hash but --skip-hash-check=false");
    }
    return file;
  }
  const db = file.subarray(0, file.length - SHA256_SIZE);
  if (!skipHashCheck) {
    const want = file.subarray(file.length - SHA256_SIZE);
    const got = new Uint8Array(createHash("sha256").update(db).digest());
    if (!want.every((b, i) => b === got[i])) {
      throw new SnapshotIntegrityError(`expected sha256 ${goBytes(want)}, got ${goBytes(got)}`);
    }
  }
  return db;
}

/** The database of a file that may or may not carry the trailer (status reads either). */
export function databaseOf(file: Uint8Array): Uint8Array {
  return hasSha256Trailer(file.length) ? file.subarray(0, file.length - SHA256_SIZE) : file;
}

/** What `snapshot status` reports. */
export interface SnapshotStatus {
  /** CRC-32C over bucket names, keys and values, in order. */
  hash: number;
  /** Main revision of the last entry of the `key` bucket (0 if none). */
  revision: number;
  /** Entries over all buckets. */
  totalKey: number;
  /** The database size bbolt reports: high-water page id times page size. */
  totalSize: number;
}

/** etcd's snapshot status of an opened database. */
export function snapshotStatus(db: BoltReader): SnapshotStatus {
  let crc = 0;
  let revision = 0;
  let totalKey = 0;
  for (const b of db.buckets()) {
    crc = crc32cAppend(crc, b.name);
    const isKey = b.name.length === 3 && new TextDecoder().decode(b.name) === "key";
    for (const [k, v] of b.entries) {
      crc = crc32cAppend(crc, k);
      crc = crc32cAppend(crc, v);
      if (isKey) revision = parseRevisionKey(k).main;
      totalKey++;
    }
  }
  return { hash: crc, revision, totalKey, totalSize: db.size };
}

/** A SHA-256 over chunks that may arrive one by one. */
export function sha256Of(chunks: Iterable<Uint8Array>): Uint8Array {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return new Uint8Array(h.digest());
}
