// The token is typed into the login form and kept in sessionStorage (this tab, until it is
// closed or 退出登录): never in localStorage, never in a URL. Every call sends it as a bearer
// header; the server sends Referrer-Policy: no-referrer.
const KEY = "yingji-token";
localStorage.removeItem(KEY);  // where an earlier version of this page kept it
const params = new URLSearchParams(location.search);
const typhoon = params.get("typhoon");  // e.g. 2024:13
const INVALID = "令牌无效或已过期，请重新登录";
let timers = [];
const KINDS = {plan: "预案", drill: "演练", programme: "演练计划", typhoon: "台风", warning: "叫应",
               disaster: "灾情", summary: "年度总结"};
const STAGES = {drafting: "编制", consultation: "征求意见", expert_review: "专家论证",
  legality_review: "合法性审查", approval: "审批", approved: "已批准待印发", issued: "已印发待备案",
  filed: "已备案", in_force: "施行中", under_evaluation: "评估中", revision: "修订",
  withdrawn: "已撤回", abolished: "已废止"};
const OVERDUE = {plan_filing: "预案备案", plan_evaluation: "预案评估", drill_evaluation: "演练评估",
  corrective_action: "整改"};

class Unauthorized extends Error {}

async function api(path, token = sessionStorage.getItem(KEY)) {
  if (!token) throw new Unauthorized(INVALID);
  const r = await fetch(path, {headers: {Authorization: "Bearer " + token}, referrerPolicy: "no-referrer",
                               cache: "no-store"});
  if (r.status === 401) throw new Unauthorized(INVALID);
  if (!r.ok) throw new Error(path + " → " + r.status);
  return r.json();
}
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
function rows(id, items, make) {
  const body = document.getElementById(id); body.replaceChildren();
  for (const item of items) { const tr = document.createElement("tr"); for (const td of make(item)) tr.append(td); body.append(tr); }
}
const n = v => (v ?? 0).toLocaleString("zh-CN");

async function refreshTyphoon() {
  if (!typhoon) return;
  const [year, number] = typhoon.split(":");
  const b = await api(`/api/typhoons/${year}/${number}`);
  document.getElementById("typhoon-name").textContent = `${b.year}年第${b.number}号「${b.name}」`;
  document.getElementById("total").textContent = n(b.district_totals.relocated);
  document.getElementById("pre").textContent = n(b.district_totals.pre_evacuated);
  document.getElementById("peak").textContent = n(b.peak_sheltered);
  rows("towns", b.towns, t => [cell(t.name || t.town), cell(n(t.totals.pre_evacuated), "n"),
    cell(n(t.totals.relocated), "n"), cell(n(t.totals.centralized), "n"), cell(n(t.totals.dispersed), "n")]);
  const svg = document.getElementById("chart"); svg.replaceChildren();
  const max = Math.max(1, ...b.towns.map(t => t.totals.relocated));
  const width = 640 / Math.max(1, b.towns.length);
  b.towns.forEach((t, i) => {
    const h = 180 * t.totals.relocated / max;
    const bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    Object.entries({x: i * width + 4, y: 190 - h, width: width - 8, height: h, class: "bar"})
      .forEach(([k, v]) => bar.setAttribute(k, v));
    const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    Object.entries({x: i * width + 4, y: 210, class: "label"}).forEach(([k, v]) => label.setAttribute(k, v));
    label.textContent = t.name || t.town;
    svg.append(bar, label);
  });
}

async function refreshAll() {
  try {
    const live = await api("/api/workflows?status=running&limit=1000");
    const counts = {};
    for (const w of live) for (const [k, type] of Object.entries({plan: "PlanLifecycle", drill: "Drill",
        programme: "DrillProgramme", typhoon: "Typhoon", warning: "WarningCall", disaster: "DisasterProcess",
        summary: "YearEndSummary"})) if (w.type === type) counts[k] = (counts[k] || 0) + 1;
    document.getElementById("live").textContent =
      Object.entries(counts).map(([k, c]) => `${KINDS[k]} ${c}`).join("　") || "无";
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    document.getElementById("live").textContent = "（暂不可用）";
  }
  const overdue = await api("/api/overdue");
  rows("overdue", overdue, o => [cell(OVERDUE[o.kind] || o.kind, "overdue"), cell(o.ref), cell(o.name), cell(o.due)]);
  const drills = await api("/api/drills");
  rows("drills", drills, d => [cell(d.scheduled_on), cell(d.name), cell(d.drill_type), cell(d.stage)]);
  const plans = await api("/api/plans");
  rows("plans", plans, p => [cell(p.code), cell(p.name), cell(STAGES[p.stage] || p.stage), cell("v" + p.version),
    cell((p.filing_due || "") + (p.filing_overdue ? " 逾期" : ""), p.filing_overdue ? "overdue" : "")]);
}

function failed(e) {
  if (e instanceof Unauthorized) { if (sessionStorage.getItem(KEY)) showLogin(INVALID); }
  else document.getElementById("status").textContent = "· " + e.message;
}

async function tick() {
  try { await refreshTyphoon(); document.getElementById("status").textContent = "· 已更新 " + new Date().toLocaleTimeString("zh-CN"); }
  catch (e) { failed(e); }
}

function stop() { timers.forEach(clearInterval); timers = []; }

function showLogin(message) {
  stop();
  sessionStorage.removeItem(KEY);
  document.getElementById("board").hidden = true;
  document.getElementById("who").hidden = true;
  document.getElementById("status").textContent = "";
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("login").hidden = false;
  document.getElementById("token-input").focus();
}

function start() {
  document.getElementById("login").hidden = true;
  document.getElementById("board").hidden = false;
  document.getElementById("who").hidden = false;
  api("/api/me").then(me => { document.getElementById("person").textContent = `${me.person}（${me.role}）`; })
    .catch(failed);
  refreshAll().catch(failed);
  tick();
  timers = [setInterval(tick, 2000), setInterval(() => refreshAll().catch(failed), 15000)];
}

document.getElementById("login").addEventListener("submit", async event => {
  event.preventDefault();
  const input = document.getElementById("token-input");
  const token = input.value.trim();
  input.value = "";
  try {
    await api("/api/me", token);  // checked before it is kept
  } catch (e) {
    showLogin(e instanceof Unauthorized ? INVALID : "无法连接，请稍后再试（" + e.message + "）");
    return;
  }
  sessionStorage.setItem(KEY, token);
  start();
});
document.getElementById("logout").addEventListener("click", () => showLogin("已退出登录"));

if (sessionStorage.getItem(KEY)) start(); else showLogin();
