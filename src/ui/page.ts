/**
 * The dashboard's HTML shell and stylesheet. Both are plain strings in the
 * program (no files to ship beside the executable); the script is in
 * dashboard_bundle.gen.ts.
 *
 * @module
 */

/** The page every /ui route answers with; the script renders into #app. */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>cairn dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/dashboard.css">
<script type="module" src="/ui/dashboard.js"></script>
</head>
<body>
<div id="app"><p>Loading the dashboard…</p></div>
<noscript>The cairn dashboard needs JavaScript.</noscript>
</body>
</html>
`;

/** System fonts only: nothing is fetched from the network. */
export const DASHBOARD_CSS = `
:root { --fg: #1b1f24; --bg: #fff; --muted: #5b6470; --line: #d5d9de; --accent: #0b5cad;
  --bad: #b42318; --bad-bg: #fdecea; --ok: #1a7f37; --add: #e6ffec; --del: #ffebe9; --sel: #eaf2fb;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e8eb; --bg: #15181c; --muted: #9aa4b0; --line: #343a42; --accent: #6cb2ff;
    --bad: #ff8f86; --bad-bg: #3a1d1b; --ok: #56d364; --add: #12361f; --del: #47201d; --sel: #1d2a3a; }
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; z-index: 10; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 20px; padding: 8px 16px;
  border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.2rem; margin: 0; }
header nav { display: flex; gap: 4px; flex-wrap: wrap; }
header nav a { padding: 6px 10px; border-radius: 6px; text-decoration: none; }
header nav a[aria-current="page"] { background: var(--sel); font-weight: 600; }
header .user { margin-left: auto; display: flex; gap: 8px; align-items: center; }
main { padding: 12px 16px; }
h2 { font-size: 1.05rem; margin: 8px 0; }
button { font: inherit; padding: 5px 12px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--bg); color: var(--fg); cursor: pointer; min-height: 34px; }
button:hover { border-color: var(--accent); }
button.danger { color: var(--bad); border-color: var(--bad); }
button.link { border: none; background: none; color: var(--accent); text-decoration: underline;
  padding: 0; min-height: 0; }
button[disabled] { opacity: .5; cursor: default; }
input, textarea, select { font: inherit; padding: 5px 8px; border: 1px solid var(--line);
  border-radius: 6px; background: var(--bg); color: var(--fg); max-width: 100%; }
textarea { width: 100%; font-family: ui-monospace, Menlo, Consolas, monospace; }
label { display: inline-flex; flex-direction: column; gap: 2px; font-size: .9rem; }
label:has(> input[type="checkbox"]), label:has(> input[type="radio"]) { flex-direction: row;
  align-items: center; gap: 4px; }
.row { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin: 8px 0; }
.row .grow { flex: 1 1 180px; }
.row .grow input { width: 100%; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.muted { color: var(--muted); }
.error { border: 1px solid var(--bad); background: var(--bad-bg); color: var(--fg);
  padding: 8px 10px; border-radius: 6px; margin: 8px 0; }
.notice { color: var(--ok); }
.keys { display: grid; grid-template-columns: minmax(220px, 1fr) 2fr; gap: 16px; }
.pane { min-width: 0; }
.crumbs { display: flex; flex-wrap: wrap; gap: 4px; font-family: ui-monospace, monospace; }
.crumbs a::after { content: "›"; color: var(--muted); display: inline-block; margin-left: 4px; }
.entries { list-style: none; margin: 0; padding: 0; border-top: 1px solid var(--line); }
.entries li { border-bottom: 1px solid var(--line); }
.entries a { display: block; padding: 6px 8px; text-decoration: none; overflow-wrap: anywhere;
  font-family: ui-monospace, Menlo, Consolas, monospace; }
.entries li.dir a { font-weight: 600; }
.entries a[aria-current="true"] { background: var(--sel); }
.key-name { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; overflow-wrap: anywhere; }
.meta .ok { color: var(--ok); font-weight: 600; }
.meta .bad { color: var(--bad); font-weight: 600; }
pre { margin: 0; padding: 8px; border: 1px solid var(--line); border-radius: 6px; overflow: auto;
  max-height: 60vh; white-space: pre-wrap; overflow-wrap: anywhere;
  font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; }
pre.binary { white-space: pre; }
.tabs { display: flex; gap: 4px; margin: 8px 0; }
.tabs [aria-selected="true"] { background: var(--sel); font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; display: block; overflow-x: auto; }
caption { text-align: left; color: var(--muted); padding: 4px 0; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td code { overflow-wrap: anywhere; }
td code.id { overflow-wrap: normal; white-space: nowrap; }
td.put { color: var(--ok); font-weight: 600; }
td.del { color: var(--bad); font-weight: 600; }
ul.inline { list-style: none; margin: 0; padding: 0; }
.diff span { display: block; }
.diff .add { background: var(--add); }
.diff .del { background: var(--del); }
figure { margin: 8px 0; }
dialog.confirm { border: 1px solid var(--line); border-radius: 8px; max-width: min(480px, 92vw);
  background: var(--bg); color: var(--fg); }
dialog::backdrop { background: rgb(0 0 0 / 40%); }
form.login { max-width: 360px; display: flex; flex-direction: column; gap: 10px; }
form.edit { display: flex; flex-direction: column; gap: 8px; }
form.edit label { display: flex; }
@media (max-width: 700px) {
  .keys { grid-template-columns: 1fr; }
  main { padding: 8px; }
  header { padding: 8px; }
}
`;
