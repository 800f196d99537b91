// Helpers shared by the console's scripts: DOM building and number formatting.
"use strict";

const DASH = "\u2014";

// Build an element: el("td", {class: "num"}, "1.00"). Text is always set as text, never HTML.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A decimal (string or number from the API) with exactly `places` decimals; a dash if none.
// Rounded half-even (as the gateway rounds) on the decimal text itself: no float involved.
function fixed(value, places) {
  if (value === null || value === undefined || value === "") return DASH;
  let text = String(value).trim();
  if (/e/i.test(text)) text = Number(text).toFixed(places);
  const negative = text.startsWith("-");
  if (negative || text.startsWith("+")) text = text.slice(1);
  let [whole, fraction = ""] = text.split(".");
  whole = whole || "0";
  if (fraction.length > places) {
    let digits = (whole + fraction.slice(0, places)).split("").map(Number);
    const dropped = fraction.slice(places);
    const tie = /^50*$/.test(dropped);
    const roundUp = dropped[0] > "5" || (dropped[0] === "5" && (!tie || digits[digits.length - 1] % 2 === 1));
    if (roundUp) {
      let i = digits.length - 1;
      while (i >= 0 && digits[i] === 9) digits[i--] = 0;
      if (i >= 0) digits[i] += 1; else digits = [1, ...digits];
    }
    const joined = digits.join("");
    whole = joined.slice(0, joined.length - places) || "0";
    fraction = joined.slice(joined.length - places);
  }
  fraction = fraction.padEnd(places, "0");
  const body = places > 0 ? `${whole}.${fraction}` : whole;
  const zero = /^[0.]*$/.test(body);
  return (negative && !zero ? "-" : "") + body;
}

// A numeric table cell: right-aligned, green/red by sign when `signed`.
function num(value, places, signed) {
  const text = fixed(value, places);
  let cls = "num";
  if (signed && text !== DASH && Number(value) !== 0) cls += Number(value) > 0 ? " pos" : " neg";
  return el("td", { class: cls }, text);
}

// A ratio as a percentage with 2 decimals ("83.25 %").
function percent(ratio) {
  return ratio === null || ratio === undefined ? DASH : `${fixed(Number(ratio) * 100, 2)} %`;
}

// Unix ms as local time, HH:MM:SS (the date too when not today).
function clock(ms) {
  if (!ms) return DASH;
  const date = new Date(Number(ms));
  const time = date.toLocaleTimeString([], { hour12: false });
  return date.toDateString() === new Date().toDateString()
    ? time : `${date.toISOString().slice(0, 10)} ${time}`;
}

// Replace a table body's rows (or an element's children).
function fill(target, rows) {
  const node = typeof target === "string" ? document.querySelector(target) : target;
  node.replaceChildren(...rows);
}
