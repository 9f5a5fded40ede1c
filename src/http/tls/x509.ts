/**
 * `@peculiar/x509` (certificate generation and parsing), loaded on demand:
 * only members that use TLS checks or `--auto-tls` pay for loading it.
 * Its dependency injection container (tsyringe) needs the Reflect metadata
 * polyfill installed before it loads, hence the import order here.
 *
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

/** The library, with WebCrypto as its provider. */
export { x509 };
