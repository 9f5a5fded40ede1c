/**
 * URL settings with etcd's rules (types.NewURLs, checkBindURLs,
 * checkHostURLs): http and https URLs need an explicit host:port and no
 * path; `unix://` and `unixs://` URLs name a socket file by their host
 * (`unix://localhost:2379` listens on a file called "localhost:2379", as
 * etcd does); listeners must be IP addresses or "localhost".
 *
 * @module
 */
import { ConfigError } from "./error.ts";
import { invalid, type Raw } from "./values.ts";

/** True for the schemes whose URLs name a socket file rather than a TCP address. */
export function isUnixUrl(u: URL): boolean {
  return u.protocol === "unix:" || u.protocol === "unixs:";
}

/** True for the schemes that need TLS (https and unixs). */
export function isSecureUrl(u: URL): boolean {
  return u.protocol === "https:" || u.protocol === "unixs:";
}

/**
 * The URL as `scheme://host:port` with the port always spelled out and no
 * trailing slash; a unix socket URL keeps its host as written.
 */
export function formatUrl(u: URL): string {
  if (isUnixUrl(u)) return `${u.protocol}//${u.host}`;
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  return `${u.protocol}//${u.hostname}:${port}`;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Parses one URL. `bind` adds etcd's listener rule that the host be an IP
 * address or "localhost" (unix sockets excepted); otherwise the host must not
 * be empty. Throws a plain Error whose message is the reason.
 */
export function parseUrl(text: string, bind: boolean): URL {
  const s = text.trim();
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(s);
  const scheme = m?.[1].toLowerCase() ?? "";
  if (!m || !["http", "https", "unix", "unixs"].includes(scheme)) {
    throw new Error(`URL scheme must be http, https, unix, or unixs: ${s}`);
  }
  if (scheme === "unix" || scheme === "unixs") {
    // The host names the socket file; a path would be silently dropped by etcd's listener.
    if (m[2] === "" || m[3] !== "") throw new Error(`URL must name a socket as host[:port]: ${s}`);
    try {
      return new URL(s);
    } catch {
      throw new Error(`URL must name a socket as host[:port]: ${s}`);
    }
  }
  const hp = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]@]*):(\d{1,5})$/.exec(m[2]);
  if (!hp || Number(hp[2]) > 65535) {
    throw new Error(`URL address does not have the form "host:port": ${s}`);
  }
  if (m[3] !== "") throw new Error(`URL must not contain a path: ${s}`);
  const host = hp[1];
  if (bind && host !== "localhost" && !IPV4.test(host) && !host.startsWith("[")) {
    throw new Error(`expected IP in URL for binding (${s})`);
  }
  if (host === "") throw new Error(`unexpected empty host (${s})`);
  try {
    return new URL(s);
  } catch {
    throw new Error(`URL address does not have the form "host:port": ${s}`);
  }
}

/**
 * A comma-separated URL list, duplicates dropped, order kept (etcd's
 * UniqueURLs). `optional` lists may be empty.
 */
export function toUrls(raw: Raw, bind: boolean, optional = false): URL[] {
  if (optional && raw.value.trim() === "") return [];
  const out = new Map<string, URL>();
  for (const part of raw.value.split(",")) {
    try {
      const u = parseUrl(part, bind);
      if (!out.has(formatUrl(u))) out.set(formatUrl(u), u);
    } catch (e) {
      throw invalid(raw, (e as Error).message);
    }
  }
  return [...out.values()];
}

/**
 * `--cors`: "*" alone allows every origin; anything else must be a list of
 * URLs (etcd's UniqueURLsWithExceptions("*")), kept as written, trimmed and
 * without repeats.
 */
export function toOrigins(raw: Raw): string[] {
  if (raw.value === "*") return ["*"];
  const out: string[] = [];
  for (const part of raw.value.split(",")) {
    try {
      parseUrl(part, false);
    } catch (e) {
      throw invalid(raw, (e as Error).message);
    }
    if (!out.includes(part.trim())) out.push(part.trim());
  }
  return out;
}

/** Parses `--initial-cluster` ("a=http://h1:2380,a=http://h1b:2380,b=http://h2:2380"). */
export function parseInitialCluster(text: string): Map<string, URL[]> {
  const m = new Map<string, URL[]>();
  if (text.trim() === "") return m;
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    let u: URL;
    try {
      u = parseUrl(eq < 0 ? "" : part.slice(eq + 1), false);
    } catch (e) {
      throw new ConfigError(`error setting up initial cluster: ${(e as Error).message}`);
    }
    m.set(name, [...(m.get(name) ?? []), u]);
  }
  return m;
}

/** The initial cluster as etcd prints it: sorted `name=url` pairs. */
export function clusterString(m: Map<string, URL[]>): string {
  const parts: string[] = [];
  for (const [name, urls] of m) for (const u of urls) parts.push(`${name}=${formatUrl(u)}`);
  return parts.sort().join(",");
}
