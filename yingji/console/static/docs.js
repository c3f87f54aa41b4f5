// /docs: load the schema with the token from sessionStorage (shared with the duty room's page),
// asking for it first when there is none; Swagger UI then sends it with every call it makes.
const KEY = "yingji-token";
const INVALID = "令牌无效或已过期，请重新登录";

function showLogin(message) {
  sessionStorage.removeItem(KEY);
  document.getElementById("swagger-ui").replaceChildren();
  document.getElementById("who").hidden = true;
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("login").hidden = false;
  document.getElementById("token-input").focus();
}

async function load(token) {
  const r = await fetch("/openapi.json", {headers: {Authorization: "Bearer " + token}, cache: "no-store"});
  if (r.status === 401) { showLogin(INVALID); return; }
  if (!r.ok) { showLogin("无法加载接口说明（" + r.status + "）"); return; }
  const spec = await r.json();
  // Swagger UI 4.15 (swagger-ui-bundle 1.x) renders OpenAPI 3.0 only and FastAPI writes 3.1: the
  // page shows it as 3.0 (a field that may be null shows as anyOf …, null). /openapi.json itself
  // stays 3.1 for every other client.
  if (/^3\.1\./.test(spec.openapi || "")) spec.openapi = "3.0.3";
  sessionStorage.setItem(KEY, token);
  document.getElementById("login").hidden = true;
  document.getElementById("who").hidden = false;
  SwaggerUIBundle({
    spec,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,  // no call to validator.swagger.io
    requestInterceptor: request => {
      const current = sessionStorage.getItem(KEY);
      if (current && !request.headers.Authorization) request.headers.Authorization = "Bearer " + current;
      return request;
    },
  });
}

document.getElementById("login").addEventListener("submit", event => {
  event.preventDefault();
  const input = document.getElementById("token-input");
  const token = input.value.trim();
  input.value = "";
  load(token).catch(e => showLogin("无法连接（" + e.message + "）"));
});
document.getElementById("logout").addEventListener("click", () => showLogin("已退出登录"));

const saved = sessionStorage.getItem(KEY);
if (saved) load(saved).catch(e => showLogin("无法连接（" + e.message + "）")); else showLogin();
