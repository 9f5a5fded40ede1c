/**
 * The key browser: the prefix tree (paged), the selected key's value and
 * metadata, and create, edit and delete. Edits and deletes are Txns guarded
 * on the mod_revision the page showed, so a change made meanwhile by anyone
 * else is reported instead of overwritten.
 *
 * @module
 */
/// <reference lib="dom" />
import type { VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  type KeyValue,
} from "../../../client/mod.ts";
import { isAbort } from "../api.ts";
import {
  binToParam,
  decodeText,
  fromBin,
  hexLines,
  leaseHex,
  parseHex,
  preview,
  showBin,
  toBin,
  viewValue,
} from "../bytes.ts";
import type { ViewContext } from "../context.ts";
import { ancestors, type KeyReader, listChildren, type TreeEntry } from "../tree.ts";
import { ConfirmDialog, type ConfirmRequest, ErrorBanner, html } from "../ui.ts";
import { HistoryPanel } from "./history.ts";

/** Entries per page of the tree. */
const PAGE_SIZE = 100;

/** The route of the key browser at `prefix` with `key` selected. */
export function keysRoute(prefix: string, key?: string): string {
  const q = `p=${binToParam(prefix)}` + (key !== undefined ? `&k=${binToParam(key)}` : "");
  return `#/keys?${q}`;
}

let firstRenderMarked = false;

/** The key browser at `prefix` (binary string), with `selected` open. */
export function KeysView(
  props: { ctx: ViewContext; prefix: string; selected?: string },
): VNode {
  const { ctx, prefix, selected } = props;
  const kv = ctx.api.clients.kv;
  const [entries, setEntries] = useState<TreeEntry[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string>();
  const [reload, setReload] = useState(0);
  const [creating, setCreating] = useState(false);
  const [goto, setGoto] = useState(showBin(prefix));
  const generation = useRef(0);

  const read: KeyReader = async (from, end, limit) => {
    const r = await kv.range({
      // etcd names "every key" as key "\0" with range end "\0": an empty key is refused.
      key: fromBin(from === "" ? "\0" : from),
      rangeEnd: fromBin(end),
      limit: BigInt(limit),
      keysOnly: true,
    });
    return { keys: r.kvs.map((k) => toBin(k.key)), more: r.more };
  };

  const load = async (cursor?: string) => {
    const gen = ++generation.current;
    setLoading(true);
    try {
      const page = await listChildren(read, prefix, { pageSize: PAGE_SIZE, cursor });
      if (gen !== generation.current) return;
      setEntries((old) => (cursor === undefined ? page.entries : [...old, ...page.entries]));
      setNext(page.next);
      setError(undefined);
    } catch (err) {
      if (gen === generation.current) setError(ctx.fail(err));
    } finally {
      if (gen === generation.current) setLoading(false);
    }
  };

  useEffect(() => {
    setGoto(showBin(prefix));
    void load();
  }, [prefix, reload]);

  useEffect(() => {
    // The bench's "time to first render": the first tree painted with its keys.
    if (!loading && !firstRenderMarked) {
      firstRenderMarked = true;
      performance.mark("cairn:keys-rendered");
    }
  }, [loading]);

  const refresh = () => setReload((n) => n + 1);
  const crumbs = ancestors(prefix);
  const last = crumbs[crumbs.length - 1];
  return html`
    <section class="keys" aria-label="Key browser">
      <div class="pane tree">
          <nav class="crumbs" aria-label="Prefix">
            ${crumbs.map((c) =>
              html`<a href=${keysRoute(c)}>${c === "" ? "(root)" : showBin(segment(c))}</a>`
            )}
            ${prefix !== "" &&
              html`<span aria-current="page">${showBin(prefix.slice(last.length))}</span>`}
          </nav>
          <form class="row" onSubmit=${(e: Event) => {
            e.preventDefault();
            ctx.navigate(keysRoute(toBin(new TextEncoder().encode(goto))));
          }}>
            <label class="grow">Prefix <input value=${goto} data-testid="prefix-input"
              onInput=${(e: Event) => setGoto((e.target as HTMLInputElement).value)} /></label>
            <button type="submit">Go</button>
            <button type="button" onClick=${refresh} data-testid="refresh">Refresh</button>
            <button type="button" onClick=${() =>
              setCreating(true)} data-testid="new-key">New key</button>
          </form>
          <${ErrorBanner} error=${error} />
          <ul class="entries" data-testid="key-list" data-ready=${String(!loading)}>
            ${entries.map((e) =>
              html`
                <li key=${e.path} class=${e.kind}>
                  <a href=${e.kind === "dir" ? keysRoute(e.path) : keysRoute(prefix, e.path)}
                    data-testid=${e.kind === "dir" ? "dir" : "key"} data-key=${showBin(e.path)}
                    aria-current=${e.kind === "key" && e.path === selected ? "true" : undefined}>
                            ${e.kind === "dir" ? "▸ " : ""}${e.name === ""
                              ? "(this key)"
                              : showBin(e.name)}</a>
                </li>
              `
            )}
          </ul>
          ${!loading && entries.length === 0 && !error &&
            html`<p class="muted">No keys under this prefix.</p>`}
          ${loading && html`<p class="muted" role="status">Loading…</p>`}
          ${next !== undefined && !loading && html`
            <button type="button" onClick=${() => load(next)}
              data-testid="more">More…</button>
          `}
        </div>
      <div class="pane detail">
          ${creating && html`<${NewKey} ctx=${ctx} prefix=${prefix} onDone=${(key?: string) => {
            setCreating(false);
            if (key !== undefined) {
              refresh();
              ctx.navigate(keysRoute(prefix, key));
            }
          }} />`}
          ${!creating && selected !== undefined && html`
            <${KeyDetail} key=${selected} ctx=${ctx}
              keyBin=${selected} onChanged=${refresh} onDeleted=${() => {
                refresh();
                ctx.navigate(keysRoute(prefix));
              }} />
          `}
          ${!creating && selected === undefined &&
            html`<p class="muted">Select a key to see its value.</p>`}
        </div>
    </section>
  `;
}

/** The last segment of a directory prefix ("a/b/" gives "b/"). */
function segment(dir: string): string {
  return dir.slice(dir.lastIndexOf("/", dir.length - 2) + 1);
}

/** The selected key: value viewer, metadata, edit, delete, history. */
function KeyDetail(
  props: { ctx: ViewContext; keyBin: string; onChanged: () => void; onDeleted: () => void },
): VNode {
  const { ctx, keyBin } = props;
  const kvClient = ctx.api.clients.kv;
  const key = fromBin(keyBin);
  const [kv, setKv] = useState<KeyValue | null>();
  const [error, setError] = useState<string>();
  const [editing, setEditing] = useState<{ text: string; hex: boolean; base: KeyValue }>();
  const [conflict, setConflict] = useState<{ current?: KeyValue }>();
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [tab, setTab] = useState<"value" | "history">("value");
  const [notice, setNotice] = useState<string>();

  const fetchKey = async () => {
    try {
      const r = await kvClient.range({ key });
      setKv(r.kvs[0] ?? null);
      setError(undefined);
      return r.kvs[0];
    } catch (err) {
      if (!isAbort(err)) setError(ctx.fail(err));
      return undefined;
    }
  };
  useEffect(() => {
    setEditing(undefined);
    setConflict(undefined);
    setNotice(undefined);
    setTab("value");
    void fetchKey();
  }, [keyBin]);

  const startEdit = (base: KeyValue) => {
    const hex = viewValue(base.value).kind === "binary";
    setEditing({ text: hex ? hexLines(base.value) : decodeText(base.value), hex, base });
    setConflict(undefined);
    setNotice(undefined);
  };

  /** The one Txn behind edit and delete: `op` only if nobody changed the key since `base`. */
  const guarded = async (base: KeyValue, op: "put" | "delete", value?: Uint8Array) => {
    const r = await kvClient.txn({
      compare: [{
        result: Compare_CompareResult.EQUAL,
        target: Compare_CompareTarget.MOD,
        key,
        targetUnion: { case: "modRevision", value: base.modRevision },
      }],
      success: [
        op === "put"
          ? { request: { case: "requestPut", value: { key, value, ignoreLease: true } } }
          : { request: { case: "requestDeleteRange", value: { key } } },
      ],
      failure: [{ request: { case: "requestRange", value: { key } } }],
    });
    if (r.succeeded) return { ok: true as const, revision: r.header?.revision ?? 0n };
    const resp = r.responses[0]?.response;
    return {
      ok: false as const,
      current: resp?.case === "responseRange" ? resp.value.kvs[0] : undefined,
    };
  };

  const save = async () => {
    if (!editing) return;
    const value = editing.hex ? parseHex(editing.text) : new TextEncoder().encode(editing.text);
    if (!value) return setError("The value is not valid hex.");
    try {
      const r = await guarded(editing.base, "put", value);
      if (!r.ok) return setConflict({ current: r.current });
      setEditing(undefined);
      setNotice(`Saved at revision ${r.revision}.`);
      await fetchKey();
      props.onChanged();
    } catch (err) {
      setError(ctx.fail(err));
    }
  };

  const askDelete = (base: KeyValue) =>
    setConfirm({
      title: "Delete key?",
      body: `Delete "${
        showBin(keyBin)
      }" (mod revision ${base.modRevision})? This cannot be undone.`,
      action: "Delete",
      run: async () => {
        try {
          const r = await guarded(base, "delete");
          if (r.ok) return props.onDeleted();
          setConflict({ current: r.current });
          await fetchKey();
        } catch (err) {
          setError(ctx.fail(err));
        }
      },
    });

  const view = kv ? viewValue(kv.value) : undefined;
  return html`<article class="key-detail" aria-label="Key">
    <h2 class="key-name" data-testid="key-name">${showBin(keyBin)}</h2>
    <${ErrorBanner} error=${error} onClose=${() => setError(undefined)} />
    ${notice && html`<p class="notice" role="status" data-testid="notice">${notice}</p>`}
    ${
    conflict && html`<div class="error" role="alert" data-testid="conflict">
      <strong>Concurrent change: your edit was not saved. </strong>
      ${
      conflict.current
        ? html`<span>${`The key was changed by someone else since you loaded it: it is now at mod revision ${conflict.current.modRevision} (version ${conflict.current.version}), value `}<code data-testid="conflict-value">${
          preview(conflict.current.value)
        }</code>.</span>`
        : html`<span>The key was deleted by someone else since you loaded it.</span>`
    }
      <div class="actions">
        <button type="button" onClick=${async () => {
      const cur = await fetchKey();
      setConflict(undefined);
      if (cur && editing) setEditing({ ...editing, base: cur });
      else setEditing(undefined);
    }}>Keep my text, edit on top of the current value</button>
        <button type="button" onClick=${async () => {
      setConflict(undefined);
      setEditing(undefined);
      await fetchKey();
    }}>Discard my edit</button>
      </div>
    </div>`
  }
    ${kv === null && html`<p class="muted">This key does not exist (any more).</p>`}
    ${
    kv && html`<div>
      <div class="tabs" role="tablist">
        <button type="button" role="tab" aria-selected=${tab === "value"}
          onClick=${() => setTab("value")}>Value</button>
        <button type="button" role="tab" aria-selected=${tab === "history"}
          onClick=${() => setTab("history")} data-testid="history-tab">History</button>
      </div>
      ${
      tab === "value" && html`<div>
        <dl class="meta">
          <dt>create revision</dt><dd>${String(kv.createRevision)}</dd>
          <dt>mod revision</dt><dd data-testid="mod-revision">${String(kv.modRevision)}</dd>
          <dt>version</dt><dd>${String(kv.version)}</dd>
          <dt>lease</dt><dd>${
        kv.lease ? html`<a href="#/leases">${leaseHex(kv.lease)}</a>` : "none"
      }</dd>
          <dt>size</dt><dd>${kv.value.length} bytes (${view!.kind})</dd>
        </dl>
        ${
        editing
          ? html`
            <form class="edit" onSubmit=${(e: Event) => {
              e.preventDefault();
              void save();
            }}>
              <label>New value ${editing.hex ? "(hex)" : ""}
                          <textarea rows="10" data-testid="edit-value" value=${editing.text}
                            onInput=${(e: Event) =>
                              setEditing({
                                ...editing,
                                text: (e.target as HTMLTextAreaElement).value,
                              })} />
                        </label>
              <div class="actions">
                <button type="submit" data-testid="save">Save</button>
                <button type="button" onClick=${() => setEditing(undefined)}>Cancel</button>
              </div>
            </form>
          `
          : html`
            <div>
              <pre class=${"value " + view!.kind} data-testid="value" tabindex="0">${view!
                .display}</pre>
              <div class="actions">
                <button type="button" onClick=${() =>
                  startEdit(kv)} data-testid="edit">Edit</button>
                <button type="button" class="danger" onClick=${() => askDelete(kv)}
                  data-testid="delete">Delete</button>
              </div>
            </div>
          `
      }
      </div>`
    }
      ${tab === "history" && html`<${HistoryPanel} ctx=${ctx} keyBin=${keyBin} />`}
    </div>`
  }
    <${ConfirmDialog} request=${confirm} onClose=${() => setConfirm(undefined)} />
  </article>`;
}

/** A form for a new key; `onDone` gets the key created, or nothing when cancelled. */
function NewKey(
  props: { ctx: ViewContext; prefix: string; onDone: (key?: string) => void },
): VNode {
  const { ctx } = props;
  const [name, setName] = useState(showBin(props.prefix));
  const [value, setValue] = useState("");
  const [lease, setLease] = useState("");
  const [error, setError] = useState<string>();
  const create = async () => {
    const key = new TextEncoder().encode(name);
    if (key.length === 0) return setError("The key is empty.");
    let leaseId = 0n;
    if (lease.trim() !== "") {
      if (!/^[0-9a-fA-F]{1,16}$/.test(lease.trim())) return setError("The lease is not a hex id.");
      leaseId = BigInt.asIntN(64, BigInt("0x" + lease.trim()));
    }
    try {
      // Only if the key does not exist yet: creating never overwrites.
      const r = await ctx.api.clients.kv.txn({
        compare: [{
          result: Compare_CompareResult.EQUAL,
          target: Compare_CompareTarget.CREATE,
          key,
          targetUnion: { case: "createRevision", value: 0n },
        }],
        success: [{
          request: {
            case: "requestPut",
            value: { key, value: new TextEncoder().encode(value), lease: leaseId },
          },
        }],
      });
      if (!r.succeeded) return setError("A key with this name already exists.");
      props.onDone(toBin(key));
    } catch (err) {
      setError(ctx.fail(err));
    }
  };
  return html`
    <form class="edit" aria-label="New key" onSubmit=${(e: Event) => {
      e.preventDefault();
      void create();
    }}>
      <h2>New key</h2>
      <${ErrorBanner} error=${error} />
      <label>Key <input value=${name} data-testid="new-key-name" autofocus
          onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
      <label>Value <textarea rows="6" value=${value} data-testid="new-key-value"
          onInput=${(e: Event) => setValue((e.target as HTMLTextAreaElement).value)} /></label>
      <label>Lease (hex id, optional) <input value=${lease}
          onInput=${(e: Event) => setLease((e.target as HTMLInputElement).value)} /></label>
      <div class="actions">
        <button type="submit" data-testid="create">Create</button>
        <button type="button" onClick=${() => props.onDone()}>Cancel</button>
      </div>
    </form>
  `;
}
