/**
 * The dashboard's entry point (bundled into src/ui/dashboard_bundle.gen.ts
 * by src/ui/build.ts): the shell with its navigation, hash routes and the
 * login gate.
 *
 * Preact with htm: a 4 kB component library with hooks and no build step
 * of its own (htm's tagged templates replace JSX), so `deno bundle` alone
 * makes the page script.
 *
 * @module
 */
/// <reference lib="dom" />
import { render, type VNode } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { createApi, errorText, needsLogin } from "./api.ts";
import { paramToBin } from "./bytes.ts";
import type { ViewContext } from "./context.ts";
import { html } from "./ui.ts";
import { ClusterView } from "./views/cluster.ts";
import { KeysView } from "./views/keys.ts";
import { LeasesView } from "./views/leases.ts";
import { LoginView } from "./views/login.ts";
import { WatchView } from "./views/watch.ts";

interface Route {
  view: "keys" | "watch" | "leases" | "cluster" | "login";
  params: Map<string, string>;
}

/** Reads "#/keys?p=a%2F" as a route; parameters stay %-encoded (binary keys). */
function parseRoute(hash: string): Route {
  const m = /^#\/([a-z]+)(?:\?(.*))?$/.exec(hash);
  const params = new Map<string, string>();
  for (const part of (m?.[2] ?? "").split("&")) {
    const eq = part.indexOf("=");
    if (eq > 0) params.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const view = m?.[1];
  return {
    view: view === "watch" || view === "leases" || view === "cluster" || view === "login"
      ? view
      : "keys",
    params,
  };
}

const NAV: [Route["view"], string][] = [
  ["keys", "Keys"],
  ["watch", "Watch"],
  ["leases", "Leases"],
  ["cluster", "Cluster"],
];

function App(): VNode {
  const api = useMemo(() => createApi(location.origin), []);
  const [route, setRoute] = useState(parseRoute(location.hash));
  const [loginReason, setLoginReason] = useState<string>();
  const [session, setSession] = useState(api.session());
  const [epoch, setEpoch] = useState(0);
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);

  const ctx: ViewContext = {
    api,
    navigate(hash) {
      if (location.hash === hash) setRoute(parseRoute(hash));
      else location.hash = hash;
    },
    fail(err) {
      const text = errorText(err);
      if (needsLogin(err)) {
        setLoginReason(
          api.session()
            ? `Your session ended (${text}).`
            : "This cluster has authentication enabled.",
        );
      }
      return text;
    },
  };

  const logout = () => {
    api.setSession(undefined);
    setSession(undefined);
    setEpoch((n) => n + 1);
  };

  let body: VNode;
  if (loginReason !== undefined || route.view === "login") {
    body = html`<${LoginView} api=${api} reason=${loginReason} onDone=${() => {
      setLoginReason(undefined);
      setSession(api.session());
      setEpoch((n) => n + 1);
      if (route.view === "login") location.hash = "#/keys";
    }} />`;
  } else if (route.view === "watch") {
    body = html`<${WatchView} ctx=${ctx} />`;
  } else if (route.view === "leases") {
    body = html`<${LeasesView} ctx=${ctx} />`;
  } else if (route.view === "cluster") {
    body = html`<${ClusterView} ctx=${ctx} />`;
  } else {
    const p = route.params.get("p");
    const k = route.params.get("k");
    body = html`
      <${KeysView} ctx=${ctx} prefix=${p ? paramToBin(p) : ""}
        selected=${k !== undefined ? paramToBin(k) : undefined} />
    `;
  }

  return html`
    <div class="shell">
      <a class="skip" href="#main" onClick=${(e: Event) => {
        // The fragment holds the route: focus the content instead of following the link.
        e.preventDefault();
        document.getElementById("main")?.focus();
      }}>Skip to content</a>
      <header>
        <h1>cairn</h1>
        <nav aria-label="Sections">
            ${NAV.map(([view, label]) =>
              html`
                <a href=${"#/" + view}
                  aria-current=${route.view === view ? "page" : undefined}>${label}</a>
              `
            )}
          </nav>
        <div class="user">
            ${session
              ? html`
                <span data-testid="user">${session.user}</span>
                <button type="button" class="link" onClick=${logout}>Log out</button>
              `
              : html`<a href="#/login">Log in</a>`}
          </div>
      </header>
      <main id="main" tabindex="-1" key=${epoch}>${body}</main>
    </div>
  `;
}

const root = document.getElementById("app")!;
// The page's "Loading…" placeholder goes; render() would only append to it.
root.textContent = "";
render(html`<${App} />`, root);
