/* Relance dashboard: every figure comes from the JSON API, called with the session cookie that
   /login opened (HttpOnly: this script never holds the key). Each panel loads on its own: a
   missing endpoint (404/501) or any error shows an "unavailable" notice in that panel and never
   stops the others. Data is written with textContent, never innerHTML, so customer names cannot
   inject markup; amounts, numbers and dates are written by the server (POST /formats, Babel). */
(function () {
  "use strict";

  const CONFIG = JSON.parse(document.getElementById("relance-config").textContent);
  const L = CONFIG.labels;
  const LANG = CONFIG.lang;
  const GRADES = ["A", "B", "C", "D", "E"];
  const GRADE_COLORS = { A: "#2e7d32", B: "#7cb342", C: "#fbc02d", D: "#f57c00", E: "#c62828" };
  const STATE_COLORS = { sent: "#2e7d32", planned: "#1e88e5", failed: "#c62828", cancelled: "#9e9e9e" };

  const relance = (window.relance = { charts: {}, panels: {}, ready: false, config: CONFIG, submitted: {}, errors: {}, downloads: [], unlabelled: [] });

  // --- formatting: by the server ---------------------------------------------------------------
  // Every amount, number and date is written by serving/money.py (Babel), so it reads the same
  // here, in a CSV, on a statement or in a letter. money(), num(), pct() and date() answer at once
  // with the server's text when they have it; otherwise with a placeholder, and the values asked
  // together go to POST /formats in one batch, whose answer replaces each placeholder in the page
  // (and in any node added later). Panels are marked ready only once every placeholder is gone.
  const MARK = "\u2063";  // invisible separator around a placeholder's number
  const written = new Map();   // "kind|value" → the server's text
  const placeholders = new Map();  // placeholder → "kind|value"
  const placeholderOf = new Map();  // "kind|value" → its placeholder
  const queued = new Map();    // "kind|value" → placeholder, not yet sent
  let sending = null;
  let placeholderCount = 0;
  function formatted(kind, value) {
    const key = kind + "|" + value;
    if (written.has(key)) return written.get(key);
    if (placeholderOf.has(key)) return placeholderOf.get(key);
    placeholderCount += 1;
    const token = MARK + placeholderCount + MARK;
    placeholders.set(token, key);
    placeholderOf.set(key, token);
    queued.set(key, token);
    queueMicrotask(flushFormats);
    return token;
  }
  async function flushFormats() {
    if (sending || !queued.size) return sending;
    const batch = [...queued.keys()];
    queued.clear();
    const body = { lang: LANG, money: [], whole_money: [], dates: [], numbers: [], percents: [] };
    const slots = { m: "money", w: "whole_money", d: "dates", n: "numbers", p: "percents" };
    const order = { money: [], whole_money: [], dates: [], numbers: [], percents: [] };
    for (const key of batch) {
      const [kind, value, currency] = key.split("|");
      const slot = slots[kind];
      body[slot].push(kind === "m" || kind === "w" ? { amount: value, currency } : value);
      order[slot].push(key);
    }
    sending = (async () => {
      let answer = null;
      try {
        const response = await fetch("/formats", { method: "POST", headers: { "Content-Type": "application/json",
          "X-CSRF-Token": csrfToken() },
          body: JSON.stringify(body) });
        if (response.ok) answer = await response.json();
      } catch (e) {
        /* the server is away: the values are shown as they came */
      }
      for (const slot of Object.keys(order)) {
        order[slot].forEach((key, i) => written.set(key, answer ? answer[slot][i]
          : key.split("|").slice(1).join(" ")));
      }
      replacePlaceholders(document.body);
      for (const c of Object.values(relance.charts)) {
        try {
          c.update("none");  // a tooltip or label asked before its text came
        } catch (e) {
          /* a chart being replaced: its successor asks again */
        }
      }
    })();
    try {
      await sending;
    } finally {
      sending = null;
    }
    if (queued.size) await flushFormats();
  }
  // resolves once every value asked so far has its text in the page
  async function formatsWritten() {
    while (sending || queued.size) await (sending || flushFormats());
  }
  const TOKEN = new RegExp(MARK + "\\d+" + MARK, "g");
  function textOf(text) {
    return text.includes(MARK) ? text.replace(TOKEN, (t) => written.get(placeholders.get(t)) ?? t) : text;
  }
  // writes only what changes: a placeholder still waiting for its text stays (and writing the
  // same text again would wake the observer below for ever)
  function replaceIn(node) {
    if (!node.data.includes(MARK)) return;
    const text = textOf(node.data);
    if (text !== node.data) node.data = text;
  }
  function replacePlaceholders(root) {
    if (!root) return;
    if (root.nodeType === Node.TEXT_NODE) return replaceIn(root);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) replaceIn(node);
    if (root.querySelectorAll) {
      for (const node of root.querySelectorAll("[aria-label], [title]")) {
        for (const name of ["aria-label", "title"]) {
          const v = node.getAttribute(name);
          if (v && v.includes(MARK) && textOf(v) !== v) node.setAttribute(name, textOf(v));
        }
      }
    }
  }
  // a node added after its batch came back still gets its text
  new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === "characterData") replacePlaceholders(change.target);
      else change.addedNodes.forEach((n) => replacePlaceholders(n));
    }
  }).observe(document.documentElement, { childList: true, subtree: true, characterData: true });

  const blank = (v) => v === null || v === undefined || v === "";
  // a computed float (a sum in a chart) is asked to the cent; an amount from the API as it came
  const exact = (v, digits) => (typeof v === "number" ? v.toFixed(digits) : String(v));
  const money = (v, currency) => (blank(v) || !currency || !isFinite(Number(v)) ? "—"
    : formatted("m", exact(v, 2) + "|" + String(currency).toUpperCase()));
  const cents = money;
  // a headline tile: whole units
  const money0 = (v, currency) => (blank(v) || !currency || !isFinite(Number(v)) ? "—"
    : formatted("w", exact(v, 2) + "|" + String(currency).toUpperCase()));
  const num = (v) => (blank(v) || !isFinite(Number(v)) ? "—" : formatted("n", exact(Number(v), 2)));
  const pct = (v) => (blank(v) || !isFinite(Number(v)) ? "—" : formatted("p", exact(Number(v), 4)));
  const date = (iso) => (iso ? formatted("d", String(iso).slice(0, 10)) : "—");
  // for the page's other scripts (the model page's policy panel): the same server-written texts
  relance.format = { num, pct, date, written: formatsWritten };
  // a chart draws text on a canvas: ask its values first, then build it with the written texts
  async function beforeChart(values) {
    values();
    await formatsWritten();
  }
  // chart axes: whole units grouped the locale's way (the currency is in the axis title), shares
  const grouped = (v) => String(Math.round(Math.abs(Number(v)))).replace(/\B(?=(\d{3})+(?!\d))/g, CONFIG.axis.group);
  const axisNumber = (v) => (Number(v) < 0 ? "-" : "") + grouped(v);
  const axisPercent = (v) => CONFIG.axis.percent.replace("{n}", axisNumber(Number(v) * 100));
  const REPORTING = CONFIG.reporting_currency || "EUR";
  // a code as words: the catalogue's label, else the code made readable (never an identifier)
  // a code as words: the catalogue's label, else the code made readable (never an identifier) —
  // and noted in relance.unlabelled, which the browser tests require empty on every page
  const word = (prefix, id) => {
    if (id === null || id === undefined || id === "") return "—";
    if (L[prefix + id]) return L[prefix + id];
    if (prefix === "step_" && /^\d+$/.test(String(id))) return fill(L.step_number, { n: id });
    relance.unlabelled.push(prefix + id);
    return String(id).replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
  };
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, k) => values[k]);
  const isoDay = (d) => d.toISOString().slice(0, 10);
  const addDays = (iso, n) => { const d = new Date(iso + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() + n); return isoDay(d); };

  // --- API ----------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, detail) {
      super(detail || "HTTP " + status);
      this.status = status;
    }
  }

  function toLogin() {
    const next = encodeURIComponent(location.pathname + location.search);
    location.replace("/login?lang=" + LANG + "&next=" + next);
  }

  // The routes the server has: asking /openapi.json first lets a page skip endpoints that are
  // not built yet (no 404 noise) — any failure here just means "try every endpoint".
  let routesPromise = null;
  function routes() {
    if (!routesPromise) {
      routesPromise = fetch("/openapi.json")
        .then((r) => (r.ok ? r.json() : null))
        .then((spec) => (spec && spec.paths ? Object.keys(spec.paths).map(templateRegex) : null))
        .catch(() => null);
    }
    return routesPromise;
  }
  function templateRegex(path) {
    const parts = path.split(/\{[^}]+\}/).map((s) => s.replace(/[.*+?^$()|[\]\\]/g, "\\$&"));
    return new RegExp("^" + parts.join("[^/]+") + "$");
  }

  async function api(path) {
    const url = CONFIG.api + path;
    const known = await routes();
    const bare = url.split("?")[0];
    if (known && !known.some((re) => re.test(bare))) throw new ApiError(404, "not built yet");
    // the session cookie goes along (same origin); the page never holds the key
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (response.status === 401) {
      toLogin();
      throw new ApiError(401);
    }
    if (!response.ok) {
      let detail = null;
      try {
        detail = (await response.json()).detail;
      } catch (e) {
        /* not JSON: the status says enough */
      }
      throw new ApiError(response.status, detail);
    }
    return response.json();
  }

  // --- panels -------------------------------------------------------------------------------
  function notice(panel, text, kind) {
    const box = document.getElementById(panel);
    if (!box) return;
    box.classList.add("is-" + kind);
    let p = box.querySelector(":scope > .notice");
    if (!p) {
      p = document.createElement("p");
      p.className = "notice";
      box.appendChild(p);
    }
    p.textContent = text;
    box.querySelectorAll(".canvas-box, .table-box").forEach((el) => (el.hidden = true));
  }

  // Runs one panel's loader; its outcome is recorded in relance.panels for the tests.
  async function panel(id, load) {
    relance.panels[id] = "loading";
    // a reload (after a form) starts from a clean panel: the last answer's notice goes
    const box = document.getElementById(id);
    if (box) {
      box.classList.remove("is-empty", "is-unavailable", "is-forbidden");
      box.querySelectorAll(":scope > .notice").forEach((n) => n.remove());
      box.querySelectorAll(".canvas-box, .table-box").forEach((n) => (n.hidden = false));
    }
    try {
      const outcome = await load();
      if (outcome && outcome.quiet) {
        relance.panels[id] = "empty";  // the loader wrote its own explanation
      } else if (outcome === "empty" || (outcome && outcome.empty)) {
        notice(id, outcome.empty || L.no_data, "empty");
        relance.panels[id] = "empty";
      } else {
        relance.panels[id] = "ok";
      }
    } catch (error) {
      const forbidden = error instanceof ApiError && error.status === 403;
      notice(id, forbidden ? L.forbidden : L.unavailable, forbidden ? "forbidden" : "unavailable");
      relance.panels[id] = forbidden ? "forbidden" : "unavailable";
      if (!(error instanceof ApiError)) console.warn("panel " + id, error);
    }
  }

  async function runPanels(loaders) {
    await Promise.all(Object.entries(loaders).map(([id, load]) => panel(id, load)));
    await formatsWritten();
    relance.ready = true;
    document.body.dataset.ready = "1";
  }

  // --- DOM helpers --------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child ?? "—"));
    return node;
  }

  function fillTable(id, rows, cells) {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    for (const row of rows) {
      const tr = el("tr");
      for (const cell of cells(row)) {
        const td = el("td");
        if (cell && typeof cell === "object" && !(cell instanceof Node)) {
          if (cell.num) td.className = "num";
          td.append(cell.node instanceof Node ? cell.node : String(cell.text ?? "—"));
        } else td.append(cell instanceof Node ? cell : String(cell ?? "—"));
        tr.append(td);
      }
      body.append(tr);
    }
    return rows.length ? "ok" : "empty";
  }

  function facts(id, pairs) {
    const dl = document.getElementById(id);
    dl.replaceChildren();
    for (const [label, value] of pairs) dl.append(el("dt", { text: label }), el("dd", { text: value ?? "—" }));
  }

  function tile(container, label, value, hint) {
    const box = el("div", { class: "tile" }, el("span", { class: "tile-label", text: label }),
      el("span", { class: "tile-value", text: value }));
    if (hint) box.append(el("span", { class: "tile-hint", text: hint }));
    document.getElementById(container).append(box);
  }

  function gradeBadge(grade) {
    return el("span", { class: "grade grade-" + (grade || "none"), text: grade || "—" });
  }

  // --- charts -------------------------------------------------------------------------------
  function chart(id, config) {
    const canvas = document.getElementById(id);
    if (relance.charts[id]) relance.charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false },
      config.options || {});
    relance.charts[id] = new Chart(canvas, config);
    return relance.charts[id];
  }

  const moneyAxis = (currency) => ({ title: { display: true, text: currency }, ticks: { callback: axisNumber } });
  const moneyTooltip = (currency) => ({ callbacks: { label: (c) => c.dataset.label + " : " + money(c.raw, currency) } });

  // what a report's totals are in: the reporting currency, the rate date, what could not be converted
  function currencyNote(r) {
    const parts = [fill(L.in_currency, { currency: r.reporting_currency })];
    if (r.rate_date) parts.push(fill(L.rates_of, { date: date(r.rate_date) }));
    if (r.unconverted && r.unconverted.length) {
      parts.push(fill(L.unconverted, { currencies: r.unconverted.map((u) => u.currency).join(", ") }));
    }
    return parts.join(" · ");
  }
  function note(panelId, text) {
    const box = document.getElementById(panelId);
    let p = box.querySelector(":scope > .currency-note");
    if (!p) {
      p = el("p", { class: "sub currency-note" });
      box.querySelector("h2").after(p);
    }
    p.textContent = text;
  }

  // --- dashboard ----------------------------------------------------------------------------
  function dashboard() {
    const asOf = CONFIG.as_of;
    const q = "?as_of=" + encodeURIComponent(asOf);
    document.getElementById("as-of").value = asOf;

    return runPanels({
      "panel-last-run": async () => {
        const last = await api("/dunning/runs/last");
        const run = last.run;
        if (!run) return { empty: L.no_scheduled_run };
        const report = run.report || {};
        facts("last-run", [[L.run_date, date(run.run_date)], [L.run_state, word("run_state_", run.state)],
          [L.run_created, report.created], [L.run_reminders, report.reminders],
          [L.run_sent, report.outbox ? report.outbox.sent : null],
          [L.run_warnings, (report.warnings || []).length ? report.warnings.join(" · ")
            : (run.state === "failed" ? L.run_failed_detail : "0")],
          [L.run_schedule, last.schedule]]);
      },
      "panel-kpis": async () => {
        const k = await api("/reports/kpis" + q);
        const cur = k.reporting_currency;
        const lastCei = k.cei && k.cei.length ? k.cei[k.cei.length - 1] : null;
        const cei = lastCei ? lastCei.cei : null;
        note("panel-kpis", currencyNote(k));
        tile("kpi-tiles", L.kpi_receivables, money0(k.aging.total, cur),
          (k.by_currency || []).length > 1 ? k.by_currency.map((b) => money0(b.aging.total, b.currency)).join(" · ") : null);
        tile("kpi-tiles", L.kpi_overdue_rate, pct(k.aging.overdue_rate), money0(k.aging.overdue, cur));
        tile("kpi-tiles", L.kpi_dso, num(k.dso.dso), L.days);
        tile("kpi-tiles", L.kpi_best_dso, num(k.dso.best_possible_dso), L.days);
        tile("kpi-tiles", L.kpi_add, num(k.dso.average_days_delinquent), L.days);
        tile("kpi-tiles", lastCei && lastCei.to_date ? L.kpi_cei_to_date : L.kpi_cei, cei === null ? "—" : pct(cei / 100),
          lastCei ? lastCei.month + (lastCei.to_date ? " · " + fill(L.to_date_until, { date: date(lastCei.end) }) : "") : null);
        tile("kpi-tiles", L.kpi_recovery, pct(k.period.recovery_rate));
      },
      "panel-dso": async () => {
        const r = await api("/reports/dso" + q);
        if (!r.trend.length) return "empty";
        note("panel-dso", currencyNote(r));
        // complete month ends, then as_of: a point inside its month is marked "to date"
        await beforeChart(() => r.trend.forEach((p) => date(p.on)));
        const labels = r.trend.map((p) => date(p.on) + (p.to_date ? " (" + L.to_date + ")" : ""));
        const marked = (color) => r.trend.map((p) => (p.to_date ? "#ffffff" : color));
        const line = (label, key, color, dash) => ({ label, data: r.trend.map((p) => p[key]), borderColor: color,
          backgroundColor: color, borderDash: dash || [], tension: 0.25,
          pointRadius: r.trend.map((p) => (p.to_date ? 5 : 2)), pointBackgroundColor: marked(color),
          pointBorderColor: color, segment: { borderDash: (c) => (r.trend[c.p1DataIndex].to_date ? [3, 3] : dash || []) } });
        chart("chart-dso", { type: "line", data: { labels, datasets: [
          line(L.dso_standard, "dso", "#1e88e5"),
          line(L.dso_count_back, "count_back_dso", "#8e24aa"),
          line(L.dso_best, "best_possible_dso", "#43a047", [6, 4]),
        ] }, options: { scales: { y: { title: { display: true, text: L.days } } } } });
      },
      "panel-aging": async () => {
        const r = await api("/reports/aging" + q);
        const cur = r.reporting_currency;
        note("panel-aging", currencyNote(r));
        const labels = r.buckets.map((b) => (b.bucket === "not_due" ? L.bucket_not_due : fill(L.bucket_days, { b: b.bucket })));
        const colors = ["#43a047", "#fdd835", "#fb8c00", "#f4511e", "#d32f2f", "#8e0000"];
        await beforeChart(() => r.buckets.forEach((b) => money(Number(b.amount), cur)));
        chart("chart-aging", { type: "bar", data: { labels, datasets: [{ label: L.amount,
          data: r.buckets.map((b) => Number(b.amount)), backgroundColor: colors }] },
          options: { plugins: { legend: { display: false }, tooltip: { callbacks: {
            label: (c) => money(c.raw, cur) + " · " + r.buckets[c.dataIndex].count + " " + L.invoices.toLowerCase() } } },
            scales: { y: moneyAxis(cur) } } });
      },
      "panel-forecast": async () => {
        const r = await api("/reports/cash-forecast" + q);
        if (!r.weeks.length) return "empty";
        document.getElementById("forecast-source").textContent = (r.source === "model" ? L.source_model : L.source_rules)
          + " · " + currencyNote(r);
        const cur = r.reporting_currency;
        await beforeChart(() => r.weeks.forEach((w) => [date(w.start), money(Number(w.expected), cur),
          money(Number(w.low), cur), money(Number(w.high), cur)]));
        const labels = r.weeks.map((w) => L.week + w.week + " · " + date(w.start));
        chart("chart-forecast", { type: "bar", data: { labels, datasets: [
          { type: "bar", label: L.expected, data: r.weeks.map((w) => Number(w.expected)), backgroundColor: "#1e88e5", order: 3 },
          { type: "line", label: L.low, data: r.weeks.map((w) => Number(w.low)), borderColor: "#90a4ae",
            borderDash: [4, 4], pointRadius: 0, fill: false, order: 1 },
          { type: "line", label: L.high, data: r.weeks.map((w) => Number(w.high)), borderColor: "#90a4ae",
            backgroundColor: "rgba(144,164,174,0.25)", borderDash: [4, 4], pointRadius: 0, fill: "-1", order: 2 },
        ] }, options: { plugins: { tooltip: moneyTooltip(cur) }, scales: { y: moneyAxis(cur) } } });
      },
      "panel-risk": async () => {
        const rows = await api("/worklist?limit=500");
        if (!rows.length) return "empty";
        const cur = rows[0].reporting_currency;
        // customers without a grade (no model, no published score) have their own bar
        const keys = GRADES.concat(["—"]);
        const count = Object.fromEntries(keys.map((g) => [g, 0]));
        const atRisk = Object.fromEntries(keys.map((g) => [g, 0]));
        for (const row of rows) {
          const g = row.grade in count ? row.grade : "—";
          count[g] += 1;
          // amounts with no rate into the reporting currency are left out, never added 1:1
          if (row.value_at_risk_90_reporting !== null) atRisk[g] += Number(row.value_at_risk_90_reporting);
        }
        const shown = keys.filter((g) => g !== "—" || count[g] > 0);
        await beforeChart(() => shown.forEach((g) => money(atRisk[g], cur)));
        chart("chart-risk", { type: "bar", data: { labels: shown, datasets: [
          { label: L.customers_count, data: shown.map((g) => count[g]), backgroundColor: shown.map((g) => GRADE_COLORS[g] || "#9e9e9e"), yAxisID: "y" },
          { type: "line", label: fill(L.value_at_risk_90_in, { currency: cur }), data: shown.map((g) => atRisk[g]), borderColor: "#37474f",
            backgroundColor: "#37474f", yAxisID: "y1" },
        ] }, options: { scales: {
          y: { beginAtZero: true, title: { display: true, text: L.customers_count }, ticks: { precision: 0 } },
          y1: Object.assign({ position: "right", beginAtZero: true, grid: { drawOnChartArea: false } }, moneyAxis(cur)),
        } } });
      },
      "panel-funnel": async () => {
        const actions = await allActions("");
        if (!actions.length) return "empty";
        const steps = orderSteps(new Set(actions.map((a) => a.step || a.action)));
        const states = ["sent", "planned", "failed", "cancelled"];
        const counts = {};
        for (const a of actions) {
          const key = (a.step || a.action) + "|" + a.state;
          counts[key] = (counts[key] || 0) + 1;
        }
        chart("chart-funnel", { type: "bar", data: { labels: steps.map((s) => word("step_", s)),
          datasets: states.map((s) => ({ label: L["state_" + s], backgroundColor: STATE_COLORS[s],
            data: steps.map((step) => counts[step + "|" + s] || 0) })) },
          options: { indexAxis: "y", scales: { x: { stacked: true, ticks: { precision: 0 } }, y: { stacked: true } } } });
      },
      "panel-effectiveness": async () => {
        const r = await api("/reports/dunning-effectiveness" + q);
        if (!r.rows.length) return "empty";
        const steps = orderSteps(new Set(r.rows.map((x) => x.step)));
        const windows = Object.keys(r.rows[0].share).sort((a, b) => a - b);
        const share = (step, w) => {
          let settled = 0, eligible = 0;
          for (const x of r.rows.filter((y) => y.step === step)) {
            settled += x.settled[w] || 0;
            eligible += x.eligible[w] || 0;
          }
          return eligible ? settled / eligible : null;
        };
        const colors = ["#81d4fa", "#29b6f6", "#0277bd"];
        await beforeChart(() => steps.forEach((s) => windows.forEach((w) => pct(share(s, w)))));
        chart("chart-effectiveness", { type: "bar", data: { labels: steps.map((s) => word("step_", s)),
          datasets: windows.map((w, i) => ({ label: fill(L.within, { w }), backgroundColor: colors[i % 3],
            data: steps.map((s) => share(s, w)) })) },
          options: { scales: { y: { min: 0, max: 1, ticks: { callback: axisPercent } } },
            plugins: { tooltip: { callbacks: { label: (c) => c.dataset.label + " : " + pct(c.raw) } } } } });
      },
      "panel-worklist": async () => {
        const rows = await api("/worklist?limit=50&lang=" + LANG);
        return fillTable("worklist", rows, (r) => [
          r.rank,
          el("a", { href: "/customers/" + encodeURIComponent(r.customer_id) + "?lang=" + LANG, class: "customer-link",
            text: r.name || r.customer_id }),
          word("segment_", r.segment), gradeBadge(r.grade),
          { num: true, text: money(r.value_at_risk_30, r.currency) }, { num: true, text: money(r.value_at_risk_90, r.currency) },
          { num: true, text: money(r.open_amount, r.currency) }, { num: true, text: money(r.overdue_amount, r.currency) },
          { num: true, text: r.days_overdue > 0 ? r.days_overdue : "—" }, { num: true, text: r.broken_promises || "—" },
          r.next_action ? word("channel_", r.next_action.channel) + " · " + date(r.next_action.send_on) : "—",
          r.assigned_agent || L.unassigned, (r.reasons || []).map((x) => x.text).join(" · "),
        ]);
      },
      "panel-credit": async () => {
        const rows = await api("/credit/alerts");
        return fillTable("credit-alerts", rows, (r) => [
          el("a", { href: "/customers/" + encodeURIComponent(r.customer_id) + "?lang=" + LANG, class: "customer-link",
            text: r.name || r.customer_id }),
          el("span", { class: "status credit-" + r.status, text: word("credit_", r.status) }),
          { num: true, text: money(r.exposure, r.currency) }, { num: true, text: money(r.credit_limit, r.currency) },
          { num: true, text: r.usage === null ? "—" : pct(r.usage) }, { num: true, text: money(r.headroom, r.currency) },
          r.assigned_agent,
        ]);
      },
    });
  }

  function orderSteps(found) {
    const known = CONFIG.step_order.filter((s) => found.has(s));
    return known.concat([...found].filter((s) => !known.includes(s)).sort());
  }

  async function allActions(filter) {
    // a few pages at most: the funnel is a picture, not an export
    const items = [];
    for (let offset = 0, page = 0; page < 10; page += 1) {
      const r = await api("/dunning/actions?limit=1000&offset=" + offset + filter);
      items.push(...r.items);
      offset += r.items.length;
      if (!r.items.length || offset >= r.total) break;
    }
    return items;
  }

  // --- writing through the API ----------------------------------------------------------------
  async function apiSend(method, path, body) {
    let response;
    try {
      response = await fetch(CONFIG.api + path, { method, headers: { Accept: "application/json",
        "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, null);
    }
    if (response.status === 401) {
      toLogin();
      throw new ApiError(401);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      /* an empty answer */
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data && data.detail);
      error.errors = (data && data.errors) || [];
      throw error;
    }
    return data;
  }

  // An API error as a sentence of the page's language: the field named with its label; the API's
  // own (English) sentence only on the English page.
  function errorText(error) {
    if (error && error.userText) return error.userText;
    if (!(error instanceof ApiError)) return L.err_network;
    if (error.status === 0) return L.err_network;
    if (error.status === 422) {
      const fields = (error.errors || []).map((e) => {
        const last = String(e.field || "").split(".").pop().replace(/\[\d+\]$/, "");
        return fill(L.err_field, { field: L["field_" + last] || L[last] || last }) + (LANG === "en" && e.message ? " (" + e.message + ")" : "");
      });
      return L.err_422 + (fields.length ? " — " + fields.join(" ; ") : "") ;
    }
    if (error.status === 404) return L.err_404;
    if (error.status === 403) return L.err_403;
    if (error.status === 409) return L.err_409 + (LANG === "en" && error.message ? " " + error.message : "");
    return fill(L.err_other, { status: error.status });
  }

  function say(id, text, kind) {
    const p = document.getElementById(id + "-status");
    if (!p) return;
    p.textContent = text;
    p.className = "form-status is-" + kind;
  }

  // Binds a form: validate (the browser's constraints), send, say the outcome in the form.
  function bindForm(id, send) {
    const form = document.getElementById(id);
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      say(id, L.loading, "pending");
      try {
        const message = await send(new FormData(form), form);
        await formatsWritten();
        say(id, message || L.saved, "ok");
        relance.submitted[id] = (relance.submitted[id] || 0) + 1;
      } catch (error) {
        say(id, errorText(error), "error");
        relance.errors[id] = errorText(error);
        if (!(error instanceof ApiError) && !error.userText) console.warn(id, error);
      } finally {
        button.disabled = false;
      }
    });
  }

  const textOrNull = (data, name) => {
    const v = String(data.get(name) || "").trim();
    return v === "" ? null : v;
  };

  // A download: fetched with the session, then handed to the browser as a file.
  async function download(path, filename, statusId) {
    try {
      const response = await fetch(CONFIG.api + path);
      if (!response.ok) throw new ApiError(response.status, null);
      const blob = await response.blob();
      const link = el("a", { href: URL.createObjectURL(blob), download: filename });
      document.body.append(link);
      link.click();
      link.remove();
      relance.downloads.push(filename);
      if (statusId) say(statusId, filename, "ok");
    } catch (error) {
      if (statusId) say(statusId, errorText(error), "error");
    }
  }

  // --- who is signed in -------------------------------------------------------------------------
  let mePromise = null;
  const whoAmI = () => (mePromise = mePromise || api("/me").catch(() => null));
  const isManager = (me) => !!me && (me.role === "admin" || me.role === "analyst");

  async function showWho() {
    const me = await whoAmI();
    if (!me) return;
    const who = document.getElementById("whoami");
    if (who) who.textContent = fill(L.signed_in_as, { name: me.name || fill(L.key_without_name, { prefix: me.key }), role: word("role_", me.role) });
    if (isManager(me)) document.querySelectorAll("[data-managers]").forEach((node) => (node.hidden = false));
  }

  async function routeExists(method, path) {
    // the spec's paths with their methods: a form for a route this server lacks stays hidden
    const spec = await fetch("/openapi.json").then((r) => (r.ok ? r.json() : null)).catch(() => null);
    if (!spec || !spec.paths) return true;
    const ops = spec.paths[CONFIG.api + path];
    return !!(ops && ops[method.toLowerCase()]);
  }

  async function knownAgents() {
    // the names of the agents that already have customers, for the agent fields' suggestions
    try {
      const rows = await api("/worklist?limit=500");
      const names = [...new Set(rows.map((r) => r.assigned_agent).filter(Boolean))].sort();
      const list = document.getElementById("agents");
      if (list) list.replaceChildren(...names.map((n) => el("option", { value: n })));
    } catch (e) {
      /* suggestions only */
    }
  }

  // --- worklist page --------------------------------------------------------------------------
  const PAGE_SIZE = 25;

  function worklistPage() {
    const form = document.getElementById("worklist-filters");
    const params = new URLSearchParams(location.search);
    for (const field of form.elements) if (field.name && params.has(field.name)) field.value = params.get(field.name);
    let offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);

    const query = () => {
      const q = new URLSearchParams();
      for (const field of form.elements) if (field.name && field.value) q.set(field.name, field.value.trim());
      q.set("lang", LANG);
      return q;
    };
    const go = (newOffset) => {
      const q = query();
      if (newOffset) q.set("offset", String(newOffset));
      location.assign("/worklist?" + q.toString());
    };
    form.addEventListener("submit", (event) => { event.preventDefault(); go(0); });
    form.addEventListener("reset", () => setTimeout(() => go(0), 0));
    document.getElementById("page-prev").addEventListener("click", () => go(Math.max(0, offset - PAGE_SIZE)));
    document.getElementById("page-next").addEventListener("click", () => go(offset + PAGE_SIZE));
    document.getElementById("export-csv").addEventListener("click", () => {
      const q = query();
      download("/worklist/export?" + q.toString(), "worklist-" + CONFIG.today + ".csv");
    });

    return Promise.all([showWho(), whoAmI().then((me) => (isManager(me) ? knownAgents() : null))]).then(() => runPanels({
      "panel-worklist": async () => {
        const q = query();
        q.set("limit", String(PAGE_SIZE + 1));
        q.set("offset", String(offset));
        const rows = await api("/worklist?" + q.toString());
        const more = rows.length > PAGE_SIZE;
        document.getElementById("page-prev").disabled = offset === 0;
        document.getElementById("page-next").disabled = !more;
        document.getElementById("page-number").textContent = fill(L.page_n, { n: Math.floor(offset / PAGE_SIZE) + 1 });
        if (!rows.length) {
          const me = await whoAmI();
          const filtered = [...query().keys()].some((k) => k !== "lang");
          const box = document.getElementById("portfolio-empty");
          box.hidden = false;
          if (me && me.role === "agent" && !filtered) {
            const name = me.name || me.key;
            box.replaceChildren(el("p", { id: "empty-what", text: fill(L.empty_portfolio, { name }) }),
              el("p", { id: "empty-how", text: fill(L.empty_portfolio_how, { name }) }));
          } else box.replaceChildren(el("p", { text: L.no_results }));
          document.querySelector("#panel-worklist .table-box").hidden = true;
          return { empty: null, quiet: true };
        }
        return fillTable("worklist", rows.slice(0, PAGE_SIZE), (r) => [
          r.rank,
          el("a", { href: "/customers/" + encodeURIComponent(r.customer_id) + "?lang=" + LANG, class: "customer-link",
            text: (r.name || r.customer_id) }),
          word("segment_", r.segment), gradeBadge(r.grade),
          { num: true, text: money(r.value_at_risk_90, r.currency) },
          { num: true, text: money(r.open_amount, r.currency) },
          { num: true, text: money(r.overdue_amount, r.currency) },
          { num: true, text: r.days_overdue > 0 ? r.days_overdue : "—" }, { num: true, text: r.broken_promises || "—" },
          r.next_action ? word("step_", r.next_action.step || r.next_action.action) + " · " + word("channel_", r.next_action.channel)
            + " · " + date(r.next_action.send_on) : "—",
          r.last_contact ? word("contact_", r.last_contact.kind) + (r.last_contact.outcome ? " (" + word("outcome_", r.last_contact.outcome) + ")" : "")
            + " · " + date(r.last_contact.on) : "—",
          r.assigned_agent || L.unassigned,
          el("ul", { class: "reasons" }, ...(r.reasons || []).map((x) => el("li", { text: x.text }))),
        ]);
      },
    }));
  }

  // --- customer page ------------------------------------------------------------------------

  function customer() {
    const id = CONFIG.customer_id;
    const enc = encodeURIComponent(id);
    let currency = REPORTING;
    let openInvoices = [];

    const panels = {
      "panel-profile": async () => {
        const c = await api("/customers/" + enc);
        currency = c.currency || REPORTING;
        document.querySelectorAll(".currency-code").forEach((n) => (n.textContent = currency));
        document.getElementById("customer-title").textContent = (c.name ? c.name + " · " : "") + c.customer_id;
        document.title = (c.name || c.customer_id) + " — Relance";
        let credit = null;
        try {
          credit = await api("/customers/" + enc + "/credit");
        } catch (e) {
          /* the credit position is a complement: the profile shows without it */
        }
        const exposure = credit ? money(credit.exposure, credit.currency) + " · " + (credit.usage === null ? word("credit_", credit.status)
          : pct(credit.usage) + " " + L.of_limit + (credit.status === "over" || credit.status === "warning" ? " · " + word("credit_", credit.status) : "")) : "—";
        facts("profile", [[L.segment, word("segment_", c.segment)], [L.currency, currency], [L.terms, c.payment_terms_days + " " + L.days],
          [L.credit_limit, money(c.credit_limit, currency)], [L.exposure_vs_limit, exposure],
          [L.scenario, word("scenario_", c.dunning_scenario)],
          [L.email, c.email], [L.phone, c.phone], [L.agent, c.assigned_agent || L.unassigned],
          [L.open_invoices, c.open_invoices], [L.open_amount, cents(c.open_balance, currency)],
          [L.overdue_amount, cents(c.overdue_balance, currency)]].concat(balanceNotes(c)));
        const badges = document.getElementById("customer-statuses");
        badges.replaceChildren();
        for (const s of c.statuses || []) badges.append(el("span", { class: "badge", text: s[LANG] || s.fr }));
        if (c.on_hold) badges.append(el("span", { class: "badge badge-hold", id: "badge-hold",
          text: L.on_hold + (c.on_hold_until ? " → " + date(c.on_hold_until) : "") + (c.on_hold_reason ? " : " + c.on_hold_reason : "") }));
        const assign = document.getElementById("assign-agent");
        if (assign && !assign.value) assign.value = c.assigned_agent || "";
      },
      "panel-risk": async () => {
        const r = await api("/customers/" + enc + "/risk?lang=" + LANG);
        const box = document.getElementById("risk");
        box.replaceChildren(el("div", { class: "risk-head" }, gradeBadge(r.grade),
          el("span", { class: "tile-value", text: r.score ?? "—" }), el("span", { class: "tile-hint", text: L.score })));
        const dl = el("dl", { class: "facts" });
        for (const [label, value] of [[L.p_late, pct(r.p_late ?? r.probability)], [L.p_unpaid_90, pct(r.p_unpaid_90)],
          [L.expected_days_late, num(r.expected_days_late)],
          [L.basis, r.basis === "model" ? L.basis_model + " " + (r.model_version ?? "") : L.basis_rules]]) {
          dl.append(el("dt", { text: label }), el("dd", { text: value ?? "—" }));
        }
        const reasons = el("ul", { class: "reasons" });
        for (const x of r.reasons || r.top_reasons || []) {
          reasons.append(el("li", { text: x[LANG] || x.sentence || x.text || x.fr || "—" }));
        }
        box.append(dl, el("h3", { text: L.reasons }), reasons);
      },
      "panel-invoices": async () => {
        const r = await api("/invoices?limit=1000&customer_id=" + enc);
        document.getElementById("invoice-count").textContent = "(" + r.total + ")";
        const rows = [...r.items].sort((a, b) => (a.due_date < b.due_date ? 1 : -1));
        openInvoices = rows.filter((i) => i.kind !== "credit_note" && i.status !== "settled");
        fillInvoiceChoices();
        historyChart(r.items);
        return fillTable("invoices", rows, (i) => [
          el("span", { class: "mono", text: i.invoice_id }), word("kind_", i.kind), date(i.issue_date), date(i.due_date),
          { num: true, text: cents(i.amount, i.currency) }, { num: true, text: cents(i.open_amount, i.currency) },
          el("span", { class: "status status-" + i.status, text: word("status_", i.status) }),
          date(i.settled_on), { num: true, text: i.days_late ?? "—" },
        ]);
      },
      "panel-actions": async () => {
        const r = await api("/dunning/actions?limit=1000&customer_id=" + enc);
        // one row per contact: the actions of one reminder (or one logged call) together
        const groups = new Map();
        for (const a of r.items) {
          const key = a.reminder_id || "call-" + a.id;
          if (!groups.has(key)) groups.set(key, Object.assign({}, a, { invoices: [] }));
          if (a.invoice_id) groups.get(key).invoices.push(a.invoice_id);
        }
        const rows = [...groups.values()].sort((a, b) => (a.send_on < b.send_on ? 1 : a.send_on > b.send_on ? -1 : b.id - a.id));
        return fillTable("actions", rows, (a) => [date(a.send_on), word("step_", a.step || a.action),
          word("channel_", a.channel), word("tone_", a.tone), word("state_", a.state), word("outcome_", a.outcome),
          invoiceList(a.invoices)]);
      },
      "panel-disputes": async () => {
        const rows = await api("/disputes?lang=" + LANG + "&customer_id=" + enc);
        const box = document.getElementById("disputes");
        box.replaceChildren(...rows.map(disputeCard));
        return rows.length ? "ok" : "empty";
      },
      "panel-promises": async () => {
        const rows = await api("/promises?customer_id=" + enc);
        return fillTable("promises", rows, (p) => [
          (p.instalments || []).length > 1
            ? el("ul", { class: "plan" }, ...p.instalments.map((i) => el("li", { text: date(i.due_on) + " · " + cents(i.amount, currency) + " · " + word("promise_", i.status) })))
            : date(p.promised_date),
          { num: true, text: cents(p.amount, currency) }, word("promise_", p.status), byWhom(p.created_by)]);
      },
      "panel-notes": async () => {
        const rows = await api("/customers/" + enc + "/notes");
        const list = document.getElementById("notes");
        list.replaceChildren(...rows.map((n) => el("li", {}, el("span", { class: "tile-hint", text: date(n.created_at) + " · " + byWhom(n.author) }),
          el("p", { text: n.body }))));
        return rows.length ? "ok" : "empty";
      },
      "panel-next-reminder": async () => nextReminder(),
    };

    function invoiceList(ids) {
      if (!ids.length) return "—";
      const shown = ids.slice(0, 3).join(", ");
      return ids.length > 3 ? shown + " " + fill(L.more_invoices, { n: ids.length - 3 }) : shown;
    }

    function fillInvoiceChoices() {
      const select = document.getElementById("call-invoice");
      select.replaceChildren(el("option", { value: "", text: L.whole_account }),
        ...openInvoices.map((i) => el("option", { value: i.invoice_id, text: i.invoice_id + " · " + cents(i.open_amount, i.currency) + " · " + date(i.due_date) })));
      const fieldset = document.getElementById("dispute-invoices");
      fieldset.querySelectorAll(".check").forEach((n) => n.remove());
      openInvoices.forEach((i, n) => {
        const box = el("input", { type: "checkbox", name: "invoice", value: i.invoice_id, id: "dispute-invoice-" + n });
        fieldset.append(el("div", { class: "check" }, box, el("label", { for: "dispute-invoice-" + n,
          text: i.invoice_id + " · " + cents(i.open_amount, i.currency) + " · " + L.due_date.toLowerCase() + " " + date(i.due_date) })));
      });
    }

    function disputeCard(d) {
      const card = el("article", { class: "dispute", id: "dispute-" + d.dispute_id });
      card.append(el("h3", { text: word("reason_", d.reason) + " · " + word("dispute_", d.status) }),
        el("p", { class: "tile-hint", text: date(d.opened_on) + " · " + cents(d.amount, currency) + " · " + d.age_days + " " + L.days
          + " · " + d.invoices.map((i) => i.invoice_id).join(", ") }));
      if (d.comments && d.comments.length) {
        card.append(el("ul", { class: "notes" }, ...d.comments.map((c) => el("li", {}, el("span", { class: "tile-hint", text: date(c.created_at) + " · " + byWhom(c.author) }), el("p", { text: c.body })))));
      }
      const formId = "form-dispute-" + d.dispute_id;
      const form = el("form", { id: formId, class: "inline-form", novalidate: "" });
      const statusId = formId + "-next";
      const commentId = formId + "-comment";
      const select = el("select", { id: statusId, name: "status" }, el("option", { value: "", text: L.keep_status }),
        ...(d.allowed_transitions || []).map((s) => el("option", { value: s, text: word("dispute_", s) })));
      form.append(el("label", { for: statusId, text: L.new_status }), select,
        el("label", { for: commentId, text: L.comment }), el("input", { id: commentId, name: "comment", maxlength: "5000" }),
        el("button", { type: "submit", text: L.move_dispute }), el("p", { class: "form-status", id: formId + "-status", role: "status" }));
      card.append(form);
      setTimeout(() => bindForm(formId, async (data) => {
        const status = textOrNull(data, "status");
        const comment = textOrNull(data, "comment");
        await apiSend("PATCH", "/disputes/" + encodeURIComponent(d.dispute_id), { status, comment });
        // this card is drawn again: its outcome line is written into the new one
        await reload("panel-disputes", "panel-actions", "panel-invoices");
      }), 0);
      return card;
    }

    async function nextReminder() {
      const box = document.getElementById("next-reminder");
      const r = await api("/dunning/actions?state=planned&limit=200&customer_id=" + enc);
      const planned = r.items.filter((a) => a.reminder_id).sort((a, b) => (a.send_on < b.send_on ? -1 : a.send_on > b.send_on ? 1 : a.id - b.id));
      if (!planned.length) {
        box.replaceChildren(el("p", { class: "hint", id: "no-next-reminder", text: L.no_next_reminder }));
        return "ok";
      }
      const first = planned[0];
      const reminder = await api("/reminders/" + encodeURIComponent(first.reminder_id));
      const parts = [el("p", { class: "tile-hint", text: date(reminder.send_on) + " · " + word("channel_", reminder.channel) + " · " + word("tone_", reminder.tone) }),
        el("p", {}, el("strong", { text: L.subject + " : " }), reminder.subject || "—"),
        el("pre", { class: "letter", id: "reminder-text", tabindex: "0", text: reminder.body_text })];
      if (reminder.pdf) {
        const button = el("button", { type: "button", class: "secondary", id: "reminder-pdf", text: L.pdf_letter });
        button.addEventListener("click", () => download("/reminders/" + encodeURIComponent(first.reminder_id) + "?format=pdf", first.reminder_id + ".pdf"));
        parts.push(button);
      }
      box.replaceChildren(...parts);
      return "ok";
    }

    function reload(...ids) {
      const subset = {};
      for (const key of ids) subset[key] = panels[key];
      subset["panel-profile"] = panels["panel-profile"];
      return runPanels(subset);
    }

    // --- the forms --------------------------------------------------------------------------
    bindForm("form-call", async (data, form) => {
      await apiSend("POST", "/calls", { customer_id: id, invoice_id: textOrNull(data, "invoice_id"),
        outcome: data.get("outcome"), note: textOrNull(data, "note") });
      form.reset();
      reload("panel-actions", "panel-notes");
    });
    // an instalment plan (échéancier): dated amounts instead of one amount and date
    const plan = document.getElementById("promise-plan");
    const rowsBox = document.getElementById("instalment-rows");
    let instalmentCount = 0;
    function addInstalment() {
      instalmentCount += 1;
      const n = instalmentCount;
      rowsBox.append(el("div", { class: "instalment" },
        el("label", { for: "instalment-date-" + n, text: L.due_date + " " + n }),
        el("input", { id: "instalment-date-" + n, name: "instalment_date", type: "date", required: "" }),
        el("label", { for: "instalment-amount-" + n, text: L.amount + " " + n }),
        el("input", { id: "instalment-amount-" + n, name: "instalment_amount", type: "number", min: "0.01", step: "0.01",
          max: "999999999999", required: "", inputmode: "decimal" })));
    }
    function showPlan() {
      document.querySelector("#form-promise .promise-single").hidden = plan.checked;
      document.querySelectorAll("#form-promise .promise-single input").forEach((i) => (i.disabled = plan.checked));
      document.getElementById("promise-instalments").hidden = !plan.checked;
      rowsBox.querySelectorAll("input").forEach((i) => (i.disabled = !plan.checked));
      if (plan.checked && !rowsBox.children.length) { addInstalment(); addInstalment(); }
    }
    plan.addEventListener("change", showPlan);
    document.getElementById("add-instalment").addEventListener("click", () => { addInstalment(); showPlan(); });
    bindForm("form-promise", async (data, form) => {
      const body = { customer_id: id, note: textOrNull(data, "note") };
      if (plan.checked) {
        const dates = data.getAll("instalment_date");
        body.instalments = data.getAll("instalment_amount").map((amount, i) => ({ due_on: dates[i], amount: String(amount) }));
      } else {
        body.amount = String(data.get("amount"));
        body.promised_date = data.get("promised_date");
      }
      await apiSend("POST", "/promises", body);
      form.reset();
      rowsBox.replaceChildren();
      instalmentCount = 0;
      showPlan();
      reload("panel-promises", "panel-next-reminder");
    });
    bindForm("form-dispute", async (data, form) => {
      const invoices = data.getAll("invoice").map((invoice_id) => ({ invoice_id }));
      if (!invoices.length) throw Object.assign(new Error("no invoice ticked"), { userText: L.select_invoices });
      await apiSend("POST", "/disputes?lang=" + LANG, { invoices, reason: data.get("reason"), comment: textOrNull(data, "comment") });
      form.reset();
      reload("panel-disputes", "panel-actions", "panel-next-reminder");
    });
    bindForm("form-note", async (data, form) => {
      await apiSend("POST", "/customers/" + enc + "/notes", { body: String(data.get("body")).trim() });
      form.reset();
      reload("panel-notes");
    });
    bindForm("form-assign", async (data) => {
      await apiSend("POST", "/worklist/assignments", { agent: textOrNull(data, "agent"), customer_ids: [id] });
      reload();
    });
    bindForm("form-hold", async (data) => {
      await apiSend("PATCH", "/customers/" + enc, { on_hold: true, on_hold_reason: textOrNull(data, "on_hold_reason"),
        on_hold_until: textOrNull(data, "on_hold_until") });
      reload("panel-next-reminder");
    });
    document.getElementById("hold-release").addEventListener("click", async () => {
      try {
        await apiSend("PATCH", "/customers/" + enc, { on_hold: false });
        say("form-hold", L.saved, "ok");
        reload();
      } catch (error) {
        say("form-hold", errorText(error), "error");
      }
    });
    const tomorrow = addDays(CONFIG.today, 1);
    document.getElementById("dry-run-date").value = tomorrow;
    bindForm("form-dry-run", async (data) => {
      const body = data.get("date") ? { date: data.get("date") } : {};
      const r = await apiSend("POST", "/customers/" + enc + "/dunning-preview", body);
      const box = document.getElementById("dry-run");
      if (!r.actions.length) {
        box.replaceChildren(el("p", { class: "hint", id: "dry-run-none", text: fill(L.tomorrow_none, { date: date(r.date) }) }));
        return " ";
      }
      const groups = new Map();
      for (const a of r.actions) {
        if (!groups.has(a.reminder_id)) groups.set(a.reminder_id, Object.assign({}, a, { invoices: [] }));
        groups.get(a.reminder_id).invoices.push(a.invoice_id);
      }
      box.replaceChildren(el("ul", { class: "plan", id: "dry-run-list" }, ...[...groups.values()].map((a) => el("li", {},
        el("strong", { text: date(a.send_on) + " · " + word("step_", a.step) + " (" + word("channel_", a.channel) + ", " + word("tone_", a.tone) + ")" }),
        " — " + invoiceList(a.invoices),
        el("ul", { class: "reasons" }, ...(a.reasons || []).map((x) => el("li", { text: x[LANG] || x.fr })))))));
      return " ";
    });
    document.getElementById("statement-pdf").addEventListener("click", () =>
      download("/customers/" + enc + "/statement?format=pdf&lang=" + LANG, "releve-" + id + ".pdf", "statement"));
    document.getElementById("statement-csv").addEventListener("click", () =>
      download("/customers/" + enc + "/statement?format=csv&lang=" + LANG, "releve-" + id + ".csv", "statement"));

    const optional = Promise.all([
      routeExists("PATCH", "/customers/{customer_id}").then((ok) => (document.getElementById("form-hold").hidden = !ok)),
      routeExists("GET", "/customers/{customer_id}/statement").then((ok) => {
        document.getElementById("statement-links").hidden = !ok;
        document.getElementById("statement-missing").hidden = ok;
      }),
    ]);
    return Promise.all([showWho(), optional, whoAmI().then((me) => (isManager(me) ? knownAgents() : null))])
      .then(() => runPanels(panels));
  }

  // a customer owing in several currencies: each currency's own balance, and what the totals above
  // (in the customer's currency, converted at today's rates) leave out for want of a rate
  function balanceNotes(c) {
    const parts = c.by_currency || [];
    if (parts.length < 2 && !(c.unconverted || []).length) return [];
    const notes = [[L.by_currency, parts.map((b) => cents(b.open_balance, b.currency)).join(" · ")]];
    const said = [];
    if (c.rate_date) said.push(fill(L.rates_of, { date: date(c.rate_date) }));
    if ((c.unconverted || []).length) said.push(fill(L.unconverted, { currencies: c.unconverted.join(", ") }));
    if (said.length) notes.push(["", said.join(" · ")]);
    return notes;
  }

  const byWhom = (actor) => (actor ? String(actor).split(":").slice(-1)[0] : "—");

  function historyChart(invoices) {
    const settled = invoices.filter((i) => i.settled_on && i.kind !== "credit_note")
      .sort((a, b) => (a.due_date < b.due_date ? -1 : 1));
    if (!settled.length) {
      notice("panel-history", L.no_data, "empty");
      return;
    }
    const late = settled.map((i) => i.days_late ?? 0);
    chart("chart-history", { type: "bar", data: { labels: settled.map((i) => date(i.due_date)), datasets: [{
      label: L.days_late, data: late, backgroundColor: late.map((d) => (d > 30 ? "#c62828" : d > 0 ? "#fb8c00" : "#43a047")),
    }] }, options: { plugins: { legend: { display: false }, tooltip: { callbacks: {
      title: (c) => settled[c[0].dataIndex].invoice_id + " · " + L.due_date + " " + c[0].label } } },
      scales: { y: { title: { display: true, text: L.days_late } } } } });
  }

  // --- approval queue -------------------------------------------------------------------------
  function approvals() {
    return Promise.all([showWho()]).then(() => runPanels({
      "panel-approvals": async () => {
        const box = document.getElementById("approvals");
        const r = await api("/dunning/actions?state=pending_approval&limit=200");
        // one card per reminder: a formal notice and its invoices are approved together
        const groups = new Map();
        for (const a of r.items) {
          const key = a.reminder_id || "action-" + a.id;
          if (!groups.has(key)) groups.set(key, Object.assign({}, a, { invoices: [] }));
          if (a.invoice_id) groups.get(key).invoices.push(a.invoice_id);
        }
        if (!groups.size) {
          box.replaceChildren(el("p", { class: "notice", id: "approvals-empty", text: L.nothing_to_approve }));
          return { quiet: true };
        }
        box.replaceChildren(...[...groups.values()].map(approvalCard));
        return "ok";
      },
    }));
  }

  function approvalCard(a) {
    const card = el("article", { class: "approval", id: "approval-" + a.id });
    const customerLink = el("a", { href: "/customers/" + encodeURIComponent(a.customer_id) + "?lang=" + LANG, text: a.customer_id });
    card.append(el("h2", {}, word("step_", a.step || a.action) + " · ", customerLink),
      el("p", { class: "tile-hint", text: date(a.send_on) + " · " + word("channel_", a.channel) + " · " + word("tone_", a.tone) + " · " + a.invoices.join(", ") }));
    const letter = el("pre", { class: "letter", tabindex: "0", text: L.loading });
    card.append(letter);
    if (a.reminder_id) {
      api("/reminders/" + encodeURIComponent(a.reminder_id)).then((r) => {
        letter.textContent = (r.subject ? r.subject + "\n\n" : "") + r.body_text;
        if (r.pdf) {
          const button = el("button", { type: "button", class: "secondary", text: L.pdf_letter });
          button.addEventListener("click", () => download("/reminders/" + encodeURIComponent(a.reminder_id) + "?format=pdf", a.reminder_id + ".pdf"));
          letter.after(button);
        }
      }).catch((e) => (letter.textContent = errorText(e)));
    } else letter.textContent = "—";
    const formId = "form-approval-" + a.id;
    const commentId = formId + "-comment";
    const form = el("form", { id: formId, class: "inline-form", novalidate: "" },
      el("label", { for: commentId, text: L.comment }), el("input", { id: commentId, name: "comment", maxlength: "500" }),
      el("button", { type: "submit", name: "decision", value: "approve", text: L.approve }),
      el("button", { type: "submit", name: "decision", value: "reject", class: "danger", text: L.reject }),
      el("p", { class: "form-status", id: formId + "-status", role: "status" }));
    card.append(form);
    let decision = "approve";
    form.querySelectorAll("button[name=decision]").forEach((b) => b.addEventListener("click", () => (decision = b.value)));
    setTimeout(() => bindForm(formId, async (data) => {
      await apiSend("POST", "/dunning/actions/" + a.id + "/" + decision, { comment: textOrNull(data, "comment") });
      form.querySelectorAll("button").forEach((b) => (b.disabled = true));
      card.classList.add("decided");
      return decision === "approve" ? L.approved : L.rejected;
    }), 0);
    return card;
  }

  // --- manager views --------------------------------------------------------------------------
  function manager() {
    const q = "?as_of=" + encodeURIComponent(CONFIG.as_of) + "&lang=" + LANG;
    let agingPromise = null;
    const agingByCustomer = () => (agingPromise = agingPromise || api("/reports/aging" + q + "&by=customer"));
    document.getElementById("as-of").value = CONFIG.as_of;
    return Promise.all([showWho()]).then(() => runPanels({
      "panel-aging-customers": async () => {
        const r = await agingByCustomer();
        // each currency on its own: amounts in their own currency, never added across currencies
        const parts = r.by_currency && r.by_currency.length ? r.by_currency : [{ currency: r.reporting_currency || REPORTING, rows: r.rows || [] }];
        const rows = [];
        for (const part of parts) for (const row of part.rows || []) rows.push(Object.assign({ currency: part.currency }, row));
        rows.sort((a, b) => Number(b.overdue) - Number(a.overdue));
        if (!rows.length) return "empty";
        const buckets = Object.keys(rows[0].buckets || {});
        const head = document.querySelector("#aging-customers thead");
        head.replaceChildren(el("tr", {}, el("th", { scope: "col", text: L.customer }), el("th", { scope: "col", text: L.agent }),
          ...buckets.map((b) => el("th", { scope: "col", class: "num", text: word("bucket_", b) })),
          el("th", { scope: "col", class: "num", text: L.total }), el("th", { scope: "col", text: L.invoices })));
        const body = document.querySelector("#aging-customers tbody");
        body.replaceChildren();
        rows.slice(0, 200).forEach((row, n) => {
          const drill = el("button", { type: "button", class: "link", "aria-expanded": "false", id: "drill-" + n, text: L.show_invoices });
          const tr = el("tr", {}, el("td", {}, el("a", { href: "/customers/" + encodeURIComponent(row.key) + "?lang=" + LANG, text: row.name || row.key })),
            el("td", { text: row.agent || L.unassigned }),
            ...buckets.map((b) => el("td", { class: "num", text: money(row.buckets[b], row.currency) })),
            el("td", { class: "num", text: money(row.total, row.currency) }), el("td", {}, drill));
          body.append(tr);
          drill.addEventListener("click", () => toggleInvoices(tr, drill, row, buckets.length + 4));
        });
        return "ok";
      },
      "panel-top-debtors": async () => {
        // ranked on the balance converted to the reporting currency; shown in its own currency too
        const r = await agingByCustomer();
        const own = new Map();
        for (const part of r.by_currency || []) for (const row of part.rows || []) own.set(row.key, Object.assign({ currency: part.currency }, row));
        const reporting = r.reporting_currency || REPORTING;
        const top = [...(r.rows || [])].sort((a, b) => Number(b.total) - Number(a.total)).slice(0, 10);
        document.getElementById("top-debtors-converted").textContent = fill(L.open_converted, { currency: reporting });
        return fillTable("top-debtors", top, (row) => {
          const mine = own.get(row.key);
          return [String(top.indexOf(row) + 1),
            el("a", { href: "/customers/" + encodeURIComponent(row.key) + "?lang=" + LANG, text: row.name || row.key }),
            { num: true, text: mine ? money(mine.total, mine.currency) : "—" },
            { num: true, text: money(row.total, reporting) },
            { num: true, text: mine ? money(mine.overdue, mine.currency) : "—" }, row.agent || L.unassigned];
        });
      },
      "panel-disputes-reason": async () => {
        const r = await api("/reports/disputes" + q);
        const rows = (r.rows || r).filter((x) => x.opened || x.open);
        const cur = r.reporting_currency || REPORTING;
        return fillTable("disputes-reason", rows, (x) => [word("reason_", x.reason), { num: true, text: x.open },
          { num: true, text: money(x.open_amount, cur) }, { num: true, text: num(x.average_open_age_days) },
          { num: true, text: num(x.average_resolution_days) }]);
      },
      "panel-activity": async () => {
        const rows = await api("/agents/activity?as_of=" + encodeURIComponent(CONFIG.as_of));
        return fillTable("activity", rows, (x) => [byWhom(x.actor), { num: true, text: x.calls }, { num: true, text: x.notes },
          { num: true, text: x.promises_obtained }, { num: true, text: x.promises_kept },
          { num: true, text: x.collected.length ? x.collected.map((c) => cents(c.amount, c.currency)).join(" + ") : "—" }]);
      },
    }));
  }

  async function toggleInvoices(tr, button, row, span) {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("drill")) {
      next.remove();
      button.setAttribute("aria-expanded", "false");
      return;
    }
    button.setAttribute("aria-expanded", "true");
    const cell = el("td", { colspan: String(span), text: L.loading });
    tr.after(el("tr", { class: "drill" }, cell));
    try {
      const r = await api("/invoices?limit=500&status=open&customer_id=" + encodeURIComponent(row.key));
      const table = el("table", { class: "data" }, el("thead", {}, el("tr", {}, ...[L.invoice, L.due_date, L.open_amount, L.days_late]
        .map((t) => el("th", { scope: "col", text: t })))), el("tbody", {}, ...r.items.filter((i) => i.currency === row.currency).map((i) => el("tr", {},
        el("td", { class: "mono", text: i.invoice_id }), el("td", { text: date(i.due_date) }),
        el("td", { class: "num", text: cents(i.open_amount, i.currency) }), el("td", { class: "num", text: i.days_late ?? "—" })))));
      cell.replaceChildren(table);
    } catch (e) {
      cell.textContent = errorText(e);
    }
  }

  // --- model page ---------------------------------------------------------------------------
  const METRICS = ["auc", "pr_auc", "brier", "log_loss", "ece"];

  function findMetrics(obj, depth) {
    // the metrics object is the first one (breadth first) that has an AUC
    if (!obj || typeof obj !== "object" || depth > 3) return null;
    if (typeof obj.auc === "number") return obj;
    for (const v of Object.values(obj)) {
      const found = findMetrics(v, depth + 1);
      if (found) return found;
    }
    return null;
  }

  let modelPromise = null;
  const modelInfo = () => (modelPromise = modelPromise || api("/model"));

  function model() {
    return runPanels({
      "panel-model": async () => {
        const m = await modelInfo();
        const scalars = (obj) => Object.entries(obj || {}).filter(([, v]) => v === null || typeof v !== "object");
        const shown = (k, v) => (v === null ? "—" : k === "status" ? word("model_status_", v)
          : k === "basis" ? word("basis_", v) : typeof v === "number" ? num(v) : String(v));
        facts("model-facts", scalars(m).concat(scalars(m.meta)).map(([k, v]) => [word("field_", k), shown(k, v)]));
        // the facts stay visible: the notice only says why there are so few
        if (m.status === "no_model") document.getElementById("model-facts").after(el("p", { class: "notice", text: L.no_model }));
      },
      "panel-metrics": async () => {
        const m = await modelInfo();
        const metrics = findMetrics(m, 0);
        if (!metrics) return "empty";
        const series = [[L.nav_model, metrics]].concat(Object.entries(metrics.baselines || {}));
        const colors = ["#1e88e5", "#90a4ae", "#ffb74d", "#a1887f"];
        chart("chart-metrics", { type: "bar", data: { labels: METRICS.filter((k) => typeof metrics[k] === "number"),
          datasets: series.map(([name, values], i) => ({ label: name, backgroundColor: colors[i % colors.length],
            data: METRICS.filter((k) => typeof metrics[k] === "number").map((k) => values[k] ?? null) })) } });
      },
      "panel-drift": async () => {
        const m = await modelInfo();
        // drift compares the served model's training sample with today: nothing to compare without one
        if (m.status !== "loaded") return { empty: L.no_model };
        const d = await api("/model/drift");
        // what to do comes first: retrain only when calibration on new outcomes degrades
        tile("drift-tiles", L.retrain, d.retrain_recommended ? L.retrain_yes : L.retrain_no);
        tile("drift-tiles", L.calibration_since, String((d.calibration || {}).n ?? 0));
        if (d.recommendation) document.getElementById("drift-tiles").append(
          el("p", { class: "recommendation" }, d.recommendation[LANG] || d.recommendation.fr));
        tile("drift-tiles", L.drift_share, pct(d.share_of_drifted_features));
        tile("drift-tiles", L.dataset_drift, d.dataset_drift ? L.yes : L.no);
        tile("drift-tiles", L.prediction_drift, d.prediction_drift ? L.yes : L.no);
        const cols = Object.entries(d.columns || {}).sort((a, b) => b[1].score - a[1].score).slice(0, 25);
        if (!cols.length) return "ok";
        chart("chart-drift", { type: "bar", data: { labels: cols.map(([k]) => k), datasets: [{ label: L.drift_score,
          data: cols.map(([, v]) => v.score), backgroundColor: cols.map(([, v]) => (v.drifted ? "#c62828" : "#90a4ae")) }] },
          options: { indexAxis: "y", plugins: { legend: { display: false } } } });
      },
    });
  }

  // --- login --------------------------------------------------------------------------------
  // The key is sent once, to POST /session, which answers with an HttpOnly cookie (scripts cannot
  // read it) for a working day; the field is emptied and the key is kept nowhere in the page.
  function login() {
    const form = document.getElementById("login-form");
    const message = document.getElementById("login-message");
    sessionStorage.removeItem("relance.apiKey");  // what an older version of this page kept
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const field = document.getElementById("api-key");
      const key = field.value.trim();
      message.hidden = true;
      let status;
      try {
        // the token too: a session still open (another tab) checks it like any change
        status = (await fetch("/session", { method: "POST", headers: { "Content-Type": "application/json",
          "X-CSRF-Token": csrfToken() },
          body: JSON.stringify({ api_key: key }) })).status;
      } catch (e) {
        status = 0;
      }
      field.value = "";
      if (status !== 200) {
        message.textContent = status === 401 || status === 422 ? L.login_bad_key : L.login_error;
        message.hidden = false;
        return;
      }
      const next = new URLSearchParams(location.search).get("next");
      // only a path of this site: never an open redirect
      location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/?lang=" + LANG);
    });
    relance.ready = true;
    document.body.dataset.ready = "1";
  }

  // the double-submit token of serving/web/session.py: sent with every change
  function csrfToken() {
    const found = document.cookie.split("; ").find((c) => c.startsWith("relance_csrf="));
    return found ? decodeURIComponent(found.slice("relance_csrf=".length)) : "";
  }

  // --- start --------------------------------------------------------------------------------
  function start() {
    const page = document.body.dataset.page;
    if (page === "login") return login();
    // no session cookie (never signed in, signed out, expired): the sign-in page
    if (!csrfToken()) return toLogin();
    document.getElementById("logout").addEventListener("click", async () => {
      try {
        await fetch("/session/logout", { method: "POST", headers: { "X-CSRF-Token": csrfToken() } });
      } finally {
        location.assign("/login?lang=" + LANG);
      }
    });
    if (typeof Chart !== "undefined") {
      Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    }
    showWho();
    ({ dashboard, customer, model, worklist: worklistPage, approvals, manager })[page]();
  }

  start();
})();
