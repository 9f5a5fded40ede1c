/**
 * CRC-32C (Castagnoli), the checksum etcd uses for HashKV. Incremental:
 * start from `CRC32C_INIT`, feed bytes with `crc32cUpdate`, finish with
 * `crc32cFinal`.
 */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Initial running state. */
export const CRC32C_INIT = 0xffffffff;

/** Folds `bytes` into the running state `crc`. */
export function crc32cUpdate(crc: number, bytes: Uint8Array): number {
  let c = crc;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** The checksum value of a running state. */
export function crc32cFinal(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/** One-shot CRC-32C of `bytes`. */
export function crc32c(bytes: Uint8Array): number {
  return crc32cFinal(crc32cUpdate(CRC32C_INIT, bytes));
}
