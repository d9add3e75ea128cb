// helm-eval HTML report. Every piece of run data is put on the page with textContent (never innerHTML):
// model output and suite text stay text.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("data").textContent);
  const CASES = DATA.cases;
  const BASE = DATA.baseline;
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  const int = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));
  const money = (n) => (n === null || n === undefined ? "–" : "$" + n.toFixed(n < 1 ? 4 : 2));
  const pct = (n) => (n === null || n === undefined ? "–" : (100 * n).toFixed(1) + "%");
  const signed = (n, f) => (n > 0 ? "+" : n < 0 ? "−" : "±") + f(Math.abs(n));
  function median(list) {
    if (!list || !list.length) return null;
    const s = list.slice().sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }
  const latency = (c) => median(c.lat);
  const ms = (n) => (n === null ? "–" : n >= 1000 ? (n / 1000).toFixed(2) + " s" : Math.round(n) + " ms");

  // -- header ----------------------------------------------------------------------------------------------
  function header() {
    document.title = DATA.title;
    document.getElementById("title").textContent = DATA.title;
    const labels = ["repo", "pr", "branch", "sha", "workflow", "job"]
      .filter((k) => DATA.labels[k]).map((k) => k + " " + DATA.labels[k]);
    if (DATA.finished) labels.push(DATA.finished);
    document.getElementById("labels").textContent = labels.join(" · ");
    const t = DATA.totals;
    const items = [
      ["pass rate", pct(t.pass_rate)],
      ["passed", int(t.passed)],
      ["failed", int(t.failed)],
      ["errors", int(t.error)],
      ["skipped", int(t.skipped)],
      ["tokens", int(t.tokens)],
      ["cost", money(t.cost)],
    ];
    const budget = DATA.budget;
    if (budget) {
      for (const cap of budget.caps) {
        if (cap.used === null || !cap.limit) continue;
        const amount = cap.unit === "usd" ? money : int;
        items.push(["budget " + cap.scope.replace("_", " ") + " (" + cap.unit + ")",
          amount(cap.used) + " of " + amount(cap.limit) + " (" + pct(cap.used / cap.limit) + ")"]);
      }
      if (budget.cut) items.push(["cut by budget", int(budget.cut)]);
    }
    const dl = document.getElementById("figures");
    for (const [name, value] of items) dl.appendChild(el("div", {}, [el("dt", { text: name }), el("dd", { text: value })]));
    if (BASE) {
      const parts = ["vs " + BASE.label + ":"];
      if (BASE.pass_rate !== null && t.pass_rate !== null) {
        parts.push("pass rate " + signed((t.pass_rate - BASE.pass_rate) * 100, (n) => n.toFixed(1) + " pts"));
      }
      if (BASE.tokens !== null) parts.push("tokens " + signed(t.tokens - BASE.tokens, int));
      if (BASE.cost !== null && t.cost !== null) parts.push("cost " + signed(t.cost - BASE.cost, money));
      const changes = Object.entries(BASE.changes).map(([k, v]) => v + " " + k);
      if (changes.length) parts.push("· " + changes.join(", "));
      const delta = document.getElementById("delta");
      delta.textContent = parts.join(" ");
      delta.hidden = false;
    }
  }

  // -- charts (inline SVG) ---------------------------------------------------------------------------------
  function group(key) {
    const out = new Map();
    for (const c of CASES) {
      const name = c[key] || "(none)";
      const g = out.get(name) || { tokens: 0, cost: 0, priced: false };
      g.tokens += c.tokens || 0;
      if (c.cost !== null && c.cost !== undefined) { g.cost += c.cost; g.priced = true; }
      out.set(name, g);
    }
    return out;
  }
  function barChart(caption, rows, format, cls) {
    const width = 380, rowH = 20, labelW = 150, valueW = 70;
    const top = rows.slice(0, 12);
    const max = Math.max(1e-12, ...top.map((r) => r[1]));
    const box = svg("svg", { viewBox: "0 0 " + width + " " + (top.length * rowH + 4), role: "img", "aria-label": caption });
    top.forEach(([name, value], i) => {
      const y = i * rowH + 2;
      const label = name.length > 24 ? "…" + name.slice(-23) : name;
      const t = svg("text", { x: 0, y: y + 14 }, label);
      t.appendChild(svg("title", {}, name));
      box.appendChild(t);
      const w = Math.max(1, ((width - labelW - valueW) * value) / max);
      box.appendChild(svg("rect", { x: labelW, y: y + 3, width: w, height: rowH - 6, class: cls }));
      box.appendChild(svg("text", { x: labelW + w + 4, y: y + 14 }, format(value)));
    });
    return el("figure", {}, [el("figcaption", { text: caption }), box]);
  }
  function histogram() {
    const values = CASES.flatMap((c) => c.lat || []);
    if (!values.length) return null;
    const lo = Math.min(...values), hi = Math.max(...values);
    const bins = 20, step = Math.max(1, (hi - lo) / bins);
    const counts = new Array(bins).fill(0);
    for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / step))]++;
    const width = 360, height = 140, base = height - 18;
    const max = Math.max(...counts);
    const box = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-label": "Latency histogram of " + values.length + " calls" });
    const bw = width / bins;
    counts.forEach((n, i) => {
      const h = max ? ((base - 12) * n) / max : 0;
      const r = svg("rect", { x: i * bw + 1, y: base - h, width: bw - 2, height: h, class: "bar" });
      r.appendChild(svg("title", {}, ms(lo + i * step) + "–" + ms(lo + (i + 1) * step) + ": " + n + " calls"));
      box.appendChild(r);
    });
    box.appendChild(svg("text", { x: 0, y: height - 4 }, ms(lo)));
    box.appendChild(svg("text", { x: width, y: height - 4, "text-anchor": "end" }, ms(hi)));
    box.appendChild(svg("text", { x: width / 2, y: height - 4, "text-anchor": "middle" }, "p50 " + ms(median(values))));
    return el("figure", {}, [el("figcaption", { text: "Latency per call" }), box]);
  }
  function charts() {
    const root = document.getElementById("charts");
    for (const [key, title] of [["suite", "suite"], ["model", "model"]]) {
      const groups = [...group(key).entries()];
      const byTokens = groups.map(([n, g]) => [n, g.tokens]).sort((a, b) => b[1] - a[1]);
      if (byTokens.some((r) => r[1] > 0)) root.appendChild(barChart("Tokens by " + title, byTokens, int, "bar"));
      const byCost = groups.filter(([, g]) => g.priced).map(([n, g]) => [n, g.cost]).sort((a, b) => b[1] - a[1]);
      if (byCost.length) root.appendChild(barChart("Cost by " + title, byCost, money, "bar2"));
    }
    const h = histogram();
    if (h) root.appendChild(h);
  }

  // -- table and filters -----------------------------------------------------------------------------------
  const COLUMNS = [
    ["suite", "suite", (c) => c.suite, "wide"],
    ["id", "case", (c) => c.id.includes("::") ? c.id.slice(c.id.indexOf("::") + 2) : c.id, "id"],
    ["model", "model", (c) => c.model, "wide"],
    ["status", "status", (c) => c.status, ""],
    ["change", "change vs base", (c) => c.change || "", ""],
    ["tokens", "tokens", (c) => c.tokens, "num"],
    ["cost", "cost", (c) => c.cost, "num wide"],
    ["latency", "latency p50", latency, "num wide"],
  ].filter((col) => col[0] !== "change" || BASE);
  const FORMAT = { tokens: int, cost: money, latency: ms };
  const state = { sort: null, desc: false, rows: [] };
  const filters = {
    status: document.getElementById("f-status"), suite: document.getElementById("f-suite"),
    tag: document.getElementById("f-tag"), model: document.getElementById("f-model"),
    change: document.getElementById("f-change"), text: document.getElementById("f-text"),
  };

  function options(select, values) {
    for (const v of [...new Set(values)].filter((x) => x !== "" && x !== undefined).sort()) {
      select.appendChild(el("option", { value: v, text: v }));
    }
  }
  function setupFilters() {
    options(filters.status, CASES.map((c) => c.status));
    options(filters.suite, CASES.map((c) => c.suite));
    options(filters.tag, CASES.flatMap((c) => c.tags || []));
    options(filters.model, CASES.map((c) => c.model));
    if (BASE) {
      options(filters.change, CASES.map((c) => c.change || ""));
      document.getElementById("f-change-label").hidden = false;
    }
    // "change" too: some ways of picking an option fire no "input"; refilter() ignores events that change nothing
    for (const f of Object.values(filters)) { f.addEventListener("input", refilter); f.addEventListener("change", refilter); }
  }
  let lastFilter = null;
  function refilter() {
    const key = JSON.stringify(Object.values(filters).map((f) => f.value));
    if (key === lastFilter) return;  // a re-render would replace the row under a click in progress
    lastFilter = key;
    render();
  }
  function haystack(c) {
    if (c._hay === undefined) {
      c._hay = [c.id, c.suite, c.model, c.output, c.error, c.skip, (c.tags || []).join(" "),
        (c.verdicts || []).map((v) => v[0] + " " + v[2]).join(" "),
        (c.messages || []).map((m) => m.content).join(" ")].join("\n").toLowerCase();
    }
    return c._hay;
  }
  function visible() {
    const f = {
      status: filters.status.value, suite: filters.suite.value, tag: filters.tag.value,
      model: filters.model.value, change: filters.change.value, text: filters.text.value.trim().toLowerCase(),
    };
    return CASES.filter((c) =>
      (!f.status || c.status === f.status) && (!f.suite || c.suite === f.suite) &&
      (!f.tag || (c.tags || []).includes(f.tag)) && (!f.model || c.model === f.model) &&
      (!f.change || (c.change || "") === f.change) && (!f.text || haystack(c).includes(f.text)));
  }
  function tableHead() {
    const row = document.querySelector("#table thead tr");
    for (const [key, title, , cls] of COLUMNS) {
      const button = el("button", { type: "button", text: title, onclick: () => sortBy(key) });
      row.appendChild(el("th", { class: cls.replace("id", ""), scope: "col", "data-key": key }, [button]));
    }
  }
  function sortBy(key) {
    state.desc = state.sort === key ? !state.desc : ["tokens", "cost", "latency"].includes(key);
    state.sort = key;
    for (const th of document.querySelectorAll("#table th")) {
      th.setAttribute("aria-sort", th.dataset.key === key ? (state.desc ? "descending" : "ascending") : "none");
    }
    render();
  }
  function render() {
    let rows = visible();
    if (state.sort) {
      const get = COLUMNS.find((c) => c[0] === state.sort)[2];
      rows = rows.slice().sort((a, b) => {
        const x = get(a), y = get(b);
        const cmp = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
        return state.desc ? -cmp : cmp;
      });
    }
    state.rows = rows;
    const body = document.querySelector("#table tbody");
    const fragment = document.createDocumentFragment();
    for (const c of rows) {
      const tr = el("tr", { tabindex: 0, "data-index": c._index, "aria-label": "open case " + c.id,
        onclick: () => openCase(c._index), onkeydown: rowKey });
      for (const [key, , get, cls] of COLUMNS) {
        const value = get(c);
        const text = FORMAT[key] ? FORMAT[key](value === undefined ? null : value) : value;
        let klass = cls;
        if (key === "status") klass += " st st-" + c.status;
        if (key === "change" && value) klass += " ch-" + value;
        tr.appendChild(el("td", { class: klass.trim(), text: text }));
      }
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
    document.getElementById("shown").textContent = rows.length + " of " + CASES.length;
  }
  function rowKey(event) {
    const tr = event.currentTarget;
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); openCase(Number(tr.dataset.index)); }
    else if (event.key === "ArrowDown" && tr.nextElementSibling) { event.preventDefault(); tr.nextElementSibling.focus(); }
    else if (event.key === "ArrowUp" && tr.previousElementSibling) { event.preventDefault(); tr.previousElementSibling.focus(); }
  }

  // -- case view -------------------------------------------------------------------------------------------
  function words(text) { return text.match(/\s+|[^\s]+/g) || []; }
  function diff(before, after) {
    // word-level longest common subsequence; outputs are short excerpts, so O(n·m) is fine (capped anyway)
    const a = words(before).slice(0, 600), b = words(after).slice(0, 600);
    const n = a.length, m = b.length;
    const dp = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
      dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    }
    const pre = el("pre", { class: "diff", "aria-label": "diff of the base output and this output" });
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { pre.appendChild(document.createTextNode(a[i])); i++; j++; }
      else if (i < n && (j >= m || dp[i + 1][j] >= dp[i][j + 1])) { pre.appendChild(el("del", { text: a[i] })); i++; }
      else { pre.appendChild(el("ins", { text: b[j] })); j++; }
    }
    return pre;
  }
  function section(title, nodes) {
    return [el("h3", { text: title }), ...nodes];
  }
  function openCase(index, keepHash) {
    const c = CASES[index];
    if (!c) return;
    const view = document.getElementById("case");
    const parts = [];
    const close = el("button", { type: "button", text: "Close (Esc)", onclick: closeCase });
    parts.push(el("header", {}, [el("h2", { text: c.id }), close]));
    const facts = [c.status.toUpperCase(), c.file + (c.line ? ":" + c.line : ""), c.model, c.endpoint,
      int(c.tokens) + " tokens (" + int(c.prompt) + " prompt, " + int(c.completion) + " completion" +
        (c.judge ? ", " + int(c.judge) + " judge" : "") + ")",
      money(c.cost), "latency p50 " + ms(latency(c)), c.retries ? c.retries + " retries" : null,
      c.cache_hits ? c.cache_hits + " cached" : null, c.owner ? "owner " + c.owner : null,
      c.tags ? "tags " + c.tags.join(", ") : null, c.change ? "vs base: " + c.change : null].filter(Boolean);
    parts.push(el("p", { class: "muted", text: facts.join(" · ") }));
    if (c.repeats > 1 || c.max_repeats) {
      const level = pct(c.confidence === undefined ? 0.95 : c.confidence);
      const ci = c.ci ? " (" + level + " interval " + pct(c.ci[0]) + "–" + pct(c.ci[1]) + ")" : "";
      const stop = c.max_repeats > c.repeats ? "; stopped after " + c.repeats + " of " + c.max_repeats + " runs" : "";
      parts.push(...section("Repeats", [el("p", { text: c.passes + " of " + c.repeats + " runs passed: pass rate " +
        pct(c.passes / c.repeats) + ci + "; needs " + pct(c.threshold === undefined ? 1 : c.threshold) + stop }),
      el("p", { class: "muted", text: "Output and verdicts below are from the first failing run, else the first." })]));
    }
    if (c.error) parts.push(...section("Error", [el("pre", { text: c.error })]));
    if (c.skip) parts.push(...section("Skipped", [el("pre", { text: c.skip })]));
    if (c.messages) {
      const nodes = [];
      for (const m of c.messages) nodes.push(el("div", { class: "role", text: m.role }), el("pre", { text: m.content }));
      parts.push(...section("Prompt", nodes));
    }
    const output = el("pre", { class: "output", text: c.output || "" });
    if (c.base_output !== undefined) {
      parts.push(...section("Output", [el("div", { class: "pair" }, [
        el("div", {}, [el("div", { class: "role", text: BASE.label + (c.base_status ? " (" + c.base_status + ")" : "") }),
          el("pre", { class: "base-output", text: c.base_output })]),
        el("div", {}, [el("div", { class: "role", text: "this run (" + c.status + ")" }), output]),
      ])]));
      parts.push(...section("Diff (" + BASE.label + " → this run)", [diff(c.base_output, c.output || "")]));
    } else if (c.output !== undefined) {
      parts.push(...section("Output", [output]));
    }
    if (c.transcript) {
      const nodes = [];
      for (const m of c.transcript) {
        nodes.push(el("div", { class: "role", text: m.role + (m.turn ? " · turn " + m.turn : "") }),
          el("pre", { text: m.content }));
        if (m.error) nodes.push(el("pre", { class: "error", text: m.error }));
      }
      parts.push(...section("Conversation", nodes));
    }
    if (c.tool_calls) {
      parts.push(...section("Tool calls", c.tool_calls.map((call) => el("pre", { class: "tool-call", text: call }))));
    }
    if (c.verdicts) {
      const list = el("ul", { class: "verdicts" });
      for (const [name, status, reason, score, threshold] of c.verdicts) {
        const extra = score !== null && score !== undefined
          ? " (score " + score.toFixed(3) + (threshold !== null && threshold !== undefined ? " / " + threshold : "") + ")" : "";
        const cls = status === "pass" ? "st-passed" : status === "fail" ? "st-failed" : "st-error";
        list.appendChild(el("li", {}, [el("span", { class: "st " + cls, text: status.toUpperCase() + " " }),
          el("strong", { text: name }), document.createTextNode(extra + ": " + reason)]));
      }
      parts.push(...section("Assertions", [list]));
    }
    view.replaceChildren(...parts);
    view.hidden = false;
    view.dataset.index = String(index);
    if (!keepHash) history.replaceState(null, "", "#case-" + index);
    view.focus();
    view.scrollIntoView({ block: "start" });
  }
  function closeCase() {
    const view = document.getElementById("case");
    if (view.hidden) return;
    view.hidden = true;
    history.replaceState(null, "", "#");
    const row = document.querySelector('#table tbody tr[data-index="' + view.dataset.index + '"]');
    if (row) row.focus();
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeCase();
    else if (event.key === "/" && document.activeElement.tagName !== "INPUT") { event.preventDefault(); filters.text.focus(); }
  });

  CASES.forEach((c, i) => { c._index = i; });
  header();
  charts();
  setupFilters();
  tableHead();
  render();
  const match = /^#case-(\d+)$/.exec(location.hash);
  if (match) openCase(Number(match[1]), true);
  document.body.dataset.ready = "1";
})();
