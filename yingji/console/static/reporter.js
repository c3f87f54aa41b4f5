// The reporter's page (灾害信息员, phone-sized): for the units of their token only, a typhoon
// report with the unit's last figures shown, and the occupancy of the units' shelters open in the
// event (避难场所在住人数) with each one's capacity and last occupancy; each receipt says
// 已接收 / 重复 / 迟报 / 被拒 and why. A report's id is a fresh UUID per submission, sent again (with
// the same Idempotency-Key) by 重试: a report that arrived the first time answers 重复 and is
// counted once.
import {
  ROLE_LABELS, Refused, Retryable, Unauthorized, el, get, num, nowLocal, problemText, send, uuid, when, wireLogin,
} from "./common.js";

const FIGURES = {pre_evacuated: "紧急避险转移", relocated: "紧急转移安置", centralized: "集中安置",
  dispersed: "分散安置", returned: "已返回", shelters_open: "开放避难场所", sheltered_now: "避难场所在住"};
const VERDICTS = {accepted: "已接收", correction: "已接收（更正）", duplicate: "重复", late: "迟报", refused: "被拒"};

let me = null;
let data = null;

/**
 * The page's two reports, each with its own form, buttons and receipt: where it is sent, how an
 * answer and a refusal are said, and ``pending``, the submission its 重试 sends again ({body, key}).
 */
const CHANNELS = {
  unit: {path: "/api/typhoons/reports", send: "send", retry: "retry", receipt: "receipt",
    verdict: "verdict", reason: "reason-text", ref: "receipt-ref", pending: null,
    explain: answer => explain(answer), refused: e => plain(e)},
  shelter: {path: "/api/typhoons/occupancy", send: "shelter-send", retry: "shelter-retry",
    receipt: "shelter-receipt", verdict: "shelter-verdict", reason: "shelter-reason-text",
    ref: "shelter-receipt-ref", pending: null,
    explain: answer => explainOccupancy(answer), refused: e => plainOccupancy(e)},
};

const $ = id => document.getElementById(id);

function stop() {
  me = null;
  $("board").hidden = true;
  $("who").hidden = true;
}

async function start(who) {
  me = who;
  $("person").textContent = `${me.person}（${ROLE_LABELS[me.role] || me.role}）`;
  $("who").hidden = false;
  $("board").hidden = false;
  await load();
}

const showLogin = wireLogin({start: who => start(who).catch(failed), stop});

function failed(e) {
  if (e instanceof Unauthorized) showLogin(e.message);
  else $("status").textContent = "· " + e.message;
}

/** Read the page's data again. ``from``: the report just sent (its channel): the other form keeps
 *  what is typed in it unless its event or unit is gone. */
async function load(from = null) {
  data = await get("/api/room/reporter");
  const names = data.units.map(u => u.name);
  $("units").textContent = names.length ? `本人负责：${names.join("、")}` : "此令牌未指定报送单位（信息员令牌须指定单位）";
  const events = data.events.filter(e => e.units.length || (e.shelters || []).length);
  $("no-event").hidden = events.length > 0;
  $("no-event").textContent = "当前没有需要本单位报送的灾害过程";
  $("event-pick").hidden = events.length === 0;
  const keep = $("event").value;
  $("event").replaceChildren(...events.map(e => el("option", {value: e.event_id},
    `${e.number ? `${e.year}年第${e.number}号台风` : e.hazard_label}「${e.name}」· ${e.level_label} · ${e.warning_label}`)));
  if (events.some(e => e.event_id === keep)) $("event").value = keep;
  fillUnits(from);
}

function currentEvent() { return data && data.events.find(e => e.event_id === $("event").value); }

function fillUnits(from = null) {
  const event = currentEvent();
  $("report-form").hidden = !event || event.units.length === 0;
  fillShelters(from);
  if (!event) return;
  const keep = $("unit").value;
  const byCode = Object.fromEntries(data.units.map(u => [u.code, u]));
  $("unit").replaceChildren(...event.units.map(code => el("option", {value: code},
    byCode[code] ? (byCode[code].parent_name ? `${byCode[code].parent_name} ${byCode[code].name}` : byCode[code].name) : code)));
  if (event.units.includes(keep)) $("unit").value = keep;
  const same = $("report-form").dataset.event === event.event_id && $("unit").value === keep;
  $("report-form").dataset.event = event.event_id;
  if (from === CHANNELS.shelter && same) showLast({keepForm: true}); else showLast();
}

/** The unit's last report, and the form filled with its figures (cumulative: they only grow). */
function showLast({keepForm = false} = {}) {
  const event = currentEvent();
  const last = event && event.last[$("unit").value];
  if (!last) {
    $("last").replaceChildren(el("h2", {}, "本单位上次报送"), el("p", {class: "empty"}, "本单位尚未报送"));
  } else {
    $("last").replaceChildren(el("h2", {}, "本单位上次报送"),
      el("p", {}, `截至 ${when(last.as_of)}（${VERDICTS[last.status] || last.status}，${last.reported_by}）`),
      el("dl", {class: "state"}, Object.entries(FIGURES).map(([k, t]) => [el("dt", {}, t), el("dd", {dataset: {figure: k}}, num(last[k]))])));
  }
  if (keepForm) return;
  for (const input of document.querySelectorAll("[data-figure]")) {
    if (input.tagName !== "INPUT") continue;
    input.value = last ? last[input.dataset.figure] : 0;
  }
  $("as-of").value = nowLocal();
  $("reason").value = "";
  sum();
}

function sum() {
  const v = id => Number($(id).value || 0);
  $("relocated").textContent = num(v("f-centralized") + v("f-dispersed"));
}

/** The unit a report names, as the reporter knows it (its name, not its code). */
function unitName(code) {
  const unit = data && data.units.find(u => u.code === code || u.name === code);
  return unit ? unit.name : code;
}

/**
 * A refusal in plain Chinese, naming the field: from the API's problem answer (either shape:
 * ``application/problem+json`` with ``errors: [{path, reason}]``, ``detail`` and ``title``, or
 * FastAPI's ``{"detail": …}``), never its raw text. What only this page knows is said here (the
 * figures' own names, the unit's name, what to do next); the rest is common.js's.
 */
function plain(e) {
  const problem = e.problem;
  const raw = problem && typeof problem === "object"
    ? (typeof problem.detail === "string" ? problem.detail : "") : String(e.message || "");
  let m;
  if ((m = raw.match(/figures\.(\w+): (\d+) is below the unit's latest (\d+)/))) {
    return `「${FIGURES[m[1]] || m[1]}」${m[2]} 小于上次报送的 ${m[3]}：累计数只增不减；如确需调小，请在“说明”中写明原因`;
  }
  if ((m = raw.match(/may not report for (.+?)\s*$/))) return `无权为「${unitName(m[1])}」报送：只能报送本人负责的单位`;
  if (/is closed; reports are no longer accepted/.test(raw)) return "该灾害过程已结束，不再接收报送";
  const text = problem ? problemText(problem) : e.message;
  if (e.status === 403) return "无权报送：" + text;
  if (e.status === 409 || e.status === 412) return "报送未被接收：" + text;
  return text ? `报送未被接收：${text}` : "报送未被接收";
}

function receipt(channel, kind, text, ref) {
  $(channel.receipt).hidden = false;
  $(channel.receipt).className = "receipt " + kind;
  $(channel.verdict).textContent = VERDICTS[kind] || kind;
  $(channel.reason).textContent = text;
  $(channel.ref).textContent = ref ? `报告编号 ${ref}` : "";
}

function explain(answer) {
  const {status, message} = answer;
  if (status === "accepted") return "已计入本单位最新数字";
  if (status === "correction") return "已按更正计入";
  if (status === "duplicate") return "此报送此前已收到，未重复计入";
  if (status === "late") {
    const at = (message.match(/as of (.+?);/) || [])[1];
    return `已存档；本单位已有更晚时间${at ? `（${when(at)}）` : ""}的数据，本次不改变当前数字`;
  }
  return message;
}

/** Send ``attempt`` ({body, key}) on ``channel`` once, and say how it was received. */
async function submit(channel, attempt) {
  $(channel.send).disabled = $(channel.retry).disabled = true;
  $(channel.retry).hidden = true;
  $("status").textContent = "· 报送中…";
  try {
    const answer = await send(channel.path, attempt.body, {key: attempt.key});
    channel.pending = null;
    receipt(channel, answer.data.status, channel.explain(answer.data), answer.data.report_id);
    if (channel === CHANNELS.shelter) $("shelter-form").dataset.event = "";  // sent: the form afresh
    await load(channel);
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    if (e instanceof Retryable) {
      channel.pending = attempt;
      $(channel.retry).hidden = false;
      receipt(channel, "unsent", "未送达：" + e.message + "。请点击“重试”（同一报告编号，不会重复计入）", attempt.body.report_id);
      $(channel.verdict).textContent = "未送达";
    } else if (e instanceof Refused) {
      channel.pending = null;
      receipt(channel, "refused", channel.refused(e), attempt.body.report_id);
    } else throw e;
  } finally {
    $(channel.send).disabled = $(channel.retry).disabled = false;
    $("status").textContent = "";
  }
}

// -- shelters (避难场所): their occupancy now --

/** The shelter's name as the reporter knows it, with its unit when the reporter has several. */
function shelterLabel(shelter) {
  const unit = data.units.length > 1 && shelter.unit_name ? `${shelter.unit_name} ` : "";
  return `${unit}${shelter.name}`;
}

/** The event's open shelters of the reporter's units, each with its capacity and last occupancy. */
function fillShelters(from = null) {
  const event = currentEvent();
  const shelters = (event && event.shelters) || [];
  $("shelters").hidden = !event;
  if (!event) return;
  const form = $("shelter-form");
  $("shelter-list").replaceChildren(...(shelters.length ? shelters.map(s => el("li", {dataset: {shelter: s.code}},
    el("strong", {}, shelterLabel(s)), el("span", {class: "note"}, `（${s.code}）`),
    el("span", {class: "capacity"}, `容量 ${num(s.capacity)} 人`),
    s.occupancy === null || s.occupancy === undefined
      ? el("span", {class: "occupancy empty"}, "尚未报送在住人数")
      : el("span", {class: "occupancy"}, "上次在住 ", el("b", {dataset: {occupancy: s.code}}, num(s.occupancy)),
        ` 人（截至 ${when(s.as_of)}${s.status === "late" ? "，迟报" : ""}，${s.reported_by}）`)))
    : [el("li", {class: "empty"}, "本单位在该过程中没有开放的避难场所")]));
  form.hidden = shelters.length === 0;
  const keep = $("shelter").value;
  $("shelter").replaceChildren(...shelters.map(s => el("option", {value: s.code}, `${shelterLabel(s)}（容量 ${num(s.capacity)}）`)));
  if (shelters.some(s => s.code === keep)) $("shelter").value = keep;
  // what is typed stays while the unit's report is sent; afresh for another event or shelter
  const same = form.dataset.event === event.event_id && $("shelter").value === keep;
  form.dataset.event = event.event_id;
  if (same && from === CHANNELS.unit) return;
  $("shelter-as-of").value = nowLocal();
  $("occupancy").value = "";
}

function explainOccupancy(answer) {
  const {status, message} = answer;
  if (status === "accepted") return "已计入该避难场所当前在住人数";
  if (status === "correction") return "已按更正计入";
  if (status === "duplicate") return "此报送此前已收到，未重复计入";
  if (status === "late") {
    const at = (String(message).match(/as of (.+?);/) || [])[1];
    const time = at && !Number.isNaN(Date.parse(at.replace(" ", "T"))) ? when(at.replace(" ", "T")) : "";
    return `已存档；该避难场所已有更晚时间${time ? `（${time}）` : ""}的数据，本次不改变当前在住人数`;
  }
  return message;
}

/** A refused occupancy report in plain Chinese (the field named: common.js's problemText). */
function plainOccupancy(e) {
  const problem = e.problem;
  const raw = problem && typeof problem === "object"
    ? (typeof problem.detail === "string" ? problem.detail : "") : String(e.message || "");
  if (/may not report for/.test(raw)) return "无权报送该避难场所：只能报送本人负责单位的避难场所";
  if (/is not open for .*opens it first/.test(raw)) return "该避难场所未在本次过程开放（或已关闭），请联系值班员";
  return plain(e);
}

$("event").addEventListener("change", () => fillUnits());
$("unit").addEventListener("change", () => showLast());
$("shelter").addEventListener("change", () => { $("occupancy").value = ""; });
for (const id of ["f-centralized", "f-dispersed"]) $(id).addEventListener("input", sum);
$("report-form").addEventListener("submit", event => {
  event.preventDefault();
  const figures = {};
  for (const input of document.querySelectorAll("input[data-figure]")) figures[input.dataset.figure] = Number(input.value || 0);
  const key = uuid();
  const reason = $("reason").value.trim();
  const asOf = $("as-of").value;
  const body = {event_id: $("event").value, report_id: key, unit: $("unit").value,
    as_of: asOf.length === 16 ? asOf + ":00+08:00" : asOf + "+08:00", figures, reported_by: me.person,
    ...(reason ? {reason} : {})};
  submit(CHANNELS.unit, {body, key}).catch(failed);
});
$("retry").addEventListener("click", () => {
  if (CHANNELS.unit.pending) submit(CHANNELS.unit, CHANNELS.unit.pending).catch(failed);
});
$("shelter-form").addEventListener("submit", event => {
  event.preventDefault();
  const key = uuid();
  const asOf = $("shelter-as-of").value;
  const body = {event_id: $("event").value, shelter: $("shelter").value, occupancy: Number($("occupancy").value || 0),
    as_of: asOf.length === 16 ? asOf + ":00+08:00" : asOf + "+08:00", report_id: key, reported_by: me.person};
  submit(CHANNELS.shelter, {body, key}).catch(failed);
});
$("shelter-retry").addEventListener("click", () => {
  if (CHANNELS.shelter.pending) submit(CHANNELS.shelter, CHANNELS.shelter.pending).catch(failed);
});
