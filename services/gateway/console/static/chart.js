// The edge chart: a small inline SVG per symbol with the reported and measured edge over time
// against the freeze threshold. Points come from the overview the console reads after stream
// events; the last MAX_POINTS are kept per symbol for as long as the page is open.
"use strict";

const MAX_POINTS = 120;
const CHART_W = 260;
const CHART_H = 56;
const SVG_NS = "http://www.w3.org/2000/svg";
const edgeHistory = new Map(); // symbol -> [{t, reported, measured}]

function recordEdge(rows, now) {
  for (const row of rows) {
    const points = edgeHistory.get(row.symbol) || [];
    points.push({
      t: now,
      reported: row.reported === null ? null : Number(row.reported),
      measured: row.measured === null ? null : Number(row.measured),
    });
    if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
    edgeHistory.set(row.symbol, points);
  }
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function edgeChart(symbol, threshold) {
  const points = edgeHistory.get(symbol) || [];
  const chart = svg("svg", {
    class: "chart", width: CHART_W, height: CHART_H, viewBox: `0 0 ${CHART_W} ${CHART_H}`,
    "data-symbol": symbol,
  });
  const values = points.flatMap((p) => [p.reported, p.measured]).filter((v) => v !== null);
  if (threshold !== null && !Number.isNaN(threshold)) values.push(threshold);
  if (values.length === 0) return chart;
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (high - low < 1) { high += 0.5; low -= 0.5; }
  const pad = (high - low) * 0.1;
  low -= pad; high += pad;
  const t0 = points.length ? points[0].t : 0;
  const span = Math.max(1, (points.length ? points[points.length - 1].t : 1) - t0);
  const x = (t) => 2 + ((t - t0) / span) * (CHART_W - 4);
  const y = (v) => CHART_H - 2 - ((v - low) / (high - low)) * (CHART_H - 4);
  if (threshold !== null && !Number.isNaN(threshold)) {
    chart.append(svg("line", {
      class: "threshold", x1: 0, x2: CHART_W, y1: y(threshold), y2: y(threshold),
      stroke: "#d9413b", "stroke-dasharray": "4 3",
    }));
  }
  for (const [field, colour] of [["reported", "#4a90d9"], ["measured", "#2fb36b"]]) {
    const line = points.filter((p) => p[field] !== null)
      .map((p) => `${x(p.t).toFixed(1)},${y(p[field]).toFixed(1)}`);
    if (line.length === 1) line.push(line[0].replace(/^[^,]+/, String(CHART_W - 2)));
    if (line.length) {
      chart.append(svg("polyline", {
        class: field, points: line.join(" "), fill: "none", stroke: colour, "stroke-width": 1.5,
      }));
    }
  }
  return chart;
}
