// The console's panels: each render function draws one panel from one API answer.
// Decimals per column: qty 6, prices 2, money 4, bps 2, percentages 2 (the same on every row).
"use strict";

const PLACES = { qty: 6, price: 2, money: 4, bps: 2 };

function renderTrading(trading, cooldownS) {
  const state = document.getElementById("trading-state");
  state.textContent = trading.state;
  state.className = `state ${trading.state}`;
  document.getElementById("state-reason").textContent = trading.reason || DASH;
  document.getElementById("state-epoch").textContent = trading.epoch;
  document.getElementById("state-actor").textContent = trading.actor || DASH;
  document.getElementById("state-since").textContent = clock(trading.since);
  renderCooldown(trading, cooldownS);
}

// "cooldown left" while FROZEN within the cooldown; redrawn each second until it runs out
// (a display timer only: nothing is fetched).
let cooldownTimer = null;
function renderCooldown(trading, cooldownS) {
  clearTimeout(cooldownTimer);
  const box = document.getElementById("cooldown");
  const leftMs = trading.state === "FROZEN" && cooldownS !== null && trading.since
    ? trading.since + cooldownS * 1000 - Date.now() : 0;
  box.hidden = leftMs <= 0;
  document.getElementById("cooldown-left").textContent = `${Math.ceil(leftMs / 1000)} s`;
  if (leftMs > 0) cooldownTimer = setTimeout(() => renderCooldown(trading, cooldownS), 1000);
}

// One "Cancel all SYMBOL" button per symbol with a position or an open order.
function renderCancelButtons(symbols, onCancelAll) {
  fill("#cancel-per-symbol", symbols.map((symbol) => el("button", {
    type: "button", class: "danger cancel-symbol", "data-symbol": symbol,
    onclick: () => onCancelAll([symbol]),
  }, `Cancel all ${symbol}`)));
}

function renderPositions(answer) {
  document.getElementById("net-pnl").textContent = fixed(answer.netPnl, PLACES.money);
  fill("#positions tbody", answer.positions.map((p) => el("tr", { "data-symbol": p.symbol },
    el("td", {}, p.symbol),
    el("td", {}, p.venue),
    num(p.qty, PLACES.qty, true),
    num(p.avgEntryPrice, PLACES.price),
    num(p.mark, PLACES.price),
    num(p.realizedPnl, PLACES.money, true),
    num(p.unrealizedPnl, PLACES.money, true),
    num(p.feesPaid, PLACES.money),
    num(p.fundingPaid, PLACES.money),
    num(p.netPnl, PLACES.money, true),
  )));
}

function renderOrders(answer, canCancel, onCancel) {
  document.getElementById("order-count").textContent = `${answer.orders.length} open`;
  fill("#orders tbody", answer.orders.map((o) => el("tr", { "data-id": o.clientOrderId },
    el("td", {}, o.clientOrderId),
    el("td", {}, o.symbol),
    el("td", {}, o.venue),
    el("td", { class: o.side === "Buy" ? "pos" : "neg" }, o.side),
    el("td", {}, o.orderType),
    num(o.qty, PLACES.qty),
    num(o.price, PLACES.price),
    num(o.filledQty, PLACES.qty),
    el("td", {}, o.status),
    canCancel ? el("td", {}, el("button", {
      type: "button", class: "cancel-order", onclick: () => onCancel(o.clientOrderId),
    }, "Cancel")) : null,
  )));
}

// A horizontal bar of a used fraction (a 4-place ratio string): amber from 80 %, red at 100 %.
function usageBar(ratioText, title) {
  const ratio = Number(ratioText);
  const level = ratio >= 1 ? "red" : ratio >= 0.8 ? "amber" : "ok";
  return el("div", { class: `bar ${level}`, title },
    el("span", { style: `width: ${Math.min(100, ratio * 100).toFixed(2)}%` }));
}

function renderUtilisation(risk) {
  document.getElementById("pnl-today").textContent = fixed(risk.pnlToday, PLACES.money);
  fill("#utilisation", risk.utilisation.map((u) => el("div",
    { class: "bar-row", "data-limit": u.limit, "data-symbol": u.symbol },
    el("span", {}, `${u.limit} ${u.symbol}`),
    usageBar(u.ratio, `limit ${u.limitValue}`),
    el("span", { class: "num" }, percent(u.ratio)))));
}

// The scaling rule is shown as JSON, never edited here: it is set with PUT /v1/risk/limits.
function renderLimits(limits, editable) {
  fill("#limits tbody", Object.entries(limits).map(([name, value]) => el("tr", {},
    el("th", {}, name),
    name === "scaling"
      ? el("td", { class: "details" }, value === null ? "none" : JSON.stringify(value))
      : el("td", { class: "num" }, editable
        ? el("input", { name, value: String(value), "data-live": String(value), inputmode: "decimal" })
        : String(value)),
  )));
}

function renderEdge(rows, threshold) {
  document.getElementById("edge-threshold").textContent = fixed(threshold, PLACES.bps);
  fill("#edge tbody", rows.map((r) => el("tr", { "data-symbol": r.symbol },
    el("td", {}, r.symbol),
    num(r.reported, PLACES.bps, true),
    num(r.measured, PLACES.bps, true),
    el("td", { class: "num" }, r.measuredFills === null ? DASH : r.measuredFills),
    num(threshold, PLACES.bps),
    el("td", {}, edgeChart(r.symbol, threshold === null ? null : Number(threshold))),
  )));
}

// Venue circuits come with /v1/risk (`venueCircuits`), the rest with the overview.
function renderHealth(circuits, overview) {
  fill("#circuits tbody", circuits.map((c) => el("tr", {},
    el("td", {}, c.instance),
    el("td", { class: c.state === "closed" ? "pos" : "neg" }, c.state),
    el("td", { class: "num" }, c.failures),
    el("td", { class: "details" }, c.reason || DASH),
    el("td", {}, clock(c.updatedTime)),
  )));
  fill("#rate-limits tbody", overview.rateLimits.map((r) => el("tr", {},
    el("td", {}, r.bucket),
    el("td", { class: "num" }, r.usedLastSecond),
    el("td", { class: r.blockedUntil ? "neg" : "" }, r.blockedUntil ? clock(r.blockedUntil) : DASH),
  )));
  renderHeadroom(overview.rateLimitHeadroom);
  renderDrift(overview.reconciliation);
  fill("#streams tbody", overview.streams.flatMap((s) => {
    const groups = s.groups.length ? s.groups : [null];
    return groups.map((g) => el("tr", { "data-stream": s.stream },
      el("td", {}, s.stream),
      el("td", { class: "num" }, s.length),
      el("td", {}, g ? g.group : DASH),
      el("td", { class: "num" }, g && g.lag !== null ? g.lag : DASH),
      el("td", { class: "num" }, g ? g.pending : DASH),
      el("td", { class: s.deadLetters ? "num neg" : "num" }, s.deadLetters),
    ));
  }));
}

// The venue's own count per endpoint: the bar is the used part of its window, the text what
// is left; "no data" when no router has heard from the venue within the last minute.
function renderHeadroom(rows) {
  if (rows.length === 0) {
    fill("#headroom", [el("div", { class: "nodata" }, "no data")]);
    return;
  }
  fill("#headroom", rows.map((h) => el("div",
    { class: "bar-row", "data-endpoint": h.endpoint, "data-group": h.group },
    el("span", {}, `${h.group} ${h.endpoint}`),
    h.stale
      ? el("span", { class: "nodata", title: `last answer ${clock(h.updatedTime)}` }, "no data")
      : usageBar(h.used, `resets ${clock(h.resetTime)}, answered ${clock(h.updatedTime)}`),
    el("span", { class: "num" }, h.stale ? DASH : `${h.remaining}/${h.limit} left`))));
}

// Per symbol: positions (ours vs the venue's qty) and the router's order reconciliation;
// a non-zero drift is red and marks its row.
function renderDrift(rows) {
  const count = (n) => el("td", { class: n ? "num neg" : "num" }, n === null ? DASH : n);
  fill("#drift tbody", rows.map((d) => {
    const drifting = Number(d.qtyDrift || 0) !== 0 || d.openOrdersDrift > 0 || d.executionsDrift > 0;
    return el("tr", { "data-symbol": d.symbol, class: drifting ? "drift" : null },
      el("td", {}, d.symbol),
      num(d.engineQty, PLACES.qty),
      num(d.venueQty, PLACES.qty),
      el("td", { class: Number(d.qtyDrift || 0) !== 0 ? "num neg" : "num" }, fixed(d.qtyDrift, PLACES.qty)),
      el("td", {}, clock(d.positionsCheckedTime)),
      count(d.openOrdersDrift),
      count(d.executionsDrift),
      el("td", {}, clock(d.ordersCheckedTime)));
  }));
}

function clip(text, length = 120) {
  return text.length > length ? `${text.slice(0, length)}\u2026` : text;
}

function renderHistory(risk, overview) {
  fill("#freeze-history tbody", risk.freezeHistory.map((h) => el("tr", {},
    el("td", {}, clock(h.time)),
    el("td", {}, h.state),
    el("td", {}, h.previous),
    el("td", { class: "num" }, h.epoch),
    el("td", {}, h.account || "desk"),
    el("td", {}, h.actor),
    el("td", { class: "details" }, h.reason),
  )));
  fill("#audit tbody", overview.audit.map((a) => el("tr", {},
    el("td", {}, clock(a.time)),
    el("td", {}, a.type),
    el("td", {}, a.actor || DASH),
    el("td", { class: "details" }, a.reason || DASH),
    el("td", { class: "details", title: a.details }, a.details === "{}" ? DASH : clip(a.details)),
  )));
}
