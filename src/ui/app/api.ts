/**
 * The dashboard's connection to the member that served it: Connect-Web
 * (binary) on the page's own origin, with the session's auth token on every
 * call, and readable errors.
 *
 * @module
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { type CairnClients, cairnClients } from "../../client/mod.ts";

export type { CairnClients };

/** Who the dashboard acts as once logged in. */
export interface Session {
  user: string;
  token: string;
}

/** The clients and the session they carry. */
export interface Api {
  clients: CairnClients;
  /** The current session, or undefined when not logged in. */
  session(): Session | undefined;
  /** Sets (or clears) the session used by every later call. */
  setSession(session: Session | undefined): void;
}

const STORAGE_KEY = "cairn.session";

/**
 * Clients of every service on `baseUrl` (the page's origin). The session
 * survives a reload of the tab (sessionStorage) but not the tab itself.
 */
export function createApi(baseUrl: string): Api {
  let session = loadSession();
  // etcd reads the token from the "authorization" metadata, which a
  // Connect request carries as this header.
  const auth: Interceptor = (next) => (req) => {
    if (session) req.header.set("authorization", session.token);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl,
    useBinaryFormat: true,
    interceptors: [auth],
  });
  return {
    clients: cairnClients(transport),
    session: () => session,
    setSession(next) {
      session = next;
      try {
        if (next) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
        else sessionStorage.removeItem(STORAGE_KEY);
      } catch {
        // storage disabled: the session lasts as long as the page
      }
    },
  };
}

function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return undefined;
    const s = JSON.parse(raw);
    return typeof s?.user === "string" && typeof s?.token === "string" ? s : undefined;
  } catch {
    return undefined;
  }
}

/** etcd's message for an error (e.g. "etcdserver: permission denied"). */
export function errorText(err: unknown): string {
  if (err instanceof ConnectError) return err.rawMessage || Code[err.code];
  return err instanceof Error ? err.message : String(err);
}

/**
 * True when the call failed for want of a (valid) login: etcd answers
 * "user name is empty" without a token once auth is on, and "invalid auth
 * token" for an expired or unknown one.
 */
export function needsLogin(err: unknown): boolean {
  const msg = errorText(err);
  return msg === "etcdserver: user name is empty" || msg === "etcdserver: invalid auth token";
}

/** True for an aborted call (a stopped watch or a view that went away). */
export function isAbort(err: unknown): boolean {
  return err instanceof ConnectError
    ? err.code === Code.Canceled
    : err instanceof DOMException && err.name === "AbortError";
}
