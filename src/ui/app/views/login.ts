/**
 * The login form, shown when the member has auth on and a call came back
 * without a (valid) token. The token etcd hands out is sent on every later
 * call as the `authorization` header.
 *
 * @module
 */
/// <reference lib="dom" />
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import type { Api } from "../api.ts";
import { errorText } from "../api.ts";
import { ErrorBanner, html } from "../ui.ts";

/** Asks for a user and password; `onDone` after a successful login. */
export function LoginView(props: { api: Api; onDone: () => void; reason?: string }): VNode {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const login = async () => {
    setBusy(true);
    try {
      // A stale token must not ride along on the Authenticate call itself.
      props.api.setSession(undefined);
      const r = await props.api.clients.auth.authenticate({ name, password });
      props.api.setSession({ user: name, token: r.token });
      props.onDone();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="login" aria-label="Log in" onSubmit=${(e: Event) => {
      e.preventDefault();
      void login();
    }}>
      <h2>Log in</h2>
      <p class="muted">${props.reason ?? "This cluster has authentication enabled."}</p>
      <${ErrorBanner} error=${error} />
      <label>User <input autocomplete="username" value=${name} data-testid="login-user" autofocus
          onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
      <label>Password <input type="password" autocomplete="current-password" value=${password}
          data-testid="login-password"
          onInput=${(e: Event) => setPassword((e.target as HTMLInputElement).value)} /></label>
      <button type="submit" disabled=${busy} data-testid="login-submit">Log in</button>
    </form>
  `;
}
