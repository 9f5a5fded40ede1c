/**
 * CRC-32C (Castagnoli), the one checksum of cairn's formats: WAL records
 * and snapshot files (src/storage), the store snapshot body (src/mvcc),
 * HashKV and the etcd snapshot status hash (as etcd computes them), and
 * snapshot transfers between peers. All of them use the same standard
 * CRC-32C (reflected polynomial 0x82f63b78, initial and final XOR
 * 0xffffffff), so one implementation serves every format unchanged.
 *
 * Table-driven, 16 bytes per step ("slicing by 16"): about 1-1.5 GB/s
 * under Deno 2.9 here, as fast as the `crc-32` package it replaces, and
 * {@link crc32cRange} checks a record inside a larger buffer without a
 * view object per record (a restart checks a million WAL records).
 *
 * @module
 */

/** 16 tables of 256 entries, end to end: table t maps a byte t positions from the end of a step. */
const T = new Int32Array(16 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[n] = c;
}
for (let t = 1; t < 16; t++) {
  for (let n = 0; n < 256; n++) {
    const p = T[(t - 1) * 256 + n];
    T[t * 256 + n] = (p >>> 8) ^ T[p & 255];
  }
}

/** CRC-32C of `bytes` as an unsigned 32-bit integer. */
export function crc32c(bytes: Uint8Array): number {
  return crc32cRange(bytes, 0, bytes.length, 0);
}

/**
 * CRC-32C of some earlier bytes followed by `bytes`, given the earlier
 * bytes' checksum `prev` (0 for nothing yet): checksums computed piece by
 * piece equal the checksum of the whole.
 */
export function crc32cAppend(prev: number, bytes: Uint8Array): number {
  return crc32cRange(bytes, 0, bytes.length, prev);
}

/**
 * CRC-32C of `bytes[start..end)`, continuing from `prev` (0 for nothing
 * yet), as an unsigned 32-bit integer.
 */
export function crc32cRange(bytes: Uint8Array, start: number, end: number, prev = 0): number {
  let c = ~prev;
  let i = start;
  for (const last = end - 15; i < last; i += 16) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = T[3840 + (c & 255)] ^ T[3584 + ((c >>> 8) & 255)] ^ T[3328 + ((c >>> 16) & 255)] ^
      T[3072 + (c >>> 24)] ^ T[2816 + bytes[i + 4]] ^ T[2560 + bytes[i + 5]] ^
      T[2304 + bytes[i + 6]] ^ T[2048 + bytes[i + 7]] ^ T[1792 + bytes[i + 8]] ^
      T[1536 + bytes[i + 9]] ^ T[1280 + bytes[i + 10]] ^ T[1024 + bytes[i + 11]] ^
      T[768 + bytes[i + 12]] ^ T[512 + bytes[i + 13]] ^ T[256 + bytes[i + 14]] ^ T[bytes[i + 15]];
  }
  for (; i < end; i++) c = (c >>> 8) ^ T[(c ^ bytes[i]) & 255];
  return ~c >>> 0;
}
