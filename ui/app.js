// The window: repos, branches and previews, kept current by engine events.
const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const $ = (id) => document.getElementById(id);
let currentRepo = null;

function showError(e) {
  const el = $("error");
  el.textContent = e && e.message ? e.message : String(e);
  el.hidden = false;
}

async function call(cmd, args) {
  try { $("error").hidden = true; return await invoke(cmd, args); } catch (e) { showError(e); throw e; }
}

function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  Object.assign(n, attrs);
  for (const c of children) n.append(c);
  return n;
}

async function renderRepos() {
  const repos = await call("list_repos");
  const ul = $("repos");
  if (!repos.length) return;
  ul.replaceChildren(...repos.map((r) => {
    const b = el("button", { textContent: r.name, onclick: () => { currentRepo = r.name; renderBranches(); } });
    return el("li", {}, b);
  }));
  if (!currentRepo) { currentRepo = repos[0].name; renderBranches(); }
}

async function renderBranches() {
  if (!currentRepo) return;
  $("branches-of").textContent = `of ${currentRepo}`;
  const branches = await call("list_branches", { repo: currentRepo });
  $("branches").replaceChildren(...branches.map((b) => {
    const action = b.preview
      ? el("span", { className: `badge ${b.state}`, textContent: b.state })
      : el("button", { textContent: "Preview", onclick: () => call("preview_up", { repo: currentRepo, branch: b.name }) });
    return el("li", {}, el("strong", { textContent: b.name }), " ", el("small", { textContent: b.subject }), " ", action);
  }));
}

async function renderPreviews() {
  const list = await call("list_previews");
  const box = $("previews");
  if (!list.length) { box.replaceChildren(el("p", { className: "empty", textContent: "No previews yet: pick a branch and press Preview." })); return; }
  box.replaceChildren(...list.map((p) => {
    const links = p.urls.map((u) => el("a", { href: u.url, textContent: u.url, target: "_blank" }));
    const buttons = [
      p.state === "stopped"
        ? el("button", { textContent: "Start", onclick: () => call("preview_start", { id: p.id }) })
        : el("button", { textContent: "Stop", onclick: () => call("preview_stop", { id: p.id }) }),
      el("button", { textContent: "Remove", onclick: () => call("preview_down", { id: p.id }) }),
    ];
    return el("div", { className: "card", dataset: { id: p.id } },
      el("strong", { textContent: p.id }), " ", el("span", { className: `badge ${p.state}`, textContent: p.state }),
      el("div", {}, ...links), el("div", {}, ...buttons));
  }));
}

// Events drive updates: no polling.
listen("branchyard://event", (e) => {
  const kind = e.payload.kind;
  if (kind === "state" || kind === "service" || kind === "outdated" || kind === "branch_gone") {
    renderPreviews();
    renderBranches();
  }
});

renderRepos().catch(() => {});
renderPreviews().catch(() => {});
