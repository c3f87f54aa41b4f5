// What the duty room's page and the reporter's page share: the login (the token in this tab's
// sessionStorage only, never localStorage, never a URL), calls to the API with the token as a
// bearer header, mutations that apply once (Idempotency-Key: a fresh UUID per submission, the
// same one on a retry), conditionally (If-Match: the ETag of the view shown) and without hanging
// (a 202 is polled), small DOM helpers and the Chinese labels of every enum.
export const KEY = "yingji-token";
export const INVALID = "令牌无效或已过期，请重新登录";
localStorage.removeItem(KEY);  // where an earlier version of the page kept it

export class Unauthorized extends Error {}
/** A definitive refusal (4xx): resending the same request would get the same answer. */
export class Refused extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
/** No answer, or the server could not answer now: the same request may be sent again. */
export class Retryable extends Error {}

export const ROLE_LABELS = {viewer: "查看", reporter: "信息员", duty_officer: "值班员",
  approver: "审批人", admin: "管理员"};
export const ROLES = ["viewer", "reporter", "duty_officer", "approver", "admin"];
export function atLeast(me, role) { return !!me && ROLES.indexOf(me.role) >= ROLES.indexOf(role); }

/** Why a token is refused, in Chinese, from the API's 401 answer. */
function refusal(detail) {
  const d = String(detail || "");
  if (d.startsWith("invalid token")) return "令牌格式不正确（至少 32 个字符），请检查后重新登录";
  if (d.includes("revoked")) return "令牌已被吊销，请重新登录";
  return INVALID;
}

/** A FastAPI ``detail`` (a text, or a list of field errors) as one line. */
export function detailText(detail) {
  if (Array.isArray(detail)) {
    return detail.map(e => {
      const loc = (e.loc || []).filter(p => p !== "body").join(".");
      return (loc ? loc + "：" : "") + (e.msg || JSON.stringify(e));
    }).join("；");
  }
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return String(detail ?? "");
}

export function token() { return sessionStorage.getItem(KEY); }

async function answerOf(r) {
  let body = null;
  try { body = await r.json(); } catch { body = null; }
  return body;
}

async function request(path, {method = "GET", body, headers = {}, bearer = token()} = {}) {
  if (!bearer) throw new Unauthorized(INVALID);
  let r;
  try {
    r = await fetch(path, {
      method, cache: "no-store", referrerPolicy: "no-referrer",
      headers: {Authorization: "Bearer " + bearer, ...(body !== undefined ? {"Content-Type": "application/json"} : {}), ...headers},
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new Retryable("无法连接服务器（" + e.message + "）");
  }
  const data = await answerOf(r);
  if (r.status === 401) throw new Unauthorized(refusal(data && data.detail));
  return {r, data};
}

/** GET a JSON answer; ``tagged`` also gives the view's ETag. */
export async function get(path, {tagged = false, bearer} = {}) {
  const {r, data} = await request(path, {bearer: bearer ?? token()});
  if (r.status === 403) throw new Refused(403, "无权查看：" + detailText(data && data.detail));
  if (r.status === 404) throw new Refused(404, "未找到：" + detailText(data && data.detail));
  if (r.status >= 500) throw new Retryable(`服务暂不可用（${r.status}）：` + detailText(data && data.detail));
  if (!r.ok) throw new Refused(r.status, detailText(data && data.detail) || String(r.status));
  return tagged ? {data, etag: r.headers.get("ETag")} : data;
}

/** A random UUID (v4), also outside a secure context (crypto.randomUUID needs one). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map(x => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const sleep = ms => new Promise(done => setTimeout(done, ms));

/**
 * POST ``body`` once: with ``key`` as its Idempotency-Key and ``etag`` (if any) as If-Match. A 202
 * is polled until the answer is there (a request Temporal no longer knows is sent again with
 * the same key: it does not apply twice). Resolves to {status, data, etag}; throws Refused for
 * a 4xx (412: the view has moved on), Retryable when it may be sent again as it is.
 */
export async function send(path, body, {key, etag} = {}) {
  const headers = {"Idempotency-Key": key};
  if (etag) headers["If-Match"] = etag;
  for (let round = 0; round < 5; round++) {
    const {r, data} = await request(path, {method: "POST", body, headers});
    if (r.status === 202) {
      const poll = (data && data.poll) || r.headers.get("Location");
      const deadline = Date.now() + 60_000;
      let resend = false;
      while (Date.now() < deadline) {
        await sleep(1000);
        const p = await request(poll);
        if (p.r.status === 202) continue;
        if (p.r.status === 404) { resend = true; break; }
        if (p.r.ok) return {status: 200, data: p.data, etag: p.r.headers.get("ETag")};
        throw new Refused(p.r.status, detailText(p.data && p.data.detail));
      }
      if (resend) continue;
      throw new Retryable("仍在办理中，请稍后点击“重试”查看结果（不会重复办理）");
    }
    if (r.ok) return {status: r.status, data, etag: r.headers.get("ETag")};
    const text = detailText(data && data.detail);
    if (r.status === 412) throw new Refused(412, "该事项已有更新，页面已刷新，请核对后重新提交（" + text + "）");
    if (r.status === 403) throw new Refused(403, "无权办理：" + text);
    if (r.status >= 500 || r.status === 408 || r.status === 429) throw new Retryable(`服务暂不可用（${r.status}）：${text}`);
    throw new Refused(r.status, text || String(r.status));
  }
  throw new Retryable("多次发送仍未办结，请稍后点击“重试”");
}

// -- DOM --

/** An element: ``el("td", {class: "n"}, "12")``; children may be nodes, text or arrays. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function table(headers, rows, {empty = "无"} = {}) {
  if (!rows.length) return el("p", {class: "empty"}, empty);
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map(h => el("th", {}, h)))),
    el("tbody", {}, rows.map(cells => el("tr", {}, cells.map(c => c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c))))));
}

export const num = v => (v ?? 0).toLocaleString("zh-CN");
export function td(text, cls) { return el("td", {class: cls}, text); }

const TIME = new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
  day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false});
/** A time as Beijing time: 2024/09/16 06:00. */
export function when(iso) { return iso ? TIME.format(new Date(iso)) : "—"; }

/** Now, as a datetime-local value in Beijing time. */
export function nowLocal() {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {timeZone: "Asia/Shanghai", year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false})
    .formatToParts(new Date()).map(x => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour === "24" ? "00" : p.hour}:${p.minute}`;
}
export function today() { return nowLocal().slice(0, 10); }

// -- labels --

let labels = {};
export async function loadLabels() { labels = await get("/api/room/labels"); return labels; }
/** The Chinese label of ``value`` in the enum ``name`` (the value itself when unknown). */
export function label(name, value) { return (labels[name] || {})[value] ?? (value ?? "—"); }
export function options(name) { return Object.entries(labels[name] || {}); }

// -- forms --

/**
 * A form from fields: [name, label, type, extra]. Types: text, textarea, number, date,
 * datetime (Beijing time), select (extra.options: [[value, label]]), check, lines (one item a
 * line), hidden. ``submit(values)`` returns {path, body, etag?}; the form sends it once (a fresh
 * Idempotency-Key each submission, reused by 重试 after a failure that may be retried) and
 * calls ``done(answer)``.
 */
export function actionForm(title, fields, {submitLabel = "提交", submit, done, note, disabled} = {}) {
  const outcome = el("p", {class: "outcome", role: "status"});
  const retry = el("button", {type: "button", class: "retry", hidden: true}, "重试");
  const inputs = {};
  const rows = fields.map(([name, text, type = "text", extra = {}]) => {
    let input;
    const common = {name, id: undefined, required: extra.required, placeholder: extra.placeholder};
    if (type === "textarea" || type === "lines") input = el("textarea", {...common, rows: extra.rows || 2});
    else if (type === "select") {
      input = el("select", common, (extra.empty ? [el("option", {value: ""}, extra.empty)] : []),
        (extra.options || []).map(([v, t]) => el("option", {value: v}, t)));
    } else if (type === "check") input = el("input", {...common, type: "checkbox"});
    else if (type === "datetime") input = el("input", {...common, type: "datetime-local"});
    else input = el("input", {...common, type, min: extra.min, max: extra.max, step: extra.step});
    if (extra.value !== undefined) {
      if (type === "check") input.checked = !!extra.value; else input.value = extra.value;
    }
    inputs[name] = {input, type};
    if (type === "hidden") return input;
    return el("label", {class: type === "check" ? "check" : ""}, el("span", {}, text), input);
  });
  const button = el("button", {type: "submit"}, submitLabel);
  const form = el("form", {class: "action", dataset: {action: title}}, el("h4", {}, title), note ? el("p", {class: "note"}, note) : null,
    rows, el("div", {class: "buttons"}, button, retry), outcome);
  if (disabled) { button.disabled = true; outcome.textContent = disabled; }

  const values = () => {
    const out = {};
    for (const [name, {input, type}] of Object.entries(inputs)) {
      if (type === "check") { out[name] = input.checked; continue; }
      const v = input.value.trim();
      if (v === "") continue;
      if (type === "number") out[name] = Number(v);
      else if (type === "datetime") out[name] = v.length === 16 ? v + ":00+08:00" : v + "+08:00";
      else if (type === "lines") out[name] = v.split(/\n+/).map(s => s.trim()).filter(Boolean);
      else out[name] = v;
    }
    return out;
  };
  let pending = null;  // {path, body, etag, key}: the submission a retry sends again
  const go = async attempt => {
    button.disabled = retry.disabled = true;
    retry.hidden = true;
    outcome.className = "outcome";
    outcome.textContent = "提交中…";
    try {
      const answer = await send(attempt.path, attempt.body, {key: attempt.key, etag: attempt.etag});
      pending = null;
      outcome.className = "outcome ok";
      outcome.textContent = "已办理";
      if (done) await done(answer, form);
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      if (e instanceof Retryable) {
        pending = attempt;
        retry.hidden = false;
        outcome.className = "outcome error";
        outcome.textContent = e.message + "（点击“重试”将以同一请求号再次发送，不会重复办理）";
      } else {
        pending = null;
        outcome.className = "outcome error";
        outcome.textContent = "未办理：" + e.message;
        if (e.status === 412 && done) await done(null, form);
      }
    } finally {
      button.disabled = !!disabled;
      retry.disabled = false;
    }
  };
  form.addEventListener("submit", event => {
    event.preventDefault();
    let attempt;
    try { attempt = submit(values(), inputs); } catch (e) {
      outcome.className = "outcome error"; outcome.textContent = e.message; return;
    }
    go({...attempt, key: uuid()}).catch(onFailure);
  });
  retry.addEventListener("click", () => { if (pending) go(pending).catch(onFailure); });
  form.values = values;
  form.inputs = inputs;
  return form;
}

let onFailure = e => { throw e; };
/** Where a failure no form handles goes (a 401: back to the login). */
export function setFailureHandler(handler) { onFailure = handler; }

// -- the login --

/**
 * Wire the login form (#login, #token-input, #login-error) and the 退出登录 button (#logout):
 * ``start(me)`` runs once the token is known good; ``stop()`` when the page goes back to the
 * login. Returns ``showLogin(message)``.
 */
export function wireLogin({start, stop}) {
  const show = (message) => {
    stop();
    sessionStorage.removeItem(KEY);
    document.getElementById("login-error").textContent = message || "";
    document.getElementById("login").hidden = false;
    document.getElementById("token-input").focus();
  };
  const begin = async () => {
    let me;
    try { me = await get("/api/me"); } catch (e) {
      show(e instanceof Unauthorized ? e.message : "无法连接，请稍后再试（" + e.message + "）");
      return;
    }
    document.getElementById("login").hidden = true;
    document.getElementById("login-error").textContent = "";
    await start(me);
  };
  document.getElementById("login").addEventListener("submit", async event => {
    event.preventDefault();
    const input = document.getElementById("token-input");
    const given = input.value.trim();
    input.value = "";
    try {
      await get("/api/me", {bearer: given});  // checked before it is kept
    } catch (e) {
      show(e instanceof Unauthorized ? e.message : "无法连接，请稍后再试（" + e.message + "）");
      return;
    }
    sessionStorage.setItem(KEY, given);
    await begin();
  });
  document.getElementById("logout").addEventListener("click", () => show("已退出登录"));
  setFailureHandler(e => {
    if (e instanceof Unauthorized) show(e.message);
    else console.warn(e);
  });
  if (token()) begin(); else show();
  return show;
}
