// The duty room (应急值班室): what is in hand, with a link to each workflow's own view (its state,
// its history and a form for each action its stage allows); the live typhoon board and the live
// 叫应 board; the drill calendar and the plan register. One page, plain modules, no build step.
// The login is common.js's: the token in this tab's sessionStorage only, sent as a bearer header;
// a wrong or expired token goes back to the login saying 令牌无效或已过期，请重新登录 (a revoked
// one, 令牌已被吊销，请重新登录).
import {
  ROLE_LABELS, Unauthorized, actionForm, atLeast, clock, el, get, label, loadLabels, nowLocal,
  num, options, table, td, today, uuid, version, when, wireLogin,
} from "./common.js";

/** A district's 街镇 from the register (code → name), read once per page. */
const townLists = new Map();
async function townsOf(district) {
  if (!townLists.has(district)) {
    const found = await get(`/api/units?district=${encodeURIComponent(district)}&level=town`).catch(e => {
      if (e instanceof Unauthorized) throw e;
      return [];
    });
    townLists.set(district, found.map(u => [u.code, u.name]));
  }
  return townLists.get(district);
}
const townName = code => {
  for (const list of townLists.values()) { const hit = list.find(([c]) => c === code); if (hit) return hit[1]; }
  return code;
};
/** A receipt's status (accepted, late …) in Chinese. */
const RECEIPTS = {accepted: "已接收", duplicate: "重复（此前已收到，未重复计入）", late: "已存档（迟于已有数据，不改变当前数字）",
  correction: "已按更正接收"};

const params = new URLSearchParams(location.search);
const PINNED_TYPHOON = params.get("typhoon");  // e.g. 2024:13 (as the README has it)
const KINDS = {plan: "预案", drill: "演练", typhoon: "台风及其他灾害事件", warning: "叫应", disaster: "灾情过程"};
const OVERDUE = {plan_filing: "预案备案", plan_evaluation: "预案评估", drill_evaluation: "演练评估",
  corrective_action: "整改", disaster_report: "灾情报送", call_undelivered: "叫应未送达",
  round_missing: "报送轮次未报", typhoon_instruction: "指令逾期未反馈"};
/** Event kinds (the workflows' identifiers) in Chinese; an unknown kind shows as it is. */
const EVENTS = {
  created: "创建", submitted: "提交征求意见", review_passed: "审查通过", returned_with_comments: "退回修改",
  approved: "批准", approval_refused: "不予批准", issued: "印发", filed: "备案", in_force: "施行",
  filing_overdue: "备案逾期", evaluation_opened: "开始评估", evaluation_overdue: "评估逾期",
  evaluated_still_valid: "评估：继续有效", evaluated_revise: "评估：需要修订", revision_started: "启动修订",
  revision_drafting: "修订稿编制", trigger_received: "收到修订事由", trigger_noted: "记录修订事由",
  trigger_noted_for_draft: "修订事由记入草案", trigger_pending: "修订事由待处理", trigger_refused: "修订事由不予受理",
  withdrawn: "撤回", abolished: "废止",
  planned: "计划", postponed: "延期", cancelled: "取消", conducted: "实施", evaluated: "评估",
  action_done: "整改完成", action_overdue: "整改逾期", reminder_sent: "发送提醒", date_passed_unconducted: "逾期未实施",
  plan_revision_requested: "请求修订预案", plan_revision_request_failed: "请求修订预案失败", closed: "结束",
  opened: "启动", level_changed: "调整响应", actions_started: "启动响应行动", call_started: "发起叫应",
  instructed: "下达工作指令", instruction_answered: "指令反馈", instruction_overdue: "指令反馈逾期",
  instruction_refused: "指令未下达", feedback: "反馈", round_opened: "开始报送轮次", round_closed: "报送轮次截止",
  shelters_opened: "开放避难场所", shelters_closed: "关闭避难场所", batch_applied: "汇总报送",
  report_submitted: "报送", reviewed: "审核", stable: "灾情稳定", reminded: "催报", escalated: "升级提醒",
  notification_failed: "通知发送失败", called: "呼叫", acknowledged: "应答", unanswered: "未应答",
  finished: "叫应结束", "warning.issued": "发布叫应", answered: "已应答", backup_answered: "后续责任人应答", not_reached: "未叫醒",
};
const ROUND_STAGES = {open: "报送中", due: "已截止", reminded: "已催报", escalated: "已升级提醒"};

let me = null;
let live = null;
let timer = null;
let ticks = 0;
let busy = false;
let current = null;  // the workflow view shown: {kind, key, etag, data, formsSig}

const $ = id => document.getElementById(id);
const status = text => { $("status").textContent = text ? "· " + text : ""; };
const link = (kind, key, text) => el("a", {href: `#/${kind}/${encodeURIComponent(key)}`}, text);

function failed(e) {
  if (e instanceof Unauthorized) { showLogin(e.message); return; }
  status(e.message);
}

// -- the login --

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  current = null;
  $("board").hidden = true;
  $("who").hidden = true;
  status("");
}

async function start(who) {
  me = who;
  $("person").textContent = `${me.person}（${ROLE_LABELS[me.role] || me.role}）`;
  $("who").hidden = false;
  $("board").hidden = false;
  await loadLabels();
  await route();
  if (!live) live = await get("/api/room/live").catch(() => null);
  buildStartForms();
  timer = setInterval(tick, 2000);
}

const showLogin = wireLogin({start: who => start(who).catch(failed), stop});
window.addEventListener("hashchange", () => route().catch(failed));

async function tick() {
  if (busy || !me) return;
  busy = true;
  try {
    ticks++;
    if (current) { if (ticks % 2 === 0) await refreshDetail(); }
    else {
      if (ticks % 8 === 0) await refreshLists();
      await refreshBoards();
    }
    status("已更新 " + clock());
  } catch (e) { failed(e); } finally { busy = false; }
}

async function route() {
  const m = location.hash.match(/^#\/(plan|drill|typhoon|warning|disaster)\/(.+)$/);
  if (m) {
    $("home").hidden = true;
    $("detail").hidden = false;
    current = {kind: m[1], key: decodeURIComponent(m[2]), formsSig: null};
    $("detail-title").textContent = `${KINDS[current.kind]} ${current.key}`;
    for (const id of ["detail-state", "detail-forms", "detail-history", "detail-notice"]) $(id).replaceChildren();
    await refreshDetail();
  } else {
    current = null;
    $("detail").hidden = true;
    $("home").hidden = false;
    await refreshLists();
    await refreshBoards();
  }
}

// -- home: the lists --

async function refreshLists() {
  try {
    live = await get("/api/room/live");
    renderLive(live);
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    $("live").textContent = "在办事项暂不可用：" + e.message;
  }
  const overdue = await get("/api/overdue");
  $("overdue").replaceChildren(...overdue.map(o => el("tr", {},
    td(OVERDUE[o.kind] || o.kind, "overdue"), td(overdueLink(o)), overdueName(o), td(o.due || "—"))));
  const drills = await get("/api/drills");
  $("drills").replaceChildren(...drills.map(d => el("tr", {},
    td(d.scheduled_on), el("td", {}, link("drill", d.code, d.name)), td(label("DrillType", d.drill_type)),
    td(label("DrillStage", d.stage)),
    td([d.evaluation_overdue ? "评估逾期" : "", d.overdue_actions ? `整改逾期 ${d.overdue_actions} 项` : ""].filter(Boolean).join("，"), "overdue"))));
  const plans = await get("/api/plans");
  $("plans").replaceChildren(...plans.map(p => el("tr", {},
    td(p.code), el("td", {}, link("plan", p.code, p.name)), td(versions(p)),
    td((p.filing_due || "—") + (p.filing_overdue ? " 逾期" : ""), p.filing_overdue ? "overdue" : ""),
    td((p.evaluation_due || "—") + (p.evaluation_overdue ? " 逾期" : ""), p.evaluation_overdue ? "overdue" : ""))));
}

/** An overdue item's name; an undelivered call's channel error (the webhook's own words, often
 *  English) is kept for the tooltip, the cell says 呼叫未送达. */
function overdueName(o) {
  if (o.kind !== "call_undelivered") return td(o.name);
  const [who, ...why] = String(o.name || "").split("：");
  const cell = td(`${who}：呼叫未送达（通知通道故障）`);
  cell.title = why.join("：");
  return cell;
}

function overdueLink(o) {
  const ref = String(o.ref);
  if (o.kind.startsWith("plan_")) return link("plan", ref, ref);
  if (o.kind === "drill_evaluation") return link("drill", ref, ref);
  if (o.kind === "corrective_action") return link("drill", ref.split("#")[0], ref);
  if (o.kind === "disaster_report") return link("disaster", ref.split(":")[0], ref);
  if (o.kind === "call_undelivered") return link("warning", ref.split(":")[0], ref);
  // an event's round (2024:13:1) or instruction (2024:13:I1:town): the event's page
  if (o.kind === "round_missing" || o.kind === "typhoon_instruction") {
    const event = ref.split(":").slice(0, 2).join(":");
    return link("typhoon", event, event);
  }
  return ref;
}

/** "v1 施行中，v2 编制中" while a revision is drafted. */
function versions(p) {
  const stage = label("PlanStage", p.stage);
  if (p.in_force_version && p.in_force_version !== p.version) return `v${p.in_force_version} 施行中，v${p.version} ${stage}`;
  return `v${p.version} ${stage}`;
}

function renderLive(l) {
  const groups = [
    ["plan", l.plans, p => [link("plan", p.code, `${p.name}（${p.code}）`), " ", p.versions,
      p.filing_overdue ? el("span", {class: "overdue"}, " 备案逾期") : "", p.evaluation_overdue ? el("span", {class: "overdue"}, " 评估逾期") : ""]],
    ["drill", l.drills, d => [link("drill", d.code, `${d.name}（${d.code}）`), ` ${d.type_label} · ${d.scheduled_on} · ${d.stage_label}`,
      d.evaluation_overdue ? el("span", {class: "overdue"}, " 评估逾期") : ""]],
    ["typhoon", l.typhoons, t => [link("typhoon", t.event_id, eventName(t)),
      ` · ${t.level_label} · `, el("span", {class: "colour " + t.warning}, t.warning_label), ` · ${t.status_label}`]],
    ["warning", l.warnings, w => [link("warning", w.warning_id, `${w.title}（${w.warning_id}）`),
      ` · 叫应率 ${pct(w.call_response_rate)} · 已应答 ${num(w.answered)}/${num(w.targets)}`]],
    ["disaster", l.disasters, d => [link("disaster", d.code, `${d.name}（${d.code}）`), ` · ${d.hazard} · ${d.stage_label}`,
      (d.overdue_slots || []).length ? el("span", {class: "overdue"}, ` 报送逾期 ${d.overdue_slots.length} 项`) : ""]],
  ];
  $("live").replaceChildren(...groups.map(([kind, items, line]) => el("div", {class: "live-group", dataset: {kind}},
    el("h3", {}, `${KINDS[kind]}（${items.length}）`),
    items.length ? el("ul", {}, items.map(i => el("li", {}, line(i)))) : el("p", {class: "empty"}, "无"))));
}

function eventName(t) {
  const which = t.number ? `${t.year}年第${t.number}号台风` : `${t.year}年${t.hazard_label}事件 ${t.code || ""}`;
  return `${which}「${t.name}」`;
}
const pct = r => (r === null || r === undefined) ? "—" : `${(r * 100).toFixed(1)}%`;

// -- home: the boards --

function chosen(kind, items, keyOf, labelOf, pinned) {
  const slot = $(`${kind}-choice`);
  const remembered = sessionStorage.getItem(`yingji-${kind}`);
  const keys = items.map(keyOf);
  let pick = pinned || (keys.includes(remembered) ? remembered : keys[0]);
  if (items.length > 1 && !pinned) {
    let select = $(`${kind}-pick`);
    const sig = keys.join("|");
    if (!select || select.dataset.sig !== sig) {
      select = el("select", {id: `${kind}-pick`, dataset: {sig}}, items.map(i => el("option", {value: keyOf(i)}, labelOf(i))));
      select.addEventListener("change", () => {
        sessionStorage.setItem(`yingji-${kind}`, select.value);
        refreshBoards().catch(failed);
      });
      slot.replaceChildren(el("label", {}, `进行中 ${items.length} 个，选择：`, select));
    }
    select.value = pick;
  } else {
    slot.replaceChildren(items.length ? "" : (kind === "typhoon" ? "当前没有进行中的台风" : "当前没有进行中的叫应"));
  }
  return pick || null;
}

/** A board's event as people name it: 2024年第13号「贝碧嘉」, or 2024年「7·21暴雨」. */
function boardName(b) {
  return b.number ? `${b.year}年第${b.number}号「${b.name}」` : `${b.year}年「${b.name}」`;
}

async function refreshBoards() {
  if (!live) return;
  const typhoons = live.typhoons;  // typhoons and the other hazards' events alike
  const eventId = chosen("typhoon", typhoons, t => t.event_id, eventName, PINNED_TYPHOON);
  if (eventId) {
    const root = $("typhoon-board");
    try {
      const b = await get(`/api/typhoons/${eventId.replace(":", "/")}`);
      renderTyphoon(root, b, true);
      $("typhoon-name").textContent = boardName(b);
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      root.replaceChildren(el("p", {class: "error"}, "看板暂不可用：" + e.message));
    }
  } else {
    $("typhoon-board").replaceChildren();
    $("typhoon-name").textContent = "";
  }
  const warningId = chosen("warning", live.warnings, w => w.warning_id, w => `${w.title}（${w.warning_id}）`);
  if (warningId) {
    try {
      const v = await get(`/api/warnings/${encodeURIComponent(warningId)}`);
      $("warning-name").textContent = `${v.title}（${warningId}）`;
      $("warning-board").replaceChildren(renderWarning(v), el("p", {}, link("warning", warningId, "打开叫应详情")));
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      $("warning-board").replaceChildren(el("p", {class: "error"}, "看板暂不可用：" + e.message));
    }
  } else {
    $("warning-board").replaceChildren();
    $("warning-name").textContent = "";
  }
}

const SVG = "http://www.w3.org/2000/svg";

/** A typhoon's board into ``root`` (the template's markup; the home copy keeps the ids). */
function renderTyphoon(root, b, home = false) {
  if (!root.querySelector("[data-f=total]")) {
    root.replaceChildren($("tpl-typhoon").content.cloneNode(true));
    if (home) for (const f of ["total", "pre", "peak", "chart", "towns"]) root.querySelector(`[data-f=${f}]`).id = f;
  }
  const f = name => root.querySelector(`[data-f=${name}]`);
  const d = b.district_totals;
  f("hazard").textContent = label("Hazard", b.hazard || "typhoon");
  f("level").textContent = label("ResponseLevel", b.level);
  f("warning").textContent = label("WarningColour", b.warning);
  f("warning").className = "colour " + b.warning;
  f("status").textContent = b.status === "closed" ? `已结束（${when(b.closed_at)}）` : "进行中";
  f("link").setAttribute("href", `#/typhoon/${encodeURIComponent(b.event_id)}`);
  f("link").hidden = !home;
  f("total").textContent = num(d.relocated);
  f("pre").textContent = num(d.pre_evacuated);
  f("centralized").textContent = num(d.centralized);
  f("dispersed").textContent = num(d.dispersed);
  f("staying").textContent = num(d.staying);
  f("peak").textContent = num(b.peak_sheltered);
  f("reported").textContent = num(d.units_reported);
  const name = t => t.name || t.town;
  const none = !b.towns.length;  // no unit has reported yet: no chart, no empty table
  f("none").hidden = !none;
  f("chart").toggleAttribute("hidden", none);  // an SVG element has no ``hidden`` property
  f("towns").closest("table").hidden = none;
  f("towns").replaceChildren(...b.towns.map(t => el("tr", {}, td(name(t)), td(num(t.totals.pre_evacuated), "n"),
    td(num(t.totals.relocated), "n"), td(num(t.totals.centralized), "n"), td(num(t.totals.dispersed), "n"),
    td(num(t.totals.returned), "n"), td(num(t.totals.staying), "n"), td(num(t.totals.units_reported), "n"))));
  const svg = f("chart");
  svg.replaceChildren();
  const max = Math.max(1, ...b.towns.map(t => t.totals.relocated));
  const width = 640 / Math.max(1, b.towns.length);
  b.towns.forEach((t, i) => {
    const h = 180 * t.totals.relocated / max;
    const bar = document.createElementNS(SVG, "rect");
    Object.entries({x: i * width + 4, y: 190 - h, width: Math.max(1, width - 8), height: h, class: "bar"})
      .forEach(([k, v]) => bar.setAttribute(k, v));
    const text = document.createElementNS(SVG, "text");
    Object.entries({x: i * width + 4, y: 210, class: "label"}).forEach(([k, v]) => text.setAttribute(k, v));
    text.textContent = name(t);
    svg.append(bar, text);
  });
  f("extras").replaceChildren(...typhoonExtras(b));
}

/** What a board holds besides the tally, each part only when the API sends it: the response
 *  (actions, instructions), reporting rounds with 未报单位, shelters, mismatches, 叫应. */
function typhoonExtras(b) {
  const parts = [];
  const town = code => (b.towns.find(t => t.town === code) || {}).name || townName(code);
  if (Array.isArray(b.actions) && b.actions.length) {
    parts.push(el("h3", {}, "响应行动"), table(["时间", "响应等级", "类别", "内容", "状态"], b.actions.map(a => [
      when(a.at), label("ResponseLevel", a.level), label("ActionKind", a.kind), a.text || a.ref || "—", actionState(a)])));
  }
  if (Array.isArray(b.instructions) && b.instructions.length) {
    parts.push(el("h3", {}, "工作指令"), table(["编号", "内容", "下达", "反馈期限", "已反馈", "未反馈", "逾期未反馈"],
      b.instructions.map(i => [i.id, i.text, `${when(i.issued_at)} ${i.by || ""}`, when(i.due_at),
        `${num(i.answered)}/${num(i.towns)}`, (i.pending || []).map(town).join("、") || "—",
        td((i.overdue || []).map(town).join("、") || "—", (i.overdue || []).length ? "overdue" : "")])));
  }
  const closed = b.status === "closed";
  if (Array.isArray(b.rounds) && b.rounds.length) {
    parts.push(el("h3", {}, "报送轮次"), table(["轮次", "开始", "截止", "已报/应报", "未报单位", "迟报单位", "状态"],
      [...b.rounds].reverse().map(r => {
        return [`第${r.no}轮`, when(r.opened_at), when(r.due_at), `${num(r.reported)}/${num(r.units)}`,
          missingCell(r),
          (r.late || []).map(u => u.name || u.code).join("、") || "—",
          // the workflow keeps a round's stage as it stood at the close
          closed ? `${ROUND_STAGES[r.stage] || r.stage}（事件已结束）` : ROUND_STAGES[r.stage] || r.stage];
      })));
    if (b.next_round_at) parts.push(el("p", {}, "下一轮报送：" + when(b.next_round_at)));
  }
  if (Array.isArray(b.shelters) && b.shelters.length) {
    parts.push(el("h3", {}, closed ? `避难场所（事件结束时开放的；最后在住 ${num(b.shelter_occupancy)}）`
      : `避难场所（在住 ${num(b.shelter_occupancy)} / 容量 ${num(b.shelter_capacity)}）`),
      table(["名称", "街镇", "在住/容量", "更新时间", ""], b.shelters.map(s => [s.name || s.code, town(s.town),
        `${num(s.occupancy)}/${num(s.capacity)}`, when(s.as_of), td(s.over_capacity ? "超员" : "", s.over_capacity ? "overdue" : "")])));
  }
  if (Array.isArray(b.mismatches) && b.mismatches.length) {
    parts.push(el("h3", {}, "数据不一致"), table(["街镇", "集中安置在住（单位报送）", "避难场所在住"],
      b.mismatches.map(m => [m.name || town(m.town), num(m.sheltered_now), num(m.occupancy)])));
  }
  if (Array.isArray(b.warnings) && b.warnings.length) {
    parts.push(el("p", {}, "由响应调整发起的叫应：", b.warnings.map(w => {
      const id = String(w).replace(/^warning:/, "");
      return [link("warning", id, id), " "];
    })));
  }
  return parts;
}

/** A round's 未报单位: the names (the first few, then 等 N 个单位), or only how many when the
 *  names are not sent, or 无; 尚未统计 when the count is not known either. */
function missingCell(r) {
  const names = (r.missing || []).map(u => u.name || u.code).filter(Boolean);
  const count = r.missing_count ?? (Array.isArray(r.missing) ? names.length : null);
  if (count === null || count === undefined) return td("尚未统计");
  if (!count) return td("无");
  if (!names.length) return td(`${num(count)} 个单位未报`, "overdue");
  return td(names.join("、") + (count > names.length ? ` 等 ${num(count)} 个单位` : ""), "overdue");
}

/** A response action's state: started (a 叫应 发起, an instruction 下达, shelters opened) or not
 *  yet; an action is marked done as soon as it is started, so it is never called 已完成. */
const ACTION_STATES = {call: ["已发起", "未发起"], instruct: ["已下达", "未下达"], shelters: ["已开放避难场所", "待开放避难场所"]};
function actionState(a) {
  const [on, off] = ACTION_STATES[a.kind] || ["已启动", "待启动"];
  return a.done ? on : td(off, "overdue");
}

function renderWarning(v) {
  const facts = el("p", {class: "facts"},
    `叫应率 `, el("strong", {class: "big rate"}, pct(v.call_response_rate)),
    ` · 应叫 ${num(v.chains ?? v.targets)} · 已应答 `, el("strong", {class: "answered"}, num(v.answered)),
    ` · 未叫醒 ${num(v.not_reached)}`, v.undelivered !== undefined ? ` · 未送达 ${num(v.undelivered)}` : "",
    ` · ${v.finished ? "已结束" : "叫应中"}`);
  const parts = [facts];
  if (Array.isArray(v.towns)) {
    parts.push(table(["街镇", "应叫", "已应答", "叫应中", "未叫醒", "未送达", "进度"], v.towns.map(t => {
      const done = t.chains ? t.answered / t.chains : 0;
      return [t.town_name || t.town_code, num(t.chains), num(t.answered), num(t.calling), num(t.not_reached),
        td(num(t.undelivered), t.undelivered ? "overdue" : ""),
        el("td", {}, el("progress", {max: "100", value: String(Math.round(done * 100))}), ` ${Math.round(done * 100)}%`)];
    }), {empty: "尚无街镇"}));
  }
  if (Array.isArray(v.gaps) && v.gaps.length) parts.push(el("p", {class: "overdue"}, "无人可叫的单位：" + v.gaps.join("、")));
  if (Array.isArray(v.calls)) {
    parts.push(table(["单位", "被叫人", "电话", "状态", "呼叫次数", "应答时间"], v.calls.map(c => [
      c.unit, c.person, c.phone, label("CallStatus", c.status), num(c.attempts), when(c.acked_at)])));
  }
  return el("div", {class: "warning-board"}, parts);
}

// -- a workflow's own view --

const VIEWS = {
  plan: key => `/api/plans/${encodeURIComponent(key)}`,
  drill: key => `/api/drills/${encodeURIComponent(key)}`,
  typhoon: key => `/api/typhoons/${key.replace(":", "/")}`,
  warning: key => `/api/warnings/${encodeURIComponent(key)}`,
  disaster: key => `/api/disasters/${encodeURIComponent(key)}`,
};

async function refreshDetail() {
  const ctx = current;
  if (!ctx) return;
  let view;
  try {
    view = await get(VIEWS[ctx.kind](ctx.key), {tagged: true});
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    $("detail-state").replaceChildren(el("p", {class: "error"}, e.message));
    await refreshHistory(ctx);
    return;
  }
  const events = await historyOf(ctx);
  if (ctx !== current) return;
  ctx.events = events;
  ctx.data = view.data;
  ctx.etag = view.etag;
  const state = RENDER[ctx.kind](view.data, ctx);
  $("detail-title").textContent = state.title;
  $("detail-state").replaceChildren(...state.nodes, view.etag ? el("p", {class: "note"}, `视图版本 ${version(view.etag)}`) : "");
  if (state.sig !== ctx.formsSig) {  // the forms change with the stage only: typing is kept
    ctx.formsSig = state.sig;
    const kept = keptForms();
    $("detail-forms").replaceChildren(...await state.forms());
    restoreForms(kept);
  }
  if (ctx.kind === "warning") await refreshChains(ctx);
  renderHistory(ctx, events);
}

/** What the forms shown hold: each one's outcome, and what was typed into it unless it was just
 *  carried out (then it starts afresh). A view whose stage changed rebuilds its forms (their
 *  choices change): a refusal's reason, and the typing to correct, stay. */
function keptForms() {
  return [...document.querySelectorAll("#detail-forms form.action")].map(f => {
    const outcome = f.querySelector(".outcome");
    const ok = outcome.classList.contains("ok");
    const values = ok ? [] : [...f.querySelectorAll("input[name], textarea[name], select[name]:not([multiple])")]
      .filter(i => i.type !== "hidden" && i.type !== "checkbox").map(i => [i.name, i.value]);
    return {action: f.dataset.action, text: outcome.textContent, cls: outcome.className, values};
  });
}

function restoreForms(kept) {
  for (const k of kept) {
    const f = [...document.querySelectorAll("#detail-forms form.action")].find(x => x.dataset.action === k.action);
    if (!f) continue;
    const outcome = f.querySelector(".outcome");
    if (!outcome.textContent) { outcome.textContent = k.text; outcome.className = k.cls; }
    for (const [name, value] of k.values) {
      const input = f.querySelector(`[name="${CSS.escape(name)}"]`);
      if (!input) continue;
      if (input.tagName === "SELECT" && ![...input.options].some(o => o.value === value)) continue;
      input.value = value;
      if (input.tagName === "SELECT") input.dispatchEvent(new Event("change"));
    }
  }
}

const historyOf = ctx => get(`/api/room/history?kind=${ctx.kind}&key=${encodeURIComponent(ctx.key)}`);

async function refreshHistory(ctx) {
  const events = await historyOf(ctx);
  if (ctx !== current) return;
  renderHistory(ctx, events);
}

/** Who did it: the person behind the request, and the name typed in the form when it was
 *  another's (代填): 值班长（代填：区防指）. */
function whoDid(person, filledIn) {
  if (!person) return filledIn || "—";
  if (person === "system") return "系统";  // a step the workflow took by itself (a deadline, a version in force)
  return filledIn && filledIn !== person && !String(person).includes("代填") ? `${person}（代填：${filledIn}）` : person;
}

function renderHistory(ctx, events) {
  const detailOf = e => (e.detail && typeof e.detail === "object") ? e.detail : {};
  const stages = events.map(e => e.stage_to ? label("PlanStage", e.stage_to) : e.stage ? label("DrillStage", e.stage) : "");
  const withStage = stages.some(Boolean);  // a column empty in every row (a typhoon's) is left out
  const headers = ["时间", "事件", "经办", ...(withStage ? ["阶段"] : []), "详情"];
  $("detail-history").replaceChildren(table(headers, events.map((e, i) => {
    const d = detailOf(e);
    const actor = e.actor || e.person || d.by;
    return [when(e.at), EVENTS[`${ctx.kind}.${e.kind}`] || EVENTS[e.kind] || e.kind, whoDid(actor, d["代填"]),
      ...(withStage ? [stages[i]] : []),
      el("td", {class: "detail"}, describe(d, ctx.kind, e.kind, {skip: actor && d.by === actor ? ["by"] : []}))];
  }), {empty: "尚无事件记录（记录在事项推进后写入）"}));
}

/** An event's detail, briefly: its plain fields whose meaning is known, in Chinese (a value that
 *  is an enum's identifier shown by its label). */
const DETAIL_KEYS = {level: "响应等级", warning: "预警", by: "经办", note: "备注", reason: "原因", opinion: "意见",
  outcome: "结论", reviewer: "审查", approver: "审批", document_number: "文号", issuer: "印发单位", filed_with: "备案机关",
  filed_on: "备案日期", issued_on: "印发日期", new_date: "新日期", report_id: "报告编号", decision: "审核", unit: "单位",
  role: "角色", title: "标题", response_seconds: "响应秒数", person: "人员", cause: "事由", detail: "说明", source: "来源",
  reports: "报送数", reports_applied: "汇总报送数", to_version: "新版本", from_version: "原版本", version: "版本",
  name: "名称", district: "区", hazard: "灾种", kind: "类别", due: "期限", due_on: "期限", findings: "评估意见",
  evaluator: "评估方", summary: "评估结论", participant_count: "参演人数", conducted_on: "实施日期", action: "整改措施",
  stable_on: "稳定日期", text: "内容", instruction: "指令", town: "街镇", no: "轮次", collective_discussion: "集体讨论",
  approved: "批准", relocated: "紧急转移安置", missing: "未报", warning_id: "叫应编号"};
const VALUE_ENUMS = {level: ["ResponseLevel", "PlanLevel"], warning: ["WarningColour"], outcome: ["ReviewOutcome", "EvaluationOutcome"],
  decision: ["Decision"], cause: ["RevisionCause"], hazard: ["Hazard"], kind: ["ReportKind", "PlanKind", "ActionKind"]};
function shownValue(key, v, enums = VALUE_ENUMS[key] || []) {
  if (typeof v === "boolean") return v ? "是" : "否";
  if (typeof v === "number" && !Number.isInteger(v)) return Math.round(v * 10) / 10;
  if (typeof v !== "string") return v;
  for (const name of enums) { const l = label(name, v); if (l !== v) return l; }
  if (/^\d{4}-\d{2}-\d{2}T/.test(v)) return when(v);
  return v;
}
/** What a key means depends on where it is: a plan's ``level`` is its 级别, a typhoon's its
 *  响应等级; a 叫应 started by a typhoon names the 叫应 (``warning``) and its 层级 (``level``). */
function detailKeys(kind, eventKind) {
  if (kind === "plan") return {level: ["级别", ["PlanLevel"]]};
  if (kind === "warning") return {level: ["叫应层级", ["CallLevel"]]};
  // a 叫应 a level change started: its id (not a warning colour) and the level that started it
  if (kind === "typhoon" && eventKind === "call_started") return {warning: ["叫应编号", []], level: ["响应等级", ["ResponseLevel"]]};
  if (kind === "typhoon") return {level: ["响应等级", ["ResponseLevel"]]};
  return {};
}
function describe(detail, kind = "", eventKind = "", {skip = []} = {}) {
  if (!detail || typeof detail !== "object") return "";
  const keys = detailKeys(kind, eventKind);
  const entries = Object.entries(detail).filter(([k, v]) => (keys[k] || DETAIL_KEYS[k]) && !skip.includes(k)
    && v !== null && v !== "" && typeof v !== "object");
  // a 街镇 by its name (a feedback's detail carries it as ``name``), not its code
  const townShown = detail.town ? (detail.name || townName(detail.town)) : null;
  return entries.filter(([k]) => !(k === "name" && detail.town)).slice(0, 8).map(([k, v]) => {
    if (k === "town") return `街镇：${townShown}`;
    const [text, enums] = keys[k] || [DETAIL_KEYS[k], VALUE_ENUMS[k] || []];
    return `${text}：${shownValue(k, v, enums)}`;
  }).join("，");
}

function dl(pairs) {
  return el("dl", {class: "state"}, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

const needs = (role) => atLeast(me, role) ? undefined : `需要${ROLE_LABELS[role]}及以上权限`;

/** After an action: the view again (its new stage, forms and ETag). */
const after = async (answer, form) => {
  if (answer) $("detail-notice").textContent = `已办理：${form.dataset.action}（${clock()}）`;
  await refreshDetail();
};

const RENDER = {
  plan(v, ctx) {
    const nodes = [dl([
      ["名称", v.name], ["类别", label("PlanKind", v.kind)], ["级别", label("PlanLevel", v.level)], ["制定单位", v.unit],
      ["版本与阶段", versions(v)], ["阶段开始", when(v.stage_since)],
      ["期限", (v.deadlines || []).map(d => `${label("DeadlineKind", d.kind)} ${d.due}${d.overdue ? "（逾期）" : ""}`).join("；") || "—"],
      ["印发", v.issue ? `${v.issue.document_number} ${v.issue.issued_on || ""}` : ""],
      ["备案", v.filing ? `${v.filing.filed_with} ${v.filing.filed_on || ""}` : ""],
      ["允许的操作", (v.allowed_actions || []).map(a => label("PlanAction", a)).join("、") || "无"],
    ])];
    if ((v.reviews || []).length) nodes.push(el("h3", {}, "审查记录"), table(["阶段", "审查方", "结论", "意见", "时间"],
      v.reviews.map(r => [label("PlanStage", r.stage), r.reviewer, label("ReviewOutcome", r.outcome), r.opinion, when(r.at)])));
    const pending = [...(v.pending_triggers || []), ...(v.draft_triggers || [])];
    if (pending.length) nodes.push(el("h3", {}, "待处理的修订事由"), table(["事由", "说明", "来源"],
      pending.map(t => [label("RevisionCause", t.cause), t.detail, t.source])));
    const path = a => `/api/plans/${encodeURIComponent(v.code)}/${a}`;
    const act = (a, title, fields, role, body = x => x) => actionForm(title, fields, {
      submitLabel: title, disabled: needs(role),
      submit: x => ({path: path(a), body: body(x), etag: ctx.etag}), done: after});
    const who = me.person;
    const FORMS = {
      submit: () => act("submit", "提交征求意见", [["by", "提交人", "text", {value: who, required: true}], ["note", "说明", "textarea"]], "duty_officer"),
      review: () => act("review", "审查", [["reviewer", "审查方", "text", {required: true}], ["opinion", "意见", "textarea", {required: true}],
        ["outcome", "结论", "select", {options: options("ReviewOutcome")}]], "approver"),
      approve: () => act("approve", "审批", [["approver", "审批机关", "text", {required: true}], ["approved", "批准", "check", {value: true}],
        ["collective_discussion", "经集体讨论", "check", {value: true}], ["opinion", "意见", "textarea"]], "approver"),
      issue: () => act("issue", "印发", [["document_number", "文号", "text", {required: true}], ["issuer", "印发单位", "text", {required: true}],
        ["issued_on", "印发日期", "date", {value: today()}]], "approver"),
      file: () => act("file", "备案", [["filed_with", "备案机关", "text", {required: true}], ["filed_by", "报备人", "text", {value: who, required: true}],
        ["filed_on", "备案日期", "date", {value: today()}], ["receipt_number", "回执编号", "text"]], "approver"),
      evaluate: () => act("evaluate", "评估", [["evaluator", "评估方", "text", {required: true}], ["outcome", "结论", "select", {options: options("EvaluationOutcome")}],
        ["findings", "评估意见", "textarea", {required: true}], ["cause", "修订事由（需要修订时）", "select", {options: options("RevisionCause"), empty: "（无）"}]], "approver"),
      withdraw: () => act("withdraw", "撤回", [["by", "经办人", "text", {value: who, required: true}], ["reason", "原因", "textarea", {required: true}]], "duty_officer"),
      abolish: () => act("abolish", "废止", [["by", "经办人", "text", {value: who, required: true}], ["reason", "原因", "textarea", {required: true}]], "approver"),
    };
    const forms = () => {
      const list = (v.allowed_actions || []).filter(a => FORMS[a]).map(a => FORMS[a]());
      if (!["withdrawn", "abolished"].includes(v.stage)) {
        list.push(act("revision-triggers", "提出修订事由", [["cause", "事由", "select", {options: options("RevisionCause")}],
          ["detail", "说明", "textarea", {required: true}], ["source", "来源", "text", {value: who, required: true}]], "duty_officer",
          x => ({...x, trigger_id: uuid()})));
      }
      return list.length ? list : [el("p", {class: "empty"}, "当前阶段无可办理的操作")];
    };
    return {title: `预案 ${v.name}（${v.code}）`, nodes, forms, sig: `${v.stage}|${v.version}|${(v.allowed_actions || []).join()}`};
  },

  drill(v, ctx) {
    const nodes = [dl([
      ["名称", v.name], ["类型", label("DrillType", v.drill_type)], ["情景", v.scenario], ["组织单位", v.organiser],
      ["地点", v.site], ["计划日期", v.scheduled_on], ["阶段", label("DrillStage", v.stage)],
      ["参演单位", (v.participants || []).join("、")], ["关联预案", (v.linked_plans || []).map(c => [link("plan", c, c), " "])],
      ["实施情况", v.conduct ? `${v.conduct.conducted_on || ""} 参演 ${num(v.conduct.participant_count)} 人` : ""],
      ["评估期限", v.evaluation_due ? `${v.evaluation_due}${v.evaluation_overdue ? "（逾期）" : ""}` : ""],
      ["允许的操作", (v.allowed_actions || []).map(a => label("DrillAction", a)).join("、") || "无"],
    ])];
    if ((v.findings || []).length) nodes.push(el("h3", {}, "发现问题"), table(["序号", "严重程度", "类别", "描述", "预案缺陷"],
      v.findings.map(f => [f.number, label("Severity", f.severity), label("FindingCategory", f.category), f.description, f.plan_defect ? `是（${f.plan_code || ""}）` : "否"])));
    if ((v.actions || []).length) nodes.push(el("h3", {}, "整改措施"), table(["序号", "措施", "责任单位", "期限", "完成"],
      v.actions.map(a => [a.number, a.description, a.owner, a.due_on, a.done_on ? `${a.done_on} ${a.done_by || ""}` : "未完成"])));
    const path = a => `/api/drills/${encodeURIComponent(v.code)}/${a}`;
    const act = (a, title, fields, body = x => x) => actionForm(title, fields, {
      submitLabel: title, disabled: needs("duty_officer"),
      submit: x => ({path: path(a), body: body(x), etag: ctx.etag}), done: after});
    const who = me.person;
    const open = (v.actions || []).filter(a => !a.done_on);
    const FORMS = {
      postpone: () => act("postpone", "延期", [["new_date", "新日期", "date", {required: true}], ["reason", "原因", "textarea", {required: true}],
        ["by", "经办人", "text", {value: who, required: true}]]),
      cancel: () => act("cancel", "取消", [["reason", "原因", "textarea", {required: true}], ["by", "经办人", "text", {value: who, required: true}]]),
      conduct: () => act("conduct", "实施", [["conducted_on", "实施日期", "date", {value: today()}],
        ["participant_count", "参演人数", "number", {min: 0, required: true}], ["segments", "演练科目（每行一项）", "lines"],
        ["observations", "观察记录", "textarea"], ["by", "经办人", "text", {value: who, required: true}]]),
      evaluate: () => act("evaluate", "评估", [["evaluator", "评估方", "text", {required: true}], ["third_party", "第三方评估", "check"],
        ["summary", "评估结论", "textarea", {required: true}], ["evaluated_on", "评估日期", "date", {value: today()}],
        ["f_severity", "问题严重程度", "select", {options: options("Severity"), empty: "（无问题）"}],
        ["f_category", "问题类别", "select", {options: options("FindingCategory")}], ["f_description", "问题描述", "textarea"],
        ["a_description", "整改措施", "text"], ["a_owner", "责任单位", "text"], ["a_due_on", "整改期限", "date"]],
        x => {
          const body = {evaluator: x.evaluator, third_party: x.third_party, summary: x.summary, evaluated_on: x.evaluated_on,
            findings: [], actions: []};
          if (x.f_severity) {
            if (!x.f_description) throw new Error("请填写问题描述");
            body.findings.push({severity: x.f_severity, category: x.f_category, description: x.f_description});
            if (x.a_description) body.actions.push({finding: 1, description: x.a_description, owner: x.a_owner || "", due_on: x.a_due_on});
          }
          return body;
        }),
      action_done: () => act("actions/done", "整改完成", [["action", "整改措施", "select", {options: open.map(a => [String(a.number), `${a.number}. ${a.description}`])}],
        ["by", "经办人", "text", {value: who, required: true}], ["note", "说明", "text"], ["done_on", "完成日期", "date", {value: today()}]],
        x => ({...x, action: Number(x.action)})),
    };
    const forms = () => {
      const list = (v.allowed_actions || []).filter(a => FORMS[a]).map(a => FORMS[a]());
      return list.length ? list : [el("p", {class: "empty"}, "当前阶段无可办理的操作")];
    };
    return {title: `演练 ${v.name}（${v.code}）`, nodes, forms, sig: `${v.stage}|${open.length}|${(v.allowed_actions || []).join()}`};
  },

  typhoon(b, ctx) {
    const root = el("div", {class: "typhoon-board"});
    renderTyphoon(root, b, false);
    const nodes = [root];
    const filledAt = new Map((ctx.events || []).filter(e => e.detail && e.detail["代填"] && ["level_changed", "opened"].includes(e.kind))
      .map(e => [Date.parse(e.at), e.detail["代填"]]));
    if ((b.levels || []).length) nodes.push(el("h3", {}, "响应等级调整记录"), table(["时间", "响应等级", "预警", "经办", "备注"],
      [...b.levels].reverse().map(l => [when(l.at), label("ResponseLevel", l.level), label("WarningColour", l.warning),
        whoDid(l.by, filledAt.get(Date.parse(l.at))), l.note || ""])));
    const [year, number] = ctx.key.split(":");
    const path = a => `/api/typhoons/${year}/${number}/${a}`;
    // No If-Match here: every report moves the board's version on, so a condition on it would
    // refuse the duty officer's decision whenever a 街镇 reported in between.
    const officer = {disabled: needs("duty_officer"), done: after};
    const forms = async () => {
      if (b.status === "closed") return [el("p", {class: "empty"}, "已结束，不再办理")];
      const towns = await townsOf(b.district);
      const register = await get(`/api/shelters?district=${encodeURIComponent(b.district)}`).catch(e => {
        if (e instanceof Unauthorized) throw e;
        return [];
      });
      const open = b.shelters || [];
      const openCodes = new Set(open.map(sh => sh.code));
      const closedOnes = register.filter(sh => !openCodes.has(sh.code));
      const shelterOption = sh => [sh.code, `${sh.name}（${sh.town_name || sh.town || ""}，容量 ${num(sh.capacity)}）`];
      const instructions = b.instructions || [];
      const list = [
        actionForm("调整响应等级", [["level", "响应等级", "select", {options: options("ResponseLevel"), value: b.level}],
          ["warning", "预警", "select", {options: options("WarningColour"), value: b.warning}],
          ["by", "决定单位", "text", {required: true, placeholder: "如：区防指"}], ["note", "备注", "textarea"]],
        {submitLabel: "调整", ...officer, submit: x => ({path: path("level"), body: x})}),
        actionForm("下达工作指令", [["text", "指令内容", "textarea", {required: true, placeholder: "如：各街镇立即组织危险区域人员转移"}],
          ["due_minutes", "反馈时限（分钟）", "number", {min: 1, max: 10080, value: 60, required: true}],
          ["by", "下达人", "text", {value: me.person, required: true}]],
        {submitLabel: "下达", note: "下达至全区各街镇，各街镇须在时限内反馈。", ...officer,
          submit: x => ({path: path("instructions"), body: x})}),
      ];
      if (instructions.length) {
        const feedback = actionForm("登记指令反馈", [
          ["instruction", "指令", "select", {options: instructions.map(i => [i.id, `${i.id} ${i.text.slice(0, 30)}`]),
            value: (instructions.find(i => (i.pending || []).length) || instructions[0]).id}],
          ["town", "反馈街镇", "select", {options: []}], ["text", "反馈内容", "textarea", {required: true}],
          ["by", "反馈人", "text", {value: me.person, required: true}]],
        {submitLabel: "登记反馈", disabled: needs("reporter"), done: after,
          submit: x => {
            if (!x.town) throw new Error("请选择反馈街镇");
            return {path: path("feedback"), body: x};
          }});
        const pick = feedback.inputs.instruction.input;
        const townPick = feedback.inputs.town.input;
        const fill = () => {
          const inst = instructions.find(i => i.id === pick.value) || instructions[0];
          const pending = inst.pending || [];
          townPick.replaceChildren(...(pending.length
            ? pending.map(code => el("option", {value: code}, townName(code)))
            : [el("option", {value: ""}, "（各街镇均已反馈）")]));
        };
        pick.addEventListener("change", fill);
        fill();
        list.push(feedback);
      }
      list.push(actionForm("开放避难场所", [
        ["shelters", "避难场所（可多选）", "multi", {options: closedOnes.map(shelterOption)}],
        ["by", "经办人", "text", {value: me.person, required: true}], ["note", "备注", "text"]],
      {submitLabel: "开放", ...officer, note: closedOnes.length ? "" : "登记册中没有可开放的避难场所（请管理员先导入避难场所登记）",
        submit: x => {
          if (!(x.shelters || []).length) throw new Error("请选择要开放的避难场所");
          return {path: path("shelters/open"), body: x};
        }}));
      if (open.length) {
        list.push(actionForm("关闭避难场所", [
          ["shelters", "避难场所（可多选）", "multi", {options: open.map(sh => [sh.code, `${sh.name}（在住 ${num(sh.occupancy)}）`])}],
          ["by", "经办人", "text", {value: me.person, required: true}], ["note", "备注", "text"]],
        {submitLabel: "关闭", ...officer, submit: x => {
          if (!(x.shelters || []).length) throw new Error("请选择要关闭的避难场所");
          return {path: path("shelters/close"), body: x};
        }}));
        list.push(actionForm("报送避难场所在住人数", [
          ["shelter", "避难场所", "select", {options: open.map(sh => [sh.code, `${sh.name}（容量 ${num(sh.capacity)}）`])}],
          ["occupancy", "在住人数", "number", {min: 0, required: true}],
          ["as_of", "数据截至", "datetime", {value: nowLocal(), required: true}],
          ["reported_by", "报送人", "text", {value: me.person, required: true}]],
        {submitLabel: "报送", disabled: needs("reporter"),
          submit: x => ({path: "/api/typhoons/occupancy", body: {...x, event_id: b.event_id, report_id: uuid()}}),
          done: async (answer, form) => {
            const status = answer && answer.data && answer.data.status;
            if (status) {
              form.querySelector(".outcome").textContent = `已办理：${RECEIPTS[status] || status}`;
              $("detail-notice").textContent = `已办理：${form.dataset.action}（${RECEIPTS[status] || status}，${clock()}）`;
            }
            await refreshDetail();
          }}));
      }
      list.push(actionForm("开始报送轮次", [["by", "经办人", "text", {value: me.person, required: true}], ["note", "备注", "text"]],
        {submitLabel: "开始本轮报送", note: "立即开始一轮报送，各报送单位须在截止前报送；逾期未报的单位将被催报。", ...officer,
          submit: x => ({path: path("rounds"), body: x})}));
      list.push(actionForm("结束", [["by", "决定单位", "text", {required: true, placeholder: "如：区防指"}], ["note", "备注", "textarea"]],
        {submitLabel: "结束本次过程", note: "结束后不再接收报送；须先解除预警并终止响应。", ...officer,
          submit: x => ({path: path("close"), body: x})}));
      return list;
    };
    const sig = [b.status, (b.instructions || []).map(i => `${i.id}:${(i.pending || []).join("+")}`).join(),
      (b.shelters || []).map(sh => sh.code).join()].join("|");
    return {title: `${label("Hazard", b.hazard || "typhoon")} ${boardName(b)}`, nodes, forms, sig};
  },

  warning(v, ctx) {
    const nodes = [dl([
      ["标题", v.title], ["区", v.district], ["层级", v.level ? label("CallLevel", v.level) : ""],
      ["叫应对象", v.who ? label("CallSource", v.who) : ""], ["发布", `${v.issued_by} ${when(v.issued_at)}`],
      ["关联台风", v.typhoon_event_id ? link("typhoon", v.typhoon_event_id, v.typhoon_event_id) : ""],
    ]), renderWarning(v), el("h3", {}, "叫应链"), el("div", {id: "chains"}, "加载中…")];
    const forms = () => {
      if (v.finished) return [el("p", {class: "empty"}, "叫应已结束")];
      return [actionForm("登记应答", [["person", "应答人（电话、姓名或人员编号）", "text", {required: true}],
        ["via", "方式", "select", {options: [["phone", "电话"], ["sms", "短信"], ["on_site", "现场"]]}]], {
        submitLabel: "登记应答", disabled: needs("duty_officer"),
        submit: x => ({path: `/api/warnings/${encodeURIComponent(ctx.key)}/ack`, body: x}),
        done: async (answer, form) => {
          if (answer && answer.data && answer.data.status) {
            form.querySelector(".outcome").textContent = `已登记：${label("ChainStatus", answer.data.status)}` +
              (answer.data.response_seconds != null ? `，响应 ${Math.round(answer.data.response_seconds)} 秒` : "");
          }
          await refreshDetail();
        }})];
    };
    return {title: `叫应 ${v.title}（${v.warning_id}）`, nodes, forms, sig: String(v.finished)};
  },

  disaster(v, ctx) {
    const nodes = [dl([
      ["名称", v.name], ["灾种", v.hazard], ["区", v.district], ["发生时间", when(v.occurred_at)],
      ["关联台风", v.typhoon_event_id ? link("typhoon", v.typhoon_event_id, v.typhoon_event_id) : ""],
      ["灾情稳定", v.stable_on || "未稳定"], ["核报期限", v.final_due ? when(v.final_due) : ""],
      ["状态", v.closed ? "已结束" : "报送中"], ["逾期", (v.overdue || []).join("、")],
    ])];
    nodes.push(el("h3", {}, "报送时限"), table(["报告", "时限", "报告编号", "报送时间", "迟报", "催报"], (v.slots || []).map(s => [
      label("ReportKind", s.kind), when(s.due), s.report_id || "未报", when(s.submitted_at), s.late ? "迟报" : "",
      [s.reminded ? "已催报" : "", s.escalated ? "已升级" : ""].filter(Boolean).join("、")])));
    const relocation = i => i.relocated === null || i.relocated === undefined
      ? "取台风统计" : `${num(i.relocated)}（集中 ${num(i.centralized)}，分散 ${num(i.dispersed)}）`;
    nodes.push(el("h3", {}, "报告"), table(["编号", "类别", "截至", "报送", "状态", "受灾人口", "紧急转移安置（集中/分散）", "死亡", "失踪", "直接经济损失（万元）"],
      (v.reports || []).map(r => [r.report_id, label("ReportKind", r.kind), when(r.as_of), `${when(r.submitted_at)} ${r.by}${r.late ? "（迟报）" : ""}`,
        label("ReportStatus", r.status), num(r.indicators.affected), td(relocation(r.indicators), "relocation"), num(r.indicators.dead),
        num(r.indicators.missing), num(r.indicators.direct_loss)])));
    const broken = [...(v.reports || [])].reverse().find(r => (r.towns || []).length);
    if (broken) {
      nodes.push(el("h3", {}, `分街镇（${broken.report_id}，${label("ReportKind", broken.kind)}）`),
        el("div", {class: "town-breakdown"}, table(["街镇", "受灾人口", "紧急避险转移", "紧急转移安置", "集中安置", "分散安置", "死亡", "失踪"],
          broken.towns.map(t => [townName(t.town), num(t.indicators.affected), num(t.indicators.pre_evacuated),
            t.indicators.relocated == null ? "—" : num(t.indicators.relocated), num(t.indicators.centralized), num(t.indicators.dispersed),
            num(t.indicators.dead), num(t.indicators.missing)]))));
    }
    const code = encodeURIComponent(v.code);
    /** 集中 and 分散 given (either one): both, and 紧急转移安置 their sum; neither: left out. */
    const relocated = (x, into) => {
      if (x.centralized === undefined && x.dispersed === undefined) return into;
      const c = x.centralized ?? 0, d = x.dispersed ?? 0;
      return {...into, centralized: c, dispersed: d, relocated: c + d};
    };
    const forms = async () => {
      if (v.closed) return [el("p", {class: "empty"}, "已结束，不再办理")];
      const towns = await townsOf(v.district);
      const townColumns = [["town", "街镇", "select", {options: towns}], ["affected", "受灾人口", "number"],
        ["pre_evacuated", "紧急避险转移", "number"], ["centralized", "集中安置", "number"], ["dispersed", "分散安置", "number"],
        ["dead", "死亡", "number"], ["missing", "失踪", "number"]];
      const list = [actionForm("报送灾情", [["kind", "报告类别", "select", {options: options("ReportKind")}],
        ["report_id", "报告编号", "text", {required: true, value: `${v.code}-${Date.now().toString(36).toUpperCase()}`}],
        ["as_of", "数据截至", "datetime", {value: nowLocal(), required: true}], ["by", "报送人", "text", {value: me.person, required: true}],
        ["affected", "受灾人口", "number", {min: 0, value: 0}], ["pre_evacuated", "紧急避险转移人口", "number", {min: 0, value: 0}],
        ["centralized", "集中安置", "number", {min: 0, placeholder: v.typhoon_event_id ? "留空：取关联台风统计" : ""}],
        ["dispersed", "分散安置", "number", {min: 0, placeholder: v.typhoon_event_id ? "留空：取关联台风统计" : ""}],
        ["need_aid", "需紧急生活救助人口", "number", {min: 0, value: 0}],
        ["dead", "死亡人口", "number", {min: 0, value: 0}], ["missing", "失踪人口", "number", {min: 0, value: 0}],
        ["houses_collapsed", "倒塌房屋（间）", "number", {min: 0, value: 0}], ["houses_severe", "严重损坏房屋（间）", "number", {min: 0, value: 0}],
        ["houses_general", "一般损坏房屋（间）", "number", {min: 0, value: 0}],
        ["direct_loss", "直接经济损失（万元）", "number", {min: 0, step: "any", value: 0}],
        ["towns", "分街镇（初报必填）", "rows", {columns: townColumns, count: 2}],
        ["narrative", "灾情描述", "textarea"], ["explanation", "变化说明（数字变化较大时必填）", "textarea"]], {
        submitLabel: "报送", disabled: needs("reporter"),
        note: "紧急转移安置 = 集中安置 + 分散安置" + (v.typhoon_event_id ? "；两项都留空时取关联台风的统计。" : "。"),
        submit: x => {
          const townRows = (x.towns || []).map(t => {
            if (!t.town) throw new Error("分街镇：请为填写了数字的每一行选择街镇");
            const {town, ...figures} = t;
            return {town, indicators: relocated(figures, Object.fromEntries(Object.entries(figures)
              .filter(([k]) => k !== "centralized" && k !== "dispersed")))};
          });
          const indicators = relocated(x, {affected: x.affected, pre_evacuated: x.pre_evacuated, need_aid: x.need_aid,
            dead: x.dead, missing: x.missing, houses_collapsed: x.houses_collapsed, houses_severe: x.houses_severe,
            houses_general: x.houses_general, direct_loss: x.direct_loss});
          return {path: `/api/disasters/${code}/reports`, etag: ctx.etag, body: {kind: x.kind, report_id: x.report_id,
            as_of: x.as_of, by: x.by, narrative: x.narrative || "", explanation: x.explanation || "", indicators, towns: townRows}};
        }, done: after})];
      const waiting = (v.reports || []).filter(r => r.status === "submitted");
      if (waiting.length) list.push(actionForm("审核报告", [["report_id", "报告", "select", {options: waiting.map(r => [r.report_id, `${r.report_id}（${label("ReportKind", r.kind)}）`])}],
        ["reviewer", "审核人", "text", {value: me.person, required: true}], ["decision", "审核意见", "select", {options: options("Decision").filter(([d]) => d !== "correct")}],
        ["reason", "理由", "textarea"]], {submitLabel: "审核", disabled: needs("approver"),
        submit: x => ({path: `/api/disasters/${code}/reviews`, body: x, etag: ctx.etag}), done: after}));
      if (!v.stable_on) list.push(actionForm("灾情稳定", [["by", "决定单位", "text", {required: true, placeholder: "如：区防指"}], ["stable_on", "稳定日期", "date", {value: today()}]],
        {submitLabel: "确认灾情稳定", disabled: needs("duty_officer"), submit: x => ({path: `/api/disasters/${code}/stable`, body: x, etag: ctx.etag}), done: after}));
      return list;
    };
    const sig = `${v.closed}|${v.stable_on}|${(v.reports || []).map(r => r.report_id + r.status).join()}`;
    return {title: `灾情过程 ${v.name}（${v.code}）`, nodes, forms, sig};
  },
};

async function refreshChains(ctx) {
  const chains = await get(`/api/room/warnings/${encodeURIComponent(ctx.key)}/chains`);
  const slot = document.getElementById("chains");
  if (!slot || ctx !== current) return;
  const form = document.querySelector("#detail-forms form");
  const answer = person => {
    if (!form) return;
    form.inputs.person.input.value = person;
    form.requestSubmit();
  };
  slot.replaceChildren(table(["街镇", "单位", "角色", "被叫人（顺序）", "状态", "应答", "未送达"], chains.map(c => [
    c.town_name, c.unit_name, c.role,
    el("td", {}, c.persons.map(p => el("span", {class: "person"}, `${p.order}. ${p.name} ${p.phone}`,
      c.status === "calling" && atLeast(me, "duty_officer") && form
        ? el("button", {type: "button", class: "small", onclick: () => answer(p.person_id)}, "登记应答") : ""))),
    td(c.status_label, c.status === "not_reached" ? "overdue" : ""),
    c.acked_at ? `${when(c.acked_at)}${c.response_seconds != null ? `（${Math.round(c.response_seconds)} 秒）` : ""}` : "—",
    td(c.undelivered || "", c.undelivered ? "overdue" : "")]), {empty: "尚无叫应链（布置中）"}));
}

// -- starting a workflow --

function stamp() {
  return nowLocal().replace(/[-:T]/g, "").slice(0, 12);
}

function buildStartForms() {
  const slot = $("start-forms");
  if (!atLeast(me, "duty_officer")) {
    slot.replaceChildren(el("p", {class: "note"}, "新建事项需要值班员及以上权限"));
    return;
  }
  const district = () => (live && live.district) || "";
  const go = (kind, key) => () => { location.hash = `#/${kind}/${encodeURIComponent(key)}`; };
  const wrap = (title, form) => el("details", {}, el("summary", {}, title), form);
  const warning = actionForm("发布叫应", [
    ["warning_id", "叫应编号", "text", {value: `JY-${stamp()}`, required: true}],
    ["title", "标题", "text", {required: true, placeholder: "如：台风红色预警"}],
    ["level", "叫应层级", "select", {options: options("CallLevel"), value: "town"}],
    ["who", "叫应对象", "select", {options: options("CallSource")}],
    ["units", "范围（单位名称，以、或逗号分隔；留空为全区）", "text"],
    ["issued_by", "发布人", "text", {value: me.person, required: true}],
  ], {submitLabel: "发布叫应", submit: x => ({path: "/api/warnings", body: {...x,
    units: x.units ? x.units.split(/[、,，\s]+/).filter(Boolean) : undefined}}),
  done: (answer, form) => { if (answer) { const id = form.values().warning_id; form.inputs.warning_id.input.value = `JY-${stamp()}`; go("warning", id)(); } }});
  // A typhoon is keyed by its national number; 暴雨, 寒潮 … by a code the bureau gives the event.
  const PREFIX = {rainstorm: "RS", cold_wave: "CW"};
  const suggested = hazard => `${PREFIX[hazard] || "EV"}${stamp().slice(4, 12)}`;
  const typhoon = actionForm("启动台风过程", [
    ["hazard", "灾种", "select", {options: options("Hazard"), value: "typhoon"}],
    ["year", "年份", "number", {value: today().slice(0, 4), required: true}], ["number", "台风编号", "number", {min: 1, max: 99, required: true}],
    ["code", "事件编号（字母开头，如 RS0721）", "text", {placeholder: "如 RS0721"}],
    ["name", "台风名称", "text", {required: true}], ["district", "区", "text", {value: district(), required: true}],
    ["level", "响应等级", "select", {options: options("ResponseLevel")}], ["warning", "预警", "select", {options: options("WarningColour")}],
    ["opened_by", "启动人", "text", {value: me.person, required: true}],
  ], {submitLabel: "启动", submit: x => {
    const isTyphoon = x.hazard === "typhoon";
    const body = {year: x.year, name: x.name, district: x.district, level: x.level, warning: x.warning,
      opened_by: x.opened_by, hazard: x.hazard};
    if (isTyphoon) body.number = x.number; else body.code = x.code;
    return {path: "/api/typhoons", body};
  },
  done: (answer, form) => {
    if (!answer) return;
    const x = form.values();
    const key = `${x.year}:${x.hazard === "typhoon" ? x.number : x.code}`;
    if (x.hazard !== "typhoon") form.inputs.code.input.value = suggested(x.hazard);
    go("typhoon", key)();
  }});
  {
    // The form follows the hazard chosen: its title, the number or the code, the name's label.
    const {hazard, number, code, name} = typhoon.inputs;
    const row = input => input.closest("label");
    const follow = () => {
      const h = hazard.input.value;
      const isTyphoon = h === "typhoon";
      const hazardName = label("Hazard", h);
      typhoon.querySelector("h4").textContent = isTyphoon ? "启动台风过程" : `启动${hazardName}事件`;
      typhoon.querySelector("button[type=submit]").textContent = isTyphoon ? "启动" : `启动${hazardName}事件`;
      row(number.input).hidden = !isTyphoon;
      number.input.required = isTyphoon;
      row(code.input).hidden = isTyphoon;
      code.input.required = !isTyphoon;
      if (!isTyphoon && (!code.input.value || code.input.dataset.suggested === code.input.value)) {
        code.input.value = code.input.dataset.suggested = suggested(h);
      }
      row(name.input).querySelector("span").textContent = isTyphoon ? "台风名称" : "事件名称";
      name.input.placeholder = isTyphoon ? "如：贝碧嘉" : `如：7·21${hazardName}`;
    };
    hazard.input.addEventListener("change", follow);
    follow();
  }
  const plan = actionForm("新建预案", [
    ["code", "预案编号", "text", {required: true}], ["name", "预案名称", "text", {required: true}],
    ["short_name", "简称", "text"], ["kind", "类别", "select", {options: options("PlanKind")}],
    ["level", "级别", "select", {options: options("PlanLevel")}], ["unit", "制定单位", "text", {required: true}],
    ["drafter", "起草人", "text", {value: me.person, required: true}],
  ], {submitLabel: "新建", submit: x => ({path: "/api/plans", body: x}),
    done: (answer, form) => { if (answer) go("plan", form.values().code)(); }});
  const drill = actionForm("计划演练", [
    ["code", "演练编号", "text", {required: true}], ["name", "演练名称", "text", {required: true}],
    ["drill_type", "类型", "select", {options: options("DrillType")}], ["scenario", "演练情景", "textarea", {required: true}],
    ["organiser", "组织单位", "text", {required: true, value: (live && live.bureau) || undefined, placeholder: "如：区应急管理局"}],
    ["site", "地点", "text", {required: true}],
    ["scheduled_on", "日期", "date", {required: true}], ["participants", "参演单位（每行一个）", "lines"],
    ["linked_plans", "关联预案编号（每行一个）", "lines"],
  ], {submitLabel: "计划", submit: x => ({path: "/api/drills", body: x}),
    done: (answer, form) => { if (answer) go("drill", form.values().code)(); }});
  const disaster = actionForm("启动灾情过程", [
    ["code", "编号", "text", {required: true}], ["name", "名称", "text", {required: true, placeholder: "如：台风“梅花”灾害过程"}],
    ["hazard", "灾种", "text", {value: "台风", required: true}], ["district", "区", "text", {value: district(), required: true}],
    ["occurred_at", "发生时间", "datetime", {value: nowLocal(), required: true}],
    ["officer_name", "信息员（A岗）姓名", "text", {required: true}], ["officer_phone", "信息员（A岗）电话", "text", {required: true}],
    ["typhoon_event_id", "关联台风（如 2024:13）", "text"], ["opened_by", "启动人", "text", {value: me.person, required: true}],
  ], {submitLabel: "启动", submit: x => ({path: "/api/disasters", body: {code: x.code, name: x.name, hazard: x.hazard, district: x.district,
    occurred_at: x.occurred_at, opened_by: x.opened_by, typhoon_event_id: x.typhoon_event_id,
    officer: {name: x.officer_name, phone: x.officer_phone}}}),
  done: (answer, form) => { if (answer) go("disaster", form.values().code)(); }});
  const others = options("Hazard").filter(([h]) => h !== "typhoon").map(([, t]) => t).join("、");
  slot.replaceChildren(wrap("发布叫应", warning), wrap(`启动台风过程${others ? `或${others}等事件` : ""}`, typhoon), wrap("新建预案", plan),
    wrap("计划演练", drill), wrap("启动灾情过程", disaster));
}
