// The window: repos, branches and previews, kept current by the engine's
// event stream (`branchyard://event`); commands are called only on user
// actions and when an event says a list changed. No polling.
const { invoke, Channel } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const STEPS = [
  ["worktree", "Worktree"], ["plan", "Plan"], ["resources", "Networks & volumes"],
  ["build", "Build"], ["start", "Create & start"], ["health", "Health"], ["route", "Route"],
];
const MAX_OUTPUT = 500;
const MAX_LOG_LINES = 5000; // the logs panel keeps this many; older lines fall off
const TRANSIENT = new Set(["pending", "preparing", "building", "starting", "updating", "stopping", "removing"]);

const $ = (id) => document.getElementById(id);
const ui = {
  repos: [],
  repo: null,          // selected repo name
  branches: [],
  selected: 0,         // index into the filtered branch list
  previews: new Map(), // id -> PreviewView
  progress: new Map(), // id -> {steps: Map(step -> status), output: string[]}
  timelines: new Map(),// id -> Transition[] (loaded when a card opens its timeline)
  open: new Set(),     // ids whose timeline is shown
};

// ---------- helpers ----------

function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(n.dataset, v);
    else if (k === "class") n.className = v;
    else n[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) n.append(c);
  return n;
}

function showError(e) {
  $("toast-msg").textContent = e && e.message ? e.message : String(e);
  const detail = e && e.detail ? e.detail : "";
  $("toast-detail").textContent = detail;
  $("toast-detail-box").hidden = !detail;
  $("toast").className = e && e.code ? `error code-${e.code}` : "error";
  $("toast").hidden = false;
}

function showNote(message) {
  $("toast-msg").textContent = message;
  $("toast-detail-box").hidden = true;
  $("toast").className = "note";
  $("toast").hidden = false;
}

async function call(cmd, args) {
  try { return await invoke(cmd, args); } catch (e) { showError(e); throw e; }
}

function age(unixSeconds) {
  const s = Math.max(0, Date.now() / 1000 - unixSeconds);
  const units = [[31536000, "y"], [2592000, "mo"], [604800, "w"], [86400, "d"], [3600, "h"], [60, "m"]];
  for (const [n, u] of units) if (s >= n) return `${Math.floor(s / n)}${u} ago`;
  return "just now";
}

function badge(state) {
  return el("span", { class: `badge ${state}${TRANSIENT.has(state) ? " busy" : ""}`, textContent: state });
}

async function copy(text) {
  try { await navigator.clipboard.writeText(text); }
  catch {
    const t = el("textarea", { value: text });
    document.body.append(t); t.select(); document.execCommand("copy"); t.remove();
  }
  showNote(`Copied ${text}`);
}

// Debounced reloads: a burst of events costs one call.
const pending = new Map();
function soon(key, fn) {
  if (pending.has(key)) return;
  pending.set(key, setTimeout(() => { pending.delete(key); fn().catch(() => {}); }, 80));
}

// ---------- repos ----------

async function loadRepos() {
  ui.repos = await call("list_repos");
  if (!ui.repos.some((r) => r.name === ui.repo)) ui.repo = ui.repos.length ? ui.repos[0].name : null;
  renderRepos();
  renderPreviews(); // its empty state depends on whether a repo exists
  await loadBranches();
}

function renderRepos() {
  const ul = $("repos");
  if (!ui.repos.length) {
    ul.replaceChildren(el("li", { class: "empty" },
      "No repositories yet. Type the path of a git repository below and press Add."));
  } else {
    ul.replaceChildren(...ui.repos.map((r) => el("li", {},
      el("button", {
        class: r.name === ui.repo ? "repo current" : "repo",
        title: r.path,
        onclick: () => { ui.repo = r.name; ui.selected = 0; renderRepos(); loadBranches().catch(() => {}); },
      }, r.name, r.trusted ? el("span", { class: "tag", textContent: "trusted" }) : null))));
  }
  const repo = ui.repos.find((r) => r.name === ui.repo);
  $("repo-tools").hidden = !repo;
  if (repo) { $("repo-trusted").checked = repo.trusted; $("repo-auto").checked = repo.auto_update; }
}

async function addRepo(path) {
  const r = await call("add_repo", { path }).catch(() => null);
  if (!r) return false;
  ui.repo = r.name;
  await loadRepos();
  return true;
}

$("add-repo").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const path = $("repo-path").value.trim();
  if (!path) { $("repo-path").focus(); return; }
  if (await addRepo(path)) $("repo-path").value = "";
});

$("browse").addEventListener("click", async () => {
  const path = await call("pick_folder").catch(() => null);
  if (path) await addRepo(path);
});

// Folders dropped on the window (the app sends their paths; files are ignored).
listen("branchyard://dropped", async (e) => {
  for (const path of e.payload) await addRepo(path);
});
listen("tauri://drag-enter", () => document.body.classList.add("dropping"));
for (const name of ["tauri://drag-leave", "tauri://drag-drop"]) listen(name, () => document.body.classList.remove("dropping"));

$("repo-trusted").addEventListener("change", async (ev) => {
  await call("set_repo_trusted", { name: ui.repo, trusted: ev.target.checked }).catch(() => {});
  await loadRepos();
});

$("repo-auto").addEventListener("change", async (ev) => {
  await call("set_repo_auto_update", { name: ui.repo, on: ev.target.checked }).catch(() => {});
  await loadRepos();
});

$("repo-remove").addEventListener("click", async () => {
  const hasPreviews = [...ui.previews.values()].some((p) => p.repo === ui.repo);
  const msg = hasPreviews
    ? `Remove ${ui.repo} and tear down its previews (volumes too)?`
    : `Forget ${ui.repo}? Its files are not touched.`;
  if (!confirm(msg)) return;
  await call("remove_repo", { name: ui.repo, force: hasPreviews }).catch(() => {});
  await loadRepos();
  await loadPreviews();
});

// ---------- branches ----------

async function loadBranches() {
  $("branches-of").textContent = ui.repo ? `of ${ui.repo}` : "";
  ui.branches = ui.repo ? await call("list_branches", { repo: ui.repo }) : [];
  renderBranches();
}

function filtered() {
  const q = $("filter").value.trim().toLowerCase();
  // The engine lists newest first; keep that order.
  return q ? ui.branches.filter((b) => b.name.toLowerCase().includes(q) || b.subject.toLowerCase().includes(q)) : ui.branches;
}

function renderBranches() {
  const ul = $("branches");
  if (!ui.repo) {
    ul.replaceChildren(el("li", { class: "empty" }, "Add a repository to see its branches here."));
    return;
  }
  const list = filtered();
  if (!list.length) {
    ul.replaceChildren(el("li", { class: "empty" },
      ui.branches.length ? "No branch matches the filter." : "This repository has no branches yet: make a commit first."));
    return;
  }
  ui.selected = Math.min(ui.selected, list.length - 1);
  ul.replaceChildren(...list.map((b, i) => {
    const action = b.preview
      ? badge(b.state)
      : el("button", { textContent: "Preview", onclick: (ev) => { ev.stopPropagation(); up(b.name); } });
    return el("li", {
      class: i === ui.selected ? "branch selected" : "branch",
      dataset: { branch: b.name },
      onclick: () => { ui.selected = i; renderBranches(); },
    },
    el("span", { class: "name", textContent: b.name }),
    el("span", { class: "subject", textContent: b.subject, title: `${b.author} · ${b.head.slice(0, 10)}` }),
    el("span", { class: "age muted", textContent: age(b.time) }),
    action);
  }));
  ul.querySelector(".selected")?.scrollIntoView({ block: "nearest" });
}

async function up(branch) {
  // Progress arrives as events; the call returns when the preview is ready or failed.
  await call("preview_up", { repo: ui.repo, branch }).catch(() => {});
}

$("filter").addEventListener("input", () => { ui.selected = 0; renderBranches(); });
$("filter").addEventListener("keydown", (ev) => {
  const list = filtered();
  if (ev.key === "ArrowDown") { ui.selected = Math.min(ui.selected + 1, list.length - 1); renderBranches(); ev.preventDefault(); }
  else if (ev.key === "ArrowUp") { ui.selected = Math.max(ui.selected - 1, 0); renderBranches(); ev.preventDefault(); }
  else if (ev.key === "Enter") {
    const b = list[ui.selected];
    if (b && !b.preview) up(b.name);
    ev.preventDefault();
  } else if (ev.key === "Escape") { ev.target.value = ""; ev.target.blur(); renderBranches(); }
});

document.addEventListener("keydown", (ev) => {
  const typing = ["INPUT", "TEXTAREA"].includes(document.activeElement?.tagName);
  if (ev.key === "/" && !typing) { ev.preventDefault(); $("filter").focus(); $("filter").select(); }
});

// ---------- previews ----------

async function loadPreviews() {
  const list = await call("list_previews");
  ui.previews = new Map(list.map((p) => [p.id, p]));
  renderPreviews();
}

function renderPreviews() {
  const box = $("previews");
  if (!ui.previews.size) {
    box.replaceChildren(el("p", { class: "empty" }, ui.repo
      ? "No previews yet. Pick a branch below and press Preview (or select it and press Enter)."
      : "No previews yet. Add a repository first, then preview one of its branches."));
    return;
  }
  box.replaceChildren(...[...ui.previews.values()].map(card));
}

function card(p) {
  const stopped = p.state === "stopped" || p.state === "failed";
  const busy = TRANSIENT.has(p.state);
  const act = (label, cmd, extra = {}) => el("button", {
    textContent: label, disabled: busy && cmd !== "preview_down",
    onclick: () => call(cmd, { id: p.id, ...extra }).catch(() => {}),
  });
  const remove = el("button", {
    class: "danger", textContent: "Remove",
    onclick: () => { if (confirm(`Remove the preview of ${p.branch}? Its volumes are kept.`)) call("preview_down", { id: p.id }).catch(() => {}); },
  });
  const flags = [];
  if (p.outdated_sha) flags.push(el("span", { class: "tag warn", textContent: `branch moved to ${p.outdated_sha.slice(0, 8)}` }));
  if (p.branch_gone) flags.push(el("span", { class: "tag warn", textContent: "branch deleted" }));
  const carried = p.carried || [];
  if (carried.length) {
    const kept = carried.filter((c) => c.kept).length;
    flags.push(el("span", {
      class: kept ? "tag warn" : "tag",
      title: carried.map((c) => `${c.path} (${c.mode}${c.kept ? ", kept: changed in the worktree" : ""})`).join("\n"),
      textContent: `${carried.length} carried file${carried.length === 1 ? "" : "s"}${kept ? `, ${kept} kept` : ""}`,
    }));
  }
  return el("article", { class: `card ${p.state}`, dataset: { id: p.id } },
    el("header", {},
      el("strong", { textContent: `${p.repo}/${p.branch}` }), badge(p.state), ...flags,
      el("span", { class: "muted sha", textContent: p.commit_sha ? p.commit_sha.slice(0, 8) : "" })),
    p.error ? el("p", { class: "error-line", textContent: p.error }) : null,
    urls(p),
    progress(p),
    services(p),
    el("div", { class: "actions" },
      stopped || p.state === "degraded" ? act("Start", "preview_start") : null,
      stopped ? null : act("Stop", "preview_stop"),
      act("Rebuild", "preview_rebuild"), remove,
      el("button", { class: "logs-open", textContent: "Logs", disabled: !p.services.length, onclick: () => openLogs(p.id) }),
      el("button", { class: "link", textContent: ui.open.has(p.id) ? "Hide history" : "History", onclick: () => toggleTimeline(p.id) })),
    ui.open.has(p.id) ? timeline(p.id) : null);
}

function urls(p) {
  if (!p.urls.length) return null;
  return el("ul", { class: "urls" }, ...p.urls.map((u) => el("li", {},
    el("a", { href: u.url, textContent: u.url, onclick: (ev) => { ev.preventDefault(); call("open_url", { url: u.url }).catch(() => {}); } }),
    el("span", { class: "muted", textContent: ` ${u.service} ` }),
    el("button", { class: "small", textContent: "Copy", onclick: () => copy(u.url) }))));
}

function progress(p) {
  const pr = ui.progress.get(p.id);
  if (!pr || !(TRANSIENT.has(p.state) || p.state === "failed")) return null;
  const steps = el("ol", { class: "steps" }, ...STEPS.map(([key, label]) => {
    const st = pr.steps.get(key);
    return el("li", { class: st ? `step ${st}` : "step", textContent: label });
  }));
  const out = el("pre", { class: "output", textContent: pr.output.join("\n") });
  queueMicrotask(() => { out.scrollTop = out.scrollHeight; });
  return el("div", { class: "progress" }, steps, pr.output.length ? out : null);
}

function services(p) {
  if (!p.services.length) return null;
  return el("table", { class: "services" },
    el("thead", {}, el("tr", {}, ...["Service", "State", "Exit", "Restarts"].map((h) => el("th", { textContent: h })))),
    el("tbody", {}, ...p.services.map((s) => el("tr", {},
      // A scaled service shows one row per replica.
      el("td", { textContent: (s.replica ?? 1) > 1 || p.services.some((o) => o.service === s.service && o !== s) ? `${s.service} #${s.replica ?? 1}` : s.service, title: s.container }),
      el("td", {}, el("span", { class: `badge ${s.state}`, textContent: s.state.replace("_", " ") })),
      el("td", { textContent: s.exit_code ?? "" }),
      el("td", { textContent: s.restarts })))));
}

async function toggleTimeline(id) {
  if (ui.open.has(id)) ui.open.delete(id);
  else {
    ui.timelines.set(id, await call("preview_transitions", { id }).catch(() => []));
    ui.open.add(id);
  }
  renderPreviews();
}

function timeline(id) {
  const ts = ui.timelines.get(id) || [];
  if (!ts.length) return el("p", { class: "empty" }, "No transitions recorded yet.");
  return el("ol", { class: "timeline" }, ...ts.slice().reverse().map((t) => el("li", {},
    el("time", { textContent: new Date(t.at).toLocaleString() }),
    " ", t.from ? badge(t.from) : null, t.from ? " → " : null, badge(t.to),
    el("span", { class: "muted", textContent: ` ${t.trigger}${t.detail ? ": " + t.detail : ""}` }))));
}

// ---------- events ----------

function progressOf(id) {
  if (!ui.progress.has(id)) ui.progress.set(id, { steps: new Map(), output: [] });
  return ui.progress.get(id);
}

function rerenderCard(id) {
  const p = ui.previews.get(id);
  const old = document.querySelector(`article.card[data-id="${CSS.escape(id)}"]`);
  if (p && old) old.replaceWith(card(p)); else renderPreviews();
}

function onEvent(ev) {
  const id = ev.preview;
  const p = id ? ui.previews.get(id) : null;
  switch (ev.kind) {
    case "state":
      if (ev.to === "preparing" || ev.to === "updating") ui.progress.set(id, { steps: new Map(), output: [] });
      // A run that ends failed leaves its current step failed, whatever the step events said.
      if (ev.to === "failed" && ui.progress.has(id)) {
        for (const [step, st] of ui.progress.get(id).steps) if (st === "started") ui.progress.get(id).steps.set(step, "failed");
      }
      if (ui.open.has(id)) (ui.timelines.get(id) || []).push({ from: ev.from, to: ev.to, trigger: ev.trigger, detail: ev.detail, at: Date.now() });
      if (p && ev.to !== "gone") {
        p.state = ev.to;
        // What is down (degraded) or what went wrong (failed) shows on the card at once.
        p.error = ev.to === "degraded" || ev.to === "failed" ? ev.detail : null;
        rerenderCard(id);
      }
      // A new or removed preview, and its branch row, need the lists again.
      soon("previews", loadPreviews);
      soon("branches", loadBranches);
      break;
    case "step": {
      const pr = progressOf(id);
      pr.steps.set(ev.step, ev.status);
      if (ev.status === "failed" && ev.detail) pr.output.push(`✗ ${ev.detail}`);
      if (p) rerenderCard(id);
      break;
    }
    case "service":
      if (p) {
        // One entry per container: replicas of one service are apart.
        const i = p.services.findIndex((s) => s.container === ev.status.container);
        if (ev.status.state === "removed") { if (i >= 0) p.services.splice(i, 1); }
        else if (i >= 0) p.services[i] = ev.status; else p.services.push(ev.status);
        rerenderCard(id);
      }
      break;
    case "outdated":
      if (p) { p.outdated_sha = ev.head; rerenderCard(id); }
      soon("branches", loadBranches);
      break;
    case "branch_gone":
      if (p) { p.branch_gone = true; rerenderCard(id); }
      soon("branches", loadBranches);
      break;
    case "warning":
      showNote(ev.message);
      break;
  }
}

$("toast-close").addEventListener("click", () => { $("toast").hidden = true; });

$("doctor").addEventListener("click", async () => {
  const out = $("doctor-out");
  out.hidden = false;
  out.textContent = "Checking…";
  const r = await call("doctor").catch((e) => ({ error: e.message }));
  if (r.error) { out.textContent = r.error; return; }
  const line = (name, v) => `${v.Ok !== undefined ? "✓" : "✗"} ${name}: ${v.Ok ?? v.Err}`;
  out.textContent = [line("Docker", r.docker), ...(r.engine ? [`  ${r.engine.name}, ID ${r.engine.id}, ${r.engine.os_type}/${r.engine.architecture}`] : []), line("Gateway", r.gateway),
    `previews: ${r.previews}`, `worktrees: ${(r.worktrees_bytes / 1e6).toFixed(1)} MB`, `home: ${r.home}`].join("\n");
});

// Build and start output: a channel of its own, in capped batches.
function onOutput(batch) {
  const touched = new Set();
  for (const l of batch.lines) {
    const id = l.stream.slice("build:".length);
    const pr = progressOf(id);
    pr.output.push(`${l.service} | ${l.text}`);
    touched.add(id);
  }
  if (batch.dropped) for (const id of touched) progressOf(id).output.push(`… ${batch.dropped} lines skipped (too fast to show)`);
  for (const id of touched) {
    const pr = progressOf(id);
    if (pr.output.length > MAX_OUTPUT) pr.output.splice(0, pr.output.length - MAX_OUTPUT);
    const pre = document.querySelector(`article.card[data-id="${CSS.escape(id)}"] pre.output`);
    if (pre) { pre.textContent = pr.output.join("\n"); pre.scrollTop = pre.scrollHeight; }
    else if (ui.previews.has(id)) rerenderCard(id);
  }
}

async function followOutput() {
  const ch = new Channel();
  ch.onmessage = onOutput;
  await call("output_follow", { preview: null, onBatch: ch });
}

// ---------- logs panel ----------

const logs = { id: null, sub: null, lines: [], dropped: 0, drawn: false };

async function openLogs(id) {
  await closeLogs();
  const p = ui.previews.get(id);
  if (!p) return;
  logs.id = id;
  $("logs-of").textContent = `of ${p.repo}/${p.branch}`;
  const sel = $("logs-service");
  sel.replaceChildren(el("option", { value: "", textContent: "All services" }),
    ...[...new Set(p.services.map((s) => s.service))].map((name) => el("option", { value: name, textContent: name })));
  $("logs").hidden = false;
  $("logs").scrollIntoView({ block: "nearest" });
  await subscribeLogs();
}

async function subscribeLogs() {
  await unsubscribeLogs();
  logs.lines = []; logs.dropped = 0;
  drawLogs();
  if (!$("logs-follow").checked || !logs.id) return;
  const ch = new Channel();
  const mine = ch;
  logs.channel = ch;
  ch.onmessage = (batch) => {
    if (logs.channel !== mine) return; // a late batch of an old subscription
    logs.lines.push(...batch.lines);
    if (logs.lines.length > MAX_LOG_LINES) logs.lines.splice(0, logs.lines.length - MAX_LOG_LINES);
    logs.dropped += batch.dropped;
    if (batch.ended) logs.ended = true;
    scheduleLogs();
  };
  const service = $("logs-service").value || null;
  logs.sub = await call("logs_follow", { id: logs.id, service, tail: 200, onBatch: ch }).catch(() => null);
}

async function unsubscribeLogs() {
  logs.channel = null;
  if (logs.sub !== null) { const s = logs.sub; logs.sub = null; await call("unsubscribe", { sub: s }).catch(() => {}); }
}

async function closeLogs() {
  await unsubscribeLogs();
  logs.id = null;
  $("logs").hidden = true;
}

// At most one redraw per frame, however fast lines arrive.
function scheduleLogs() {
  if (logs.drawn) return;
  logs.drawn = true;
  requestAnimationFrame(() => { logs.drawn = false; drawLogs(); });
}

function drawLogs() {
  const q = $("logs-filter").value.trim().toLowerCase();
  const all = $("logs-service").value === "";
  const shown = q ? logs.lines.filter((l) => l.text.toLowerCase().includes(q)) : logs.lines;
  const out = $("logs-out");
  const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
  out.textContent = shown.map((l) => (all ? `${l.service} | ` : "") + l.text).join("\n");
  if (atEnd) out.scrollTop = out.scrollHeight;
  const info = [`${shown.length} of ${logs.lines.length} lines`];
  if (logs.dropped) info.push(`${logs.dropped} skipped (too fast)`);
  if (logs.sub === null && logs.id) info.push("paused");
  $("logs-info").textContent = info.join(" · ");
}

$("logs-service").addEventListener("change", () => subscribeLogs());
$("logs-follow").addEventListener("change", () => ($("logs-follow").checked ? subscribeLogs() : unsubscribeLogs().then(drawLogs)));
$("logs-filter").addEventListener("input", drawLogs);
$("logs-close").addEventListener("click", () => closeLogs());

// ---------- settings panel ----------

// Every input carries the engine's key in data-key; the stored value (or the
// default in effect) fills it, and Save sends only what changed, through the
// same engine call as `branchyard settings set`, which applies it at once.
function storedValue(s, key) {
  const v = s.stored[key];
  if (v !== null && v !== undefined) return v;
  if (key === "gateway.https") return "auto";
  const field = key.split(".").pop();
  return s[field] === null || s[field] === undefined ? "" : String(s[field]);
}
const onOff = (v) => ["on", "true", "yes", "1"].includes(String(v));

// The engine in use, in the words of `branchyard doctor`, and the contexts to choose from.
function engineText(r) {
  const lines = [];
  if (r.engine) {
    const e = r.engine;
    lines.push(`${e.name}: ${e.product || "Docker"} ${e.server_version} (API ${e.api_version}), ${e.os_type}/${e.architecture}, ${e.operating_system}`);
    lines.push(`ID ${e.id}`);
  }
  if (r.endpoint) lines.push(`at ${r.endpoint.host}, chosen by ${r.endpoint.chosen_by}`);
  if (r.endpoint) for (const n of r.endpoint.notes) lines.push(`note: ${n}`);
  if (r.error) lines.push(`✗ ${r.error.message}`);
  return lines.join("\n");
}

async function loadEngine() {
  const [report, contexts] = await Promise.all([
    call("engine_show").catch(() => null),
    call("engine_contexts").catch(() => []),
  ]);
  $("engine-info").textContent = report ? engineText(report) : "The engine could not be asked.";
  const chosen = (report && report.setting) || (contexts.find((c) => c.current) || {}).name || "default";
  $("set-context").replaceChildren(...contexts.map((c) => el("option", {
    value: c.name, selected: c.name === chosen,
    textContent: `${c.name}${c.host ? ` — ${c.host}` : ""}${c.description ? ` (${c.description})` : ""}${c.current ? " · in use" : ""}`,
  })));
  $("set-context").dataset.initial = chosen;
}

async function openSettings() {
  const s = await call("settings_get").catch(() => null);
  if (!s) return;
  loadEngine();
  for (const input of document.querySelectorAll("#settings-form [data-key]")) {
    const v = storedValue(s, input.dataset.key);
    if (input.type === "checkbox") input.checked = onOff(v); else input.value = v;
  }
  $("settings-pending").textContent = "";
  $("set-trusted").replaceChildren(...ui.repos.map((r) => el("li", {},
    el("label", {}, el("input", { type: "checkbox", checked: r.trusted, dataset: { repo: r.name },
      onchange: async (ev) => { await call("set_repo_trusted", { name: r.name, trusted: ev.target.checked }).catch(() => {}); await loadRepos(); } }),
    ` ${r.name} trusted`),
    " · suspend after ",
    el("input", { type: "number", min: "0", class: "minutes", value: String(Math.round((s.auto_suspend[r.name] || 0) / 60)),
      dataset: { suspendRepo: r.name },
      onchange: (ev) => call("set_repo_auto_suspend", { name: r.name, minutes: Number(ev.target.value) || 0 }).catch(() => {}) }),
    " minutes idle")));
  if (!ui.repos.length) $("set-trusted").replaceChildren(el("li", { class: "empty" }, "No repositories yet."));
  $("settings").hidden = false;
  $("settings").scrollIntoView({ block: "nearest" });
}

$("open-settings").addEventListener("click", () => openSettings());
$("settings-close").addEventListener("click", () => { $("settings").hidden = true; });
$("settings-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const current = await call("settings_get").catch(() => null);
  if (!current) return;
  const notes = [];
  for (const input of document.querySelectorAll("#settings-form [data-key]")) {
    const key = input.dataset.key;
    const before = storedValue(current, key);
    const value = input.type === "checkbox" ? (input.checked ? "on" : "off") : input.value.trim();
    if (input.type === "checkbox" ? onOff(before) === input.checked : before === value) continue;
    if (value === "") continue;
    try { notes.push(...await invoke("settings_set", { key, value })); } catch (e) { showError(e); return; }
  }
  const context = $("set-context").value;
  if (context && context !== $("set-context").dataset.initial) {
    try {
      const r = await invoke("engine_use", { name: context, force: $("set-context-force").checked });
      notes.push(`Docker context ${r.context}${r.engine ? `: ${r.engine.name} (ID ${r.engine.id})` : ""}`, ...r.notes);
      $("set-context").dataset.initial = context;
      $("app-restart").hidden = !r.restart_needed;
    } catch (e) { showError(e); return; }
  }
  $("settings-pending").textContent = notes.join("\n");
  showNote(notes.length ? "Settings saved and applied." : "Settings saved.");
});
$("app-restart").addEventListener("click", () => call("restart_app").catch(() => {}));
for (const [button, cmd] of [["ca-trust", "ca_trust"], ["ca-untrust", "ca_untrust"]]) {
  $(button).addEventListener("click", async () => {
    const r = await call(cmd).catch(() => null);
    if (!r) return;
    $("ca-out").hidden = false;
    $("ca-out").textContent = [...r.done.map((d) => `✓ ${d}`), ...r.manual.map((m) => `→ ${m}`)].join("\n") || "Nothing to do.";
  });
}

listen("branchyard://event", (e) => onEvent(e.payload));
// An engine that cannot be used (not running, or not the one the previews live
// on) is said at once: the cards alone would only show no services.
invoke("engine_show").then((r) => { if (r.error) showError(r.error); }).catch(() => {});
followOutput().catch(() => {});
loadRepos().catch(() => {});
loadPreviews().catch(() => {});
