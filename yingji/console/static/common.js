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
  /** ``problem``: the API's answer as it came (either shape), for a page that explains more. */
  constructor(status, message, problem = null) { super(message); this.status = status; this.problem = problem; }
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

/** What a field is called on the pages, by its name in the API (the last part of its path). */
export const FIELD_LABELS = {
  pre_evacuated: "紧急避险转移", relocated: "紧急转移安置", centralized: "集中安置", dispersed: "分散安置",
  returned: "已返回", shelters_open: "开放避难场所", sheltered_now: "避难场所在住", affected: "受灾人口",
  need_aid: "需紧急生活救助人口", dead: "死亡人口", missing: "失踪人口", houses_collapsed: "倒塌房屋",
  houses_severe: "严重损坏房屋", houses_general: "一般损坏房屋", houses_general_households: "一般损坏房屋（户）",
  crops_affected_ha: "农作物受灾面积", crops_damaged_ha: "成灾面积", crops_failed_ha: "绝收面积",
  direct_loss: "直接经济损失", loss_by_sector: "分行业损失", indicators: "灾情指标", towns: "分街镇",
  figures: "报送数字", event_id: "灾害过程", report_id: "报告编号", unit: "报送单位", as_of: "数据截至",
  reported_by: "报送人", reason: "说明", corrects: "更正的报告", shelter: "避难场所", shelters: "避难场所",
  occupancy: "在住人数", instruction: "指令", town: "街镇", text: "内容", due_minutes: "反馈时限",
  by: "经办人", note: "备注", at: "时间", level: "响应等级", warning: "预警", year: "年份", number: "台风编号",
  code: "编号", name: "名称", district: "区", hazard: "灾种", opened_by: "启动人", kind: "报告类别",
  narrative: "灾情描述", explanation: "变化说明", photos: "照片数", occurred_at: "发生时间",
  officer: "信息员", phone: "电话", reviewer: "审核人", decision: "审核意见", stable_on: "稳定日期",
  submitted_at: "报送时间", title: "标题", warning_id: "叫应编号", person: "人员", units: "范围",
  linked_plans: "关联预案", typhoon_event_id: "关联台风", new_date: "新日期", action: "整改措施", actions: "整改措施",
  findings: "发现问题", plan_code: "关联预案", trigger_id: "修订事由", corrected: "更正", due_on: "期限",
  done_on: "完成日期", participants: "参演单位", organiser: "组织单位", scheduled_on: "日期", drafter: "起草人",
  issued_by: "发布人", document_number: "文号", filed_with: "备案机关", approver: "审批机关", evaluator: "评估方",
  "Idempotency-Key": "请求号", "If-Match": "视图版本",
};

/** A field's path (``body.figures.centralized``, ``/towns/0/indicators/dead``, a list) in
 *  Chinese: 「集中安置」, or 「第1个街镇·死亡人口」. */
export function fieldName(path) {
  const parts = (Array.isArray(path) ? path : String(path ?? "").split(/[./]+/))
    .map(p => String(p).trim()).filter(p => p && p !== "body" && p !== "query" && p !== "header" && p !== "path");
  if (!parts.length) return "";
  const named = parts.filter(p => !/^\d+$/.test(p));
  const last = named[named.length - 1];
  let text = FIELD_LABELS[last] || (/^[\x00-\x7f]+$/.test(last || "") ? "" : last);
  const row = parts.findIndex((p, i) => /^\d+$/.test(p) && i > 0);
  if (row > 0 && parts[row - 1] === "towns") text = `第${Number(parts[row]) + 1}个街镇` + (text && text !== "灾情指标" ? "·" + text : "");
  return text ? `「${text}」` : "";
}

const number = n => Number(n).toLocaleString("zh-CN");

/** A validation message (pydantic's English, or a domain refusal) in Chinese. */
const REASONS = [
  [/^Field required$/i, () => "必填"],
  [/^Input should be greater than or equal to (-?[\d.]+)/i, m => `不能小于 ${number(m[1])}`],
  [/^Input should be less than or equal to (-?[\d.]+)/i, m => `不能大于 ${number(m[1])}`],
  [/^Input should be greater than (-?[\d.]+)/i, m => `须大于 ${number(m[1])}`],
  [/^Input should be less than (-?[\d.]+)/i, m => `须小于 ${number(m[1])}`],
  [/^Input should be a valid integer/i, () => "须为整数"],
  [/^Input should be a valid number/i, () => "须为数字"],
  [/^Input should be a valid (datetime|date)|^Input should have timezone info/i, () => "时间格式不正确"],
  [/^Input should be a valid boolean/i, () => "须为是或否"],
  [/^Input should be a valid (list|array)/i, () => "须为列表"],
  [/^Input should be a valid (string|dictionary|object)/i, () => "格式不正确"],
  [/^Input should be /i, () => "不是可选的值"],
  [/^String should match pattern/i, () => "格式不正确"],
  [/^String should have at least 1 character/i, () => "不能为空"],
  [/^String should have at least (\d+) characters?/i, m => `至少 ${m[1]} 个字`],
  [/^String should have at most (\d+) characters?/i, m => `不能超过 ${m[1]} 个字`],
  [/^List should have at least 1 item/i, () => "至少填一项"],
  [/^List should have at most (\d+) items?/i, m => `最多 ${m[1]} 项`],
  [/^Dictionary should have at most (\d+) items?/i, m => `最多 ${m[1]} 项`],
  [/^Extra inputs are not permitted/i, () => "不接受此项"],
  [/^JSON decode error|^Invalid JSON|is not valid JSON|the body is not valid JSON/i, () => "内容不是有效的数据格式"],
  // the API's own plain wording of a field that does not fit (problem+json ``errors[].reason``)
  [/^is required$/i, () => "必填"],
  [/^is not a field of this request/i, () => "不接受此项"],
  [/^must be a whole number/i, () => "须为整数"],
  [/^must be a (finite )?number/i, () => "须为数字"],
  [/^must be true or false/i, () => "须为是或否"],
  [/^must be text/i, () => "须为文字"],
  [/^must be a date and time|^needs its time zone/i, () => "时间格式不正确（须为日期和时间）"],
  [/^must be a date\b/i, () => "日期格式不正确"],
  [/^must be a list/i, () => "须为列表"], [/^must be an object/i, () => "格式不正确"],
  [/^must not be empty/i, () => "不能为空"],
  [/^at most (\d+) characters/i, m => `不能超过 ${m[1]} 个字`],
  [/^at least (\d+) characters/i, m => `至少 ${m[1]} 个字`],
  [/^at most (\d+) items/i, m => `最多 ${m[1]} 项`], [/^at least (\d+) items/i, m => `至少 ${m[1]} 项`],
  [/^must be at least (-?[\d.]+)/i, m => `不能小于 ${number(m[1])}`],
  [/^must be more than (-?[\d.]+)/i, m => `须大于 ${number(m[1])}`],
  [/^must be at most (-?[\d.]+)/i, m => `不能大于 ${number(m[1])}`],
  [/^must be less than (-?[\d.]+)/i, m => `须小于 ${number(m[1])}`],
  [/^must be a phone number/i, () => "须为电话号码（6 至 20 位数字）"],
  [/^must be an e-mail address/i, () => "须为电子邮箱地址"],
  [/^must be a typhoon as YEAR:NUMBER/i, () => "须为“年份:台风编号”，如 2024:13"],
  [/^may not contain blanks/i, () => "不能含空格、冒号或斜杠"],
  [/^may contain only letters/i, () => "只能含字母、数字、“-”和“_”"],
  [/^must match the pattern/i, () => "格式不正确"],
  [/^Temporal cannot answer now|^an internal error/i, () => "服务暂不可用，请稍后再试"],
  [/(\d+) is below the unit's latest (\d+)/, m => `${m[1]} 小于上次报送的 ${m[2]}：累计数只增不减，如确需调小请写明原因`],
  [/is closed; reports are no longer accepted|is closed( \(|$)/, () => "该事项已结束，不再办理"],
  // a step the stage does not allow (plans, drills), or a view the workflow has moved on from
  [/^(plan|drill) (\S+) is in stage '([^']*)' \(([^)]*)\); '([^']*)' is not allowed\. Allowed actions: (.*)$/, m => {
    const enumName = m[1] === "plan" ? "PlanAction" : "DrillAction";
    const allowed = m[6] === "none" ? "无" : m[6].split(/,\s*/).map(a => labelOr(enumName, a, a)).join("、");
    return `${m[1] === "plan" ? "预案" : "演练"} ${m[2]} 当前处于「${m[4] || label(m[1] === "plan" ? "PlanStage" : "DrillStage", m[3])}」阶段，` +
      `不能办理「${labelOr(enumName, m[5], m[5])}」（当前可办理：${allowed}）`;
  }],
  [/it is now in stage '([^']*)' \(([^)]*)\), not '([^']*)'/, m => `该事项已进入「${m[2] || m[1]}」阶段，不再是页面所示的阶段`],
  [/it has changed since event \d+ \(now \d+(?:, stage '[^']*' \(([^)]*)\))?\)/, m => m[1] ? `已有新的办理记录，当前阶段：${m[1]}` : "该事项已有更新"],
  // closing a typhoon or event: the response and the warning must be over first
  [/^the response is still (.+?); end it/, m => `响应仍为${m[1]}，请先终止响应（将响应等级调整为「${labelOr("ResponseLevel", "none", "未启动")}」）再结束`],
  [/^still (\w+) \(([^)]*)\); lift the warning/, m => `仍为${m[2] || label("WarningColour", m[1])}，请先解除预警（调整响应等级时将预警设为「${labelOr("WarningColour", "lifted", "预警解除")}」）再结束`],
  [/^already (.+?) with (.+?); nothing to change/, m => `已是${m[1]}、${m[2]}，无需调整`],
  [/^no plan (.+?)(?: is registered|\s*\(|;|$)/, m => `没有编号为 ${m[1].split(/,\s*/).join("、")} 的预案，请先新建该预案，或不填此项`],
  [/^no typhoon (\S+) has been opened/, m => `尚未启动台风过程 ${m[1]}，请先启动，或不填此项`],
  [/^no typhoon or event (\S+)/, m => `没有台风或事件 ${m[1]}`],
  [/^(?:warning )?(\S+): 叫应 is over$|叫应 is over$/, () => "叫应已结束，不再办理"],
  [/no typhoon .* is open|not found, or no longer open/, () => "没有进行中的该事项"],
  [/^warning (\S+) was issued before/, m => `叫应编号 ${m[1]} 已使用过（编号不能重复使用）`],
  [/^(\S+) (\S+) is already open for (\S+); nothing was changed/, m => `${m[1]} ${m[2]} 已在${m[3]}启动，未作更改`],
  [/^request id \S+ was already used for another request/, () => "请求号已用于另一项请求，请刷新页面后重新提交"],
  [/no request \S+ in its current run/, () => "请求未找到，请以同一请求号重新发送（不会重复办理）"],
  // steps in time
  [/earlier than the previous step \(([^)]*)\)/, m => `早于上一步的时间（${m[1]}）`],
  [/is after the step's own day \(([^,)]*)/, m => `晚于办理当天（${m[1]}）`],
  [/is in the past \(today is ([^)]*)\)/, m => `早于今天（${m[1]}）`],
  [/is before the step's own day \(([^)]*)\)/, m => `早于办理当天（${m[1]}）`],
  [/is before the disaster occurred/, () => "早于灾害发生时间"],
  [/is before its as_of time/, () => "早于数据截至时间"],
  [/^a correction cannot be older than the report it corrects/, () => "更正不能早于被更正的报告"],
  [/^(\S+) is before (\S+)$/, m => `早于 ${m[2]}`],
  [/is more than (\d+) days ago/, m => `早于 ${m[1]} 天前（历史过程请以导入方式录入）`],
  // plans, drills
  [/has received (\d+) revision causes/, m => `本预案已收到 ${m[1]} 条修订事由（已达上限），新预案请另立编号`],
  [/already holds (\d+) causes not yet dealt with/, m => `已有 ${m[1]} 条修订事由待处理（已达上限），请先完成当前修订`],
  [/was postponed (\d+) times/, m => `本演练已延期 ${m[1]} 次（已达上限），请取消后重新计划`],
  [/^the drill is already on (\S+)/, m => `演练已定在 ${m[1]}`],
  [/^no corrective action (\d+) \(there are (\d+)\)/, m => `没有第 ${m[1]} 项整改措施（共 ${m[2]} 项）`],
  [/^corrective action (\d+) is already done/, m => `第 ${m[1]} 项整改措施已完成`],
  [/^'(.+?)' is not a plan this drill exercises/, m => `「${m[1]}」不是本演练关联的预案`],
  // disaster processes
  [/^no report (\S+) in this disaster process/, m => `本灾情过程没有报告 ${m[1]}`],
  [/^(\S+) was already reviewed \(([^)]*)\)/, m => `报告 ${m[1]} 已审核（${m[2]}）`],
  [/already has (\d+) reports, the most/, m => `本灾情过程已有 ${m[1]} 份报告（已达上限），请确认灾情稳定并报送核报`],
  [/^already declared stable on (\S+)/, m => `已于 ${m[1]} 确认灾情稳定`],
  [/^no 初报 yet/, () => "尚未报送初报，不能确认灾情稳定"],
  [/declared stable on (\S+); send the 核报/, m => `灾情已于 ${m[1]} 稳定，请报送核报`],
  [/the 核报 is in and waiting for review/, () => "核报已报送，正在等待审核"],
  [/^give the corrected 紧急转移安置/, () => "请填写更正后的紧急转移安置"],
  [/^(\w+) changed from (-?[\d.]+) to (-?[\d.]+) \(([+-]?\d+%)\) against report (\S+); a change over (\d+%) needs an explanation/,
    m => `${fieldName(m[1]) || m[1]}由 ${number(m[2])} 变为 ${number(m[3])}（${m[4]}，对比报告 ${m[5]}），变化超过 ${m[6]} 须填写变化说明`],
  [/^only a historical process takes a submission time/, () => "只有历史过程可填写报送时间"],
  [/^required for a historical process/, () => "历史过程必填"],
  // 叫应, shelters
  [/^'(.+?)' was not called for this warning/, m => `「${m[1]}」不在本次叫应的被叫人中`],
  [/^(.+?)'s call was already answered by (.+)$/, m => `${m[1]} 的叫应已由 ${m[2]} 应答`],
  [/^(\S+) is not called by this batch/, m => `${m[1]} 不在本批叫应的被叫人中`],
  [/^nobody to call in (\S+)/, m => `${m[1]}在该层级没有可叫应的责任人，请先导入责任人名单`],
  [/^not in (\S+?): (.+)$/, m => `不属于${m[1]}：${m[2].split(/,\s*/).join("、")}`],
  [/^no active officer to call in (\S+)/, m => `${m[1]}没有在岗的信息员可叫应`],
  [/^([\d,]+) call chains, more than the ([\d,]+)/, m => `叫应链 ${m[1]} 条，超过单次叫应上限 ${m[2]} 条，请分片区分别发布`],
  [/^at most (\d+) open at once \((\d+) asked\)/, m => `同时开放不能超过 ${m[1]} 个（本次 ${m[2]} 个）`],
  [/^this event has no reporting rounds/, () => "本次过程没有报送轮次（历史过程或启动时尚无此功能）"],
  [/^(.+?) \(reporter\) may not report for (.+)$/, m => `无权为「${m[2]}」报送（只能报送本人负责的单位）`],
  [/may not report|^role .* may not/, () => "无权办理"],
  [/reports through its (\d+) 村居/, m => `该街镇由其 ${m[1]} 个村居分别报送`],
  [/is not a reporting unit/, () => "不是本次过程的报送单位"],
  [/already used for a different report/, () => "已用于另一份报送"],
  [/in the future|later than now/, () => "不能晚于当前时间"],
  [/is not open for .*opens it first/, () => "该避难场所未在本次过程开放，请值班员先开放"],
  [/already open: (.+)$/, m => `已开放：${m[1]}`],
  [/not open for this event: (.+)$/, m => `未在本次过程开放：${m[1]}`],
  [/not a registered shelter|names no shelter/, () => "不是已登记的避难场所"],
  [/names several shelters|several shelters/, () => "对应多个避难场所，请填写编号"],
  [/^no (I\d+) \(instructions: (.+)\)$/, m => `没有指令 ${m[1]}（现有指令：${m[2] === "none yet" ? "无" : m[2]}）`],
  [/^(.+?) is not a 街镇 that (I\d+) went to$/, m => `「${m[1]}」不在指令 ${m[2]} 的下达范围内`],
  [/^(.+?) already answered (I\d+) at (\S+)/, m => `「${m[1]}」已反馈过指令 ${m[2]}（${when(m[3])}）`],
  [/already has (\d+) instructions/, m => `本次过程的指令已达上限（${m[1]} 条）`],
  [/has no reporting rounds/, () => "本次过程没有报送轮次（历史过程或启动时尚无此功能）"],
  [/a typhoon needs its national number/, () => "台风须填写国家编号"],
  [/needs a code/, () => "须填写事件编号（字母开头，如 RS0721）"],
  [/only a typhoon has a number/, () => "只有台风有编号"],
  [/no units registered for (.+?);/, m => `${m[1]}尚未登记街镇、村居，请先导入`],
  [/(\S+) already exists$/, () => "该编号已被使用"],
  [/初报 must be broken down by 街镇/, () => "初报须按街镇分列"],
  [/required \(no typhoon tally is linked/, () => "须填写（本灾情过程未关联台风统计，请填写集中安置和分散安置）"],
  [/give both with relocated/, () => "填写紧急转移安置时须同时填写集中安置和分散安置"],
  [/集中 (\d+) \+ 分散 (\d+) (= \d+ )?≠ 转移安置 (\d+)/, m => `集中 ${m[1]} + 分散 ${m[2]} 不等于紧急转移安置 ${m[4]}`],
  [/紧急避险转移 (\d+) \+ 紧急转移安置 (\d+) exceed 受灾人口 (\d+)/, m => `紧急避险转移 ${m[1]} 与紧急转移安置 ${m[2]} 之和超过受灾人口 ${m[3]}`],
  [/^(\d+) exceeds 受灾人口 (\d+)/, m => `${m[1]} 超过受灾人口 ${m[2]}`],
  [/the 初报 is in/, () => "初报已报送，请报送续报"],
  [/send the 初报 \(initial\) first/, () => "请先报送初报"],
  [/a 核报 \(final\) comes after/, () => "核报须在灾情稳定后报送"],
  [/a correction must say why|must say why/, () => "须写明原因"],
  [/已返回 (\d+) > 紧急转移安置 (\d+)/, m => `已返回 ${m[1]} 超过紧急转移安置 ${m[2]}`],
  [/在住 (\d+) > /, m => `在住 ${m[1]} 超过集中安置人数（减已返回）`],
  [/people in shelters but no shelter open/, () => "有人在避难场所，但开放避难场所为 0"],
  [/the view has moved on|expected seq|has moved on/, () => "该事项已有更新"],
  // problem+json titles (HTTP reason phrases), when nothing more is said
  [/^Bad Request$/i, () => "请求有误"], [/^Unauthorized$/i, () => "未登录或令牌无效"], [/^Forbidden$/i, () => "无权办理"],
  [/^Not Found$/i, () => "未找到"], [/^Conflict$/i, () => "与当前状态冲突"], [/^Precondition Failed$/i, () => "该事项已有更新"],
  [/^Content Too Large$|^Payload Too Large$/i, () => "内容过大"], [/^Unprocessable (Content|Entity)$|^Validation (failed|error)$/i, () => "填写的内容有误"],
  [/^Too Many Requests$/i, () => "请求过于频繁，请稍后再试"], [/^Internal Server Error$/i, () => "服务内部错误"],
  [/^Service Unavailable$/i, () => "服务暂不可用"],
  [/^must be /i, () => "不是可选的值"],
  [/no answer within .* worker running/, () => "后台暂未应答"],
];

export function reasonText(message) {
  let m = String(message ?? "").trim().replace(/^(Value error|Assertion failed), /i, "").replace(/^(invalid|Temporal refused it): /, "");
  for (const [pattern, text] of REASONS) {
    const found = m.match(pattern);
    if (found) return text(found);
  }
  // Not translated yet: said so, with the server's own words kept for whoever follows it up.
  if (/[A-Za-z]{2,}[\s,;']+[A-Za-z]{2,}/.test(m)) return `暂无中文说明（原因：${m}）`;
  return m;
}

/** One refusal reason: ``field: message`` (a domain refusal names its field first) in Chinese. */
function oneReason(path, message) {
  let msg = String(message ?? "").replace(/^(Value error|Assertion failed), /i, "").replace(/^(invalid|Temporal refused it): /, "");
  const named = msg.match(/^([a-z_][a-z_0-9.\[\]]*(?:, [a-z_][a-z_0-9.\[\]]*)*): (.+)$/s);
  const paths = named ? named[1].split(", ").map(p => p.replace(/\[(\d+)\]/g, ".$1")) : [];
  if (named) msg = named[2];
  const fields = (paths.length ? paths : [path]).map(p => fieldName(p)).filter(Boolean);
  const where = fields.length ? fields.join("、") : fieldName(path);
  const text = reasonText(msg);
  return where ? `${where}${text.startsWith("「") ? "：" : ""}${text}` : text;
}

/**
 * An API refusal as one line of Chinese, from either shape the API answers:
 * ``application/problem+json`` (``title``, ``detail``, ``status``; ``errors: [{path, reason}]``
 * for a validation failure) or FastAPI's ``{"detail": "…"}`` / ``{"detail": [{loc, msg}]}``.
 * Field errors come first (with the field's name), then the ``detail`` text, then the ``title``.
 */
export function problemText(body) {
  if (body === null || body === undefined) return "";
  if (typeof body !== "object") return reasonText(body);
  if (Array.isArray(body)) return detailText(body);
  if (Array.isArray(body.errors) && body.errors.length) {
    return body.errors.map(e => typeof e === "object" && e
      ? oneReason(e.path ?? e.loc ?? e.pointer ?? e.field, e.reason ?? e.msg ?? e.message ?? e.detail)
      : reasonText(e)).join("；");
  }
  if (body.detail !== undefined && body.detail !== null && body.detail !== "") return detailText(body.detail);
  if (body.title) return reasonText(body.title);
  return "";
}

/** A FastAPI ``detail`` (a text, or a list of field errors) as one line of Chinese. */
export function detailText(detail) {
  if (Array.isArray(detail)) {
    return detail.map(e => (e && typeof e === "object")
      ? oneReason(e.loc ?? e.path, e.msg ?? e.reason ?? "")
      : oneReason("", e)).join("；");
  }
  if (detail && typeof detail === "object") return problemText(detail);
  return oneReason("", detail ?? "");
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
  if (r.status === 401) throw new Unauthorized(refusal(data && (typeof data.detail === "string" ? data.detail : data.title)));
  return {r, data};
}

/** GET a JSON answer; ``tagged`` also gives the view's ETag. */
export async function get(path, {tagged = false, bearer} = {}) {
  const {r, data} = await request(path, {bearer: bearer ?? token()});
  if (r.status === 403) throw new Refused(403, "无权查看：" + problemText(data), data);
  if (r.status === 404) throw new Refused(404, "未找到：" + problemText(data), data);
  if (r.status >= 500) throw new Retryable(`服务暂不可用（${r.status}）：` + problemText(data));
  if (!r.ok) throw new Refused(r.status, problemText(data) || String(r.status), data);
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
        throw new Refused(p.r.status, problemText(p.data) || String(p.r.status), p.data);
      }
      if (resend) continue;
      throw new Retryable("仍在办理中，请稍后点击“重试”查看结果（不会重复办理）");
    }
    if (r.ok) return {status: r.status, data, etag: r.headers.get("ETag")};
    const text = problemText(data);
    if (r.status === 412) throw new Refused(412, "该事项已有更新，页面已刷新，请核对后重新提交（" + text + "）", data);
    if (r.status === 403) throw new Refused(403, "无权办理：" + text, data);
    if (r.status >= 500 || r.status === 408 || r.status === 429) throw new Retryable(`服务暂不可用（${r.status}）：${text}`);
    throw new Refused(r.status, text || String(r.status), data);
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

const CLOCK = new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hour12: false});
/** A moment's time of day in Beijing time (now when none is given): 08:05:01. */
export function clock(at = new Date()) { return CLOCK.format(at instanceof Date ? at : new Date(at)).replace(/^24:/, "00:"); }

/** A view's ETag as people read it: "3" (or W/"3") → 3. */
export function version(etag) { return String(etag ?? "").replace(/^W\//, "").replace(/^"(.*)"$/, "$1"); }

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
/** The label of ``value`` in ``name``, or ``fallback`` when the labels are not loaded (the
 *  reporter's page does not load them). */
export function labelOr(name, value, fallback) { return (labels[name] || {})[value] ?? fallback; }
export function options(name) { return Object.entries(labels[name] || {}); }

// -- forms --

/**
 * A form from fields: [name, label, type, extra]. Types: text, textarea, number, date,
 * datetime (Beijing time), select (extra.options: [[value, label]]), multi (several of
 * extra.options: a list), check, lines (one item a line), rows (a table of inputs, a row per item:
 * see rowsInput), hidden. ``submit(values)`` returns {path, body, etag?}; the form sends it once (a fresh
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
    if (type === "rows") {
      input = rowsInput(name, extra);
      inputs[name] = {input, type};
      return el("fieldset", {class: "rows", dataset: {field: name}}, el("legend", {}, text), input.table, input.add);
    }
    if (type === "textarea" || type === "lines") input = el("textarea", {...common, rows: extra.rows || 2});
    else if (type === "multi") {
      const choices = extra.options || [];
      input = el("select", {...common, multiple: true, size: Math.min(Math.max(choices.length, 2), 6)},
        choices.map(([v, t]) => el("option", {value: v}, t)));
    } else if (type === "select") {
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
      if (type === "rows") { out[name] = input.values(); continue; }
      if (type === "multi") { out[name] = [...input.selectedOptions].map(o => o.value); continue; }
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

/** A table of inputs, a row per item (e.g. a 街镇 and its figures), with 添加一行: its
 *  ``values()`` are the rows with anything filled in, numbers as numbers. ``extra.columns``:
 *  [[name, label, type ("text", "number" or "select"), {options, placeholder}]]. */
function rowsInput(name, {columns = [], count = 1} = {}) {
  const body = el("tbody");
  const cell = ([col, text, type = "text", extra = {}]) => {
    const attrs = {name: `${name}.${col}`, "aria-label": text, placeholder: extra.placeholder};
    const input = type === "select"
      ? el("select", attrs, el("option", {value: ""}, extra.empty || "（选择）"), (extra.options || []).map(([v, t]) => el("option", {value: v}, t)))
      : el("input", {...attrs, type, min: type === "number" ? 0 : undefined, step: extra.step});
    input.dataset.col = col;
    input.dataset.type = type;
    return el("td", {}, input);
  };
  const addRow = () => body.append(el("tr", {}, columns.map(cell)));
  for (let i = 0; i < count; i++) addRow();
  const table = el("table", {class: "rows"}, el("thead", {}, el("tr", {}, columns.map(([, text]) => el("th", {}, text)))), body);
  const add = el("button", {type: "button", class: "small add-row", onclick: addRow}, "添加一行");
  const values = () => [...body.rows].map(tr => {
    const row = {};
    for (const input of tr.querySelectorAll("[data-col]")) {
      const v = input.value.trim();
      if (v === "") continue;
      row[input.dataset.col] = input.dataset.type === "number" ? Number(v) : v;
    }
    return row;
  }).filter(row => Object.keys(row).length);
  return {table, add, values, addRow, body, value: ""};
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
