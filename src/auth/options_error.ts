/**
 * The error of a bad `--auth-token` option, apart from jwt.ts so that
 * checking options does not load the JWT code (and `jose`), which a
 * member only needs with `--auth-token jwt,...`.
 *
 * @module
 */

/** A failure to set up auth tokens, with etcd's wording. */
export class AuthOptionsError extends Error {}
