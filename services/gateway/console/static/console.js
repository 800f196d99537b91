// The console: API-key login, the live stream, REST snapshots and the operator's actions.
//
// The key is kept in sessionStorage and sent as X-API-Key (REST) and ?apiKey= (WebSocket).
// No polling: the page reads the REST snapshot when the stream (re)connects and again after
// stream events (coalesced, at most one read in flight); while the stream is down a banner
// says so and the page reconnects by itself with a growing delay.
"use strict";

const KEY_STORAGE = "mmx.console.apiKey";
const RANK = { viewer: 0, trader: 1, operator: 2 };
const REFRESH_DELAY_MS = 250;
const RECONNECT_MS = [500, 1000, 2000, 4000, 5000];

const app = {
  key: null, me: null, socket: null, attempts: 0, reconnectTimer: null,
  refreshTimer: null, refreshing: false, refreshAgain: false,
  limits: null, trading: null, cooldownS: null, account: "default",
};

// A path about the selected account's orders, positions or risk.
function ofAccount(path) {
  return `${path}${path.includes("?") ? "&" : "?"}account=${encodeURIComponent(app.account)}`;
}

function can(role) {
  return app.me !== null && RANK[app.me.role] >= RANK[role];
}

class ApiError extends Error {
  constructor(status, body) {
    const details = (body && body.details || [])
      .map((d) => (typeof d === "object" ? [d.field, d.message].filter(Boolean).join(": ") : d));
    const text = body && body.error ? body.error : `HTTP ${status}`;
    super(details.length ? `${text} (${details.join("; ")})` : text);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { "X-API-Key": app.key };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (response.status === 401) signOut("the gateway refused the key: sign in again");
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

// -- Login ---------------------------------------------------------------------------------

async function signIn(key) {
  app.key = key;
  try {
    app.me = await api("GET", "/v1/console/me");
  } catch (error) {
    app.key = null;
    document.getElementById("login-error").textContent = `Sign-in refused: ${error.message}`;
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  document.getElementById("who-actor").textContent = app.me.actor;
  document.getElementById("who-role").textContent = app.me.role;
  const picker = document.getElementById("account");
  picker.replaceChildren(...app.me.accounts.map((account) => new Option(account, account)));
  app.account = app.me.accounts.includes("default") ? "default" : app.me.accounts[0];
  picker.value = app.account;
  picker.onchange = () => { app.account = picker.value; refresh(); };
  for (const node of document.querySelectorAll("[data-role]")) node.hidden = !can(node.dataset.role);
  document.getElementById("login").hidden = true;
  document.getElementById("console").hidden = false;
  connect();
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  app.key = null;
  app.me = null;
  clearTimeout(app.reconnectTimer);
  if (app.socket) { app.socket.onclose = null; app.socket.close(); app.socket = null; }
  document.getElementById("banner").hidden = true;
  document.getElementById("console").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

// -- The stream ----------------------------------------------------------------------------

function setConnected(connected) {
  document.getElementById("banner").hidden = connected;
  document.getElementById("stream-status").textContent = connected ? "live" : "disconnected";
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/v1/stream?apiKey=${encodeURIComponent(app.key)}`;
  const socket = new WebSocket(url);
  let opened = false;
  app.socket = socket;
  socket.onopen = () => {
    opened = true;
    app.attempts = 0;
    setConnected(true);
    refresh();
  };
  socket.onmessage = (event) => onFrame(JSON.parse(event.data));
  socket.onclose = () => {
    if (app.socket !== socket) return;
    setConnected(false);
    // Refused at the handshake? A REST call says why (a 401 signs out); down: it just fails.
    if (!opened) api("GET", "/v1/console/me").catch(() => {});
    const delay = RECONNECT_MS[Math.min(app.attempts++, RECONNECT_MS.length - 1)];
    app.reconnectTimer = setTimeout(connect, delay);
  };
}

function onFrame(frame) {
  if (frame.type === "TradingState") {
    app.trading = frame.data;
    renderTrading(frame.data, app.cooldownS);
    return;
  }
  if (frame.type === "TradingStateChanged" && !frame.data.account) {  // the desk's state
    app.trading = { ...(app.trading || {}), ...frame.data, since: Date.now() };
    renderTrading(app.trading, app.cooldownS);
  }  // an account's own state: the refresh below shows it
  scheduleRefresh();
}

function scheduleRefresh() {
  if (app.refreshTimer === null) app.refreshTimer = setTimeout(refresh, REFRESH_DELAY_MS);
}

// -- Snapshots -----------------------------------------------------------------------------

async function refresh() {
  clearTimeout(app.refreshTimer);
  app.refreshTimer = null;
  if (app.refreshing) { app.refreshAgain = true; return; }
  app.refreshing = true;
  try {
    const [risk, positions, orders, overview] = await Promise.all([
      api("GET", ofAccount("/v1/risk")), api("GET", ofAccount("/v1/positions")),
      api("GET", ofAccount("/v1/orders")), api("GET", "/v1/console/overview"),
    ]);
    document.getElementById("account-name").textContent = risk.account;
    document.getElementById("account-state").textContent = risk.accountTrading.state;
    app.limits = risk.limits;
    app.trading = risk.trading;
    app.cooldownS = Number(overview.unfreezeCooldownS);
    renderTrading(risk.trading, app.cooldownS);
    renderPositions(positions);
    renderCancelButtons(symbolsOf(positions, orders), cancelAll);
    renderOrders(orders, can("trader"), cancelOrder);
    renderUtilisation(risk);
    if (!limitsBeingEdited()) renderLimits(risk.limits, can("operator"));
    recordEdge(overview.edge, Date.now());
    renderEdge(overview.edge, risk.limits.edgeFreezeThresholdBps);
    renderHealth(risk.venueCircuits, overview);
    renderHistory(risk, overview);
    document.getElementById("updated").textContent = clock(Date.now());
  } catch (error) {
    if (app.key) say("action-message", `could not read the gateway: ${error.message}`, false);
  } finally {
    app.refreshing = false;
    if (app.refreshAgain) { app.refreshAgain = false; scheduleRefresh(); }
  }
}

function limitsBeingEdited() {
  return [...document.querySelectorAll("#limits input")]
    .some((input) => input.value !== input.dataset.live || input === document.activeElement);
}

// -- Actions -------------------------------------------------------------------------------

function say(id, text, ok) {
  const node = document.getElementById(id);
  node.textContent = text;
  node.className = `message ${ok ? "ok" : "error"}`;
}

async function act(id, what, call) {
  try {
    const answer = await call();
    say(id, what(answer), true);
  } catch (error) {
    say(id, `Refused (${error.status || "network"}): ${error.message}`, false);
  }
  refresh();
}

function freeze(event) {
  event.preventDefault();
  const reason = document.getElementById("freeze-reason").value.trim();
  act("action-message", (a) => `Frozen (epoch ${a.epoch})`,
    () => api("POST", "/v1/risk/freeze", { reason }));
}

function unfreeze(event) {
  event.preventDefault();
  const reason = document.getElementById("unfreeze-reason").value.trim();
  const force = document.getElementById("unfreeze-force").checked;
  act("action-message", (a) => `Unfrozen${force ? " (forced)" : ""} (epoch ${a.epoch})`,
    () => api("POST", "/v1/risk/unfreeze", { reason, force }));
}

function cancelOrder(clientOrderId) {
  act("action-message", () => `Cancel sent for ${clientOrderId}`,
    () => api("DELETE", ofAccount(`/v1/orders/${encodeURIComponent(clientOrderId)}`)));
}

function symbolsOf(positions, orders) {
  return [...new Set([...positions.positions, ...orders.orders].map((x) => x.symbol))].sort();
}

async function cancelAll(symbols) {
  let targets = symbols;
  if (!targets) {
    const [positions, orders] = await Promise.all(
      [api("GET", ofAccount("/v1/positions")), api("GET", ofAccount("/v1/orders"))]);
    targets = symbolsOf(positions, orders);
    if (!window.confirm(`Cancel every open order of ${targets.join(", ") || "no symbol"}?`)) return;
  }
  act("action-message", (answers) => `Cancel-all sent: ${answers.map((a) => `${a.symbol} (${a.openOrders} open)`).join(", ") || "no symbol"}`,
    () => Promise.all(targets.map((symbol) => api(
      "DELETE", ofAccount(`/v1/orders?symbol=${encodeURIComponent(symbol)}&reason=${encodeURIComponent("console cancel-all")}`)))));
}

function saveLimits(event) {
  event.preventDefault();
  const changes = {};
  for (const input of document.querySelectorAll("#limits input")) {
    if (input.value.trim() !== input.dataset.live) changes[input.name] = input.value.trim();
  }
  act("limits-message", () => `Limits saved: ${Object.keys(changes).join(", ") || "nothing changed"}`,
    async () => {
      const answer = await api("PUT", "/v1/risk/limits", changes);
      renderLimits(answer, can("operator"));
      return answer;
    });
}

// -- Start ---------------------------------------------------------------------------------

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn(document.getElementById("api-key").value.trim());
});
document.getElementById("logout-link").addEventListener("click", (event) => {
  event.preventDefault();
  signOut("");
});
document.getElementById("freeze-form").addEventListener("submit", freeze);
document.getElementById("unfreeze-form").addEventListener("submit", unfreeze);
document.getElementById("cancel-all-button").addEventListener("click", () => cancelAll(null));
document.getElementById("limits-form").addEventListener("submit", saveLimits);

const saved = sessionStorage.getItem(KEY_STORAGE);
if (saved) signIn(saved);
