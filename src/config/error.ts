/**
 * The one error type configuration problems use.
 *
 * @module
 */

/**
 * A configuration problem; `message` is what the user should see.
 * `exitCode` follows etcd: 2 for command-line syntax errors (after which etcd
 * prints usage), 1 for everything else.
 */
export class ConfigError extends Error {
  /** Suggested process exit code. */
  readonly exitCode: 1 | 2;
  /** Creates an error with the user-facing `message`. */
  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(message);
    this.name = "ConfigError";
    this.exitCode = exitCode;
  }
}
