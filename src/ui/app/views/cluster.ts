/**
 * Cluster: the members (leader and learners marked), the serving member's
 * Raft term and index, database size, version, health and alarms, and the
 * confirmed actions compact, defragment and move leader.
 *
 * The page talks only to the member that served it, so per-member Raft
 * figures are this member's; each member's own dashboard (its client URL
 * + /ui/) shows its own.
 *
 * @module
 */
/// <reference lib="dom" />
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import {
  AlarmRequest_AlarmAction,
  type AlarmResponse,
  AlarmType,
  type Member,
  type StatusResponse,
} from "../../../client/mod.ts";
import { errorText } from "../api.ts";
import { formatBytes, idHex } from "../bytes.ts";
import type { ViewContext } from "../context.ts";
import { ConfirmDialog, type ConfirmRequest, ErrorBanner, html, usePoll } from "../ui.ts";

interface Snapshot {
  members: Member[];
  status: StatusResponse;
  alarms: AlarmResponse["alarms"];
}

/** The cluster view. */
export function ClusterView(props: { ctx: ViewContext }): VNode {
  const { ctx } = props;
  const { cluster, maintenance, kv } = ctx.api.clients;
  const [snap, setSnap] = useState<Snapshot>();
  const [error, setError] = useState<string>();
  const [actionError, setActionError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [confirm, setConfirm] = useState<ConfirmRequest>();
  const [compactRev, setCompactRev] = useState("");
  const [physical, setPhysical] = useState(false);
  const [target, setTarget] = useState("");

  const refresh = async () => {
    try {
      const [m, status, alarms] = await Promise.all([
        cluster.memberList({ linearizable: false }),
        maintenance.status({}),
        maintenance.alarm({ action: AlarmRequest_AlarmAction.GET }),
      ]);
      setSnap({ members: m.members, status, alarms: alarms.alarms });
      setError(undefined);
    } catch (err) {
      setError(ctx.fail(err));
    }
  };
  usePoll(refresh, 2000, []);

  const act = (label: string, run: () => Promise<string>) => async () => {
    setActionError(undefined);
    setNotice(undefined);
    try {
      setNotice(await run());
      await refresh();
    } catch (err) {
      setActionError(`${label}: ${ctx.fail(err)}`);
    }
  };

  const s = snap?.status;
  const leader = s?.leader ?? 0n;
  const self = s?.header?.memberId;
  const healthy = s !== undefined && leader !== 0n && s.errors.length === 0 &&
    (snap?.alarms.length ?? 0) === 0;
  const others = snap?.members.filter((m) => m.ID !== leader && !m.isLearner) ?? [];
  return html`<section class="cluster" aria-label="Cluster">
    <${ErrorBanner} error=${error} />
    ${
    s && html`
      <div class="cards">
        <dl class="meta" data-testid="status">
              <dt>health</dt><dd data-testid="health" class=${healthy ? "ok" : "bad"}>${healthy
                ? "healthy"
                : "unhealthy"}</dd>
              <dt>leader</dt><dd data-testid="leader">${leader === 0n
                ? "none"
                : nameOf(snap!.members, leader)}</dd>
              <dt>this member</dt><dd>${self !== undefined
                ? nameOf(snap!.members, self)
                : "?"}${s.isLearner ? " (learner)" : ""}</dd>
              <dt>version</dt><dd>${s.version}</dd>
              <dt>raft term</dt><dd data-testid="raft-term">${String(s.raftTerm)}</dd>
              <dt>raft index</dt><dd>${String(s.raftIndex)} (applied ${String(
                s.raftAppliedIndex,
              )})</dd>
              <dt>revision</dt><dd>${String(s.header?.revision ?? 0n)}</dd>
              <dt>db size</dt><dd>${formatBytes(s.dbSize)} (in use ${formatBytes(
                s.dbSizeInUse,
              )})</dd>
              <dt>alarms</dt><dd data-testid="alarms">${snap!.alarms.length === 0
                ? "none"
                : snap!.alarms.map((a) =>
                  `${AlarmType[a.alarm]} on ${nameOf(snap!.members, a.memberID)}`
                ).join(", ")}</dd>
              ${s.errors.length > 0 && html`
                <dt>errors</dt>
                <dd>${s.errors.join("; ")}</dd>
              `}
            </dl>
      </div>
    `
  }
    ${
    snap && html`
      <table data-testid="members">
        <caption>Members</caption>
        <thead>
          <tr>
            <th scope="col">name</th>
            <th scope="col">id</th>
            <th scope="col">role</th>
            <th scope="col">peer URLs</th>
            <th scope="col">client URLs</th>
          </tr>
        </thead>
        <tbody>
              ${snap.members.map((m) =>
                html`
                  <tr key=${String(m.ID)} data-testid="member-row"
                    data-name=${m.name} data-leader=${String(m.ID === leader)}>
                    <td>${m.name || "(unstarted)"}${m.ID === self ? " (this)" : ""}</td>
                    <td><code class="id">${idHex(m.ID)}</code></td>
                    <td>${m.ID === leader
                      ? html`<strong>leader</strong>`
                      : m.isLearner
                      ? "learner"
                      : "follower"}</td>
                    <td>${m.peerURLs.join(", ")}</td>
                    <td>${m.clientURLs.map((u) =>
                      html`
                        <a href=${u.replace(/\/$/, "") + "/ui/"}>${u}</a>
                      `
                    )}</td>
                  </tr>
                `
              )}
            </tbody>
      </table>
    `
  }
    <h2>Actions</h2>
    <${ErrorBanner} error=${actionError} onClose=${() => setActionError(undefined)} />
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    <form class="row" onSubmit=${(e: Event) => {
    e.preventDefault();
    if (!/^\d*$/.test(compactRev.trim())) {
      return setActionError("compact: the revision is not a number");
    }
    const rev = compactRev.trim() === "" ? (s?.header?.revision ?? 0n) : BigInt(compactRev.trim());
    setConfirm({
      title: "Compact?",
      body: `Compact the key history up to revision ${rev}? Older revisions are gone for good.`,
      action: "Compact",
      run: act("compact", async () => {
        await kv.compact({ revision: rev, physical });
        return `Compacted up to revision ${rev}.`;
      }),
    });
  }}>
      <label>Compact to revision <input inputmode="numeric" size="8" value=${compactRev}
        placeholder=${String(s?.header?.revision ?? "")}
        onInput=${(e: Event) => setCompactRev((e.target as HTMLInputElement).value)} /></label>
      <label><input type="checkbox" checked=${physical}
        onChange=${(e: Event) =>
    setPhysical((e.target as HTMLInputElement).checked)} /> physical</label>
      <button type="submit">Compact…</button>
    </form>
    <div class="row">
      <button type="button" onClick=${() =>
    setConfirm({
      title: "Defragment?",
      body: "Defragment this member's database? It stops serving while it runs.",
      action: "Defragment",
      run: act("defragment", async () => {
        await maintenance.defragment({});
        return "Defragmented.";
      }),
    })}>Defragment this member…</button>
    </div>
    <form class="row" onSubmit=${(e: Event) => {
    e.preventDefault();
    const to = others.find((m) => idHex(m.ID) === target) ?? others[0];
    if (!to) return;
    setConfirm({
      title: "Move leader?",
      body: `Hand leadership to ${to.name || idHex(to.ID)}? Writes pause during the election.`,
      action: "Move leader",
      run: act("move leader", async () => {
        try {
          await maintenance.moveLeader({ targetID: to.ID });
        } catch (err) {
          // etcd moves leadership only when asked on the leader itself.
          if (errorText(err) !== "etcdserver: not leader") throw err;
          throw new Error(
            "etcdserver: not leader (open the leader's dashboard, its client URL + /ui/, to move it)",
          );
        }
        return `Leadership moved to ${to.name || idHex(to.ID)}.`;
      }),
    });
  }}>
      <label>Move leader to <select value=${target}
        onChange=${(e: Event) => setTarget((e.target as HTMLSelectElement).value)}>
        ${others.map((m) => html`<option value=${idHex(m.ID)}>${m.name || idHex(m.ID)}</option>`)}
      </select></label>
      <button type="submit" disabled=${others.length === 0}>Move leader…</button>
    </form>
    <${ConfirmDialog} request=${confirm} onClose=${() => setConfirm(undefined)} />
  </section>`;
}

function nameOf(members: Member[], id: bigint): string {
  const m = members.find((x) => x.ID === id);
  return m?.name ? m.name : idHex(id);
}
