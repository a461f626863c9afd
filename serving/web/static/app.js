/* Relance dashboard: every figure comes from the JSON API, called with the key kept in
   sessionStorage. Each panel loads on its own: a missing endpoint (404/501) or any error shows an
   "unavailable" notice in that panel and never stops the others. Data is written with
   textContent, never innerHTML, so customer names cannot inject markup. */
(function () {
  "use strict";

  const CONFIG = JSON.parse(document.getElementById("relance-config").textContent);
  const L = CONFIG.labels;
  const LANG = CONFIG.lang;
  const LOCALE = LANG === "en" ? "en-GB" : "fr-FR";
  const KEY = "relance.apiKey";
  const GRADES = ["A", "B", "C", "D", "E"];
  const GRADE_COLORS = { A: "#2e7d32", B: "#7cb342", C: "#fbc02d", D: "#f57c00", E: "#c62828" };
  const STATE_COLORS = { sent: "#2e7d32", planned: "#1e88e5", failed: "#c62828", cancelled: "#9e9e9e" };

  const relance = (window.relance = { charts: {}, panels: {}, ready: false, config: CONFIG });

  // --- formatting ---------------------------------------------------------------------------
  // every amount in its own currency (the API says which): one formatter per currency, cached
  const moneyFormats = {};
  const moneyFormat = (currency, digits) => {
    const key = currency + "|" + digits;
    if (!moneyFormats[key]) {
      moneyFormats[key] = new Intl.NumberFormat(LOCALE, { style: "currency", currency,
        minimumFractionDigits: digits, maximumFractionDigits: digits });
    }
    return moneyFormats[key];
  };
  const numberFormat = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });
  const percentFormat = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 1 });
  const money = (v, currency, digits) => (v === null || v === undefined || v === "" || !currency ? "—"
    : moneyFormat(currency, digits === undefined ? 2 : digits).format(Number(v)));
  // chart axes and tiles: whole units are enough
  const money0 = (v, currency) => money(v, currency, 0);
  const num = (v) => (v === null || v === undefined ? "—" : numberFormat.format(Number(v)));
  const pct = (v) => (v === null || v === undefined ? "—" : percentFormat.format(Number(v)));
  const date = (iso) => (iso ? new Date(String(iso).slice(0, 10) + "T00:00:00").toLocaleDateString(LOCALE) : "—");
  const word = (prefix, id) => (id ? L[prefix + id] || id : "—");
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, k) => values[k]);

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
    const response = await fetch(url, {
      headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY), Accept: "application/json" },
    });
    if (response.status === 401) {
      sessionStorage.removeItem(KEY);
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
    try {
      const outcome = await load();
      if (outcome === "empty" || (outcome && outcome.empty)) {
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

  const moneyAxis = (currency) => ({ ticks: { callback: (v) => money0(v, currency) } });
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
        facts("last-run", [[L.run_date, date(run.run_date)], [L.run_state, L["run_state_" + run.state] || run.state],
          [L.run_created, report.created], [L.run_reminders, report.reminders],
          [L.run_sent, report.outbox ? report.outbox.sent : null],
          [L.run_warnings, (report.warnings || []).length ? report.warnings.join(" · ") : (run.error || "0")],
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
        tile("kpi-tiles", lastCei && lastCei.to_date ? L.kpi_cei_to_date : L.kpi_cei, cei === null ? "—" : num(cei) + " %",
          lastCei ? lastCei.month + (lastCei.to_date ? " · " + fill(L.to_date_until, { date: date(lastCei.end) }) : "") : null);
        tile("kpi-tiles", L.kpi_recovery, pct(k.period.recovery_rate));
      },
      "panel-dso": async () => {
        const r = await api("/reports/dso" + q);
        if (!r.trend.length) return "empty";
        note("panel-dso", currencyNote(r));
        // complete month ends, then as_of: a point inside its month is marked "to date"
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
        chart("chart-effectiveness", { type: "bar", data: { labels: steps.map((s) => word("step_", s)),
          datasets: windows.map((w, i) => ({ label: fill(L.within, { w }), backgroundColor: colors[i % 3],
            data: steps.map((s) => share(s, w)) })) },
          options: { scales: { y: { min: 0, max: 1, ticks: { callback: (v) => pct(v) } } },
            plugins: { tooltip: { callbacks: { label: (c) => c.dataset.label + " : " + pct(c.raw) } } } } });
      },
      "panel-worklist": async () => {
        const rows = await api("/worklist?limit=50");
        return fillTable("worklist", rows, (r) => [
          r.rank,
          el("a", { href: "/customers/" + encodeURIComponent(r.customer_id) + "?lang=" + LANG, class: "customer-link",
            text: r.name || r.customer_id }),
          r.segment, gradeBadge(r.grade),
          { num: true, text: money(r.value_at_risk_30, r.currency) }, { num: true, text: money(r.value_at_risk_90, r.currency) },
          { num: true, text: money(r.open_amount, r.currency) }, { num: true, text: money(r.overdue_amount, r.currency) },
          { num: true, text: r.days_overdue > 0 ? r.days_overdue : "—" }, { num: true, text: r.broken_promises || "—" },
          r.next_action ? word("channel_", r.next_action.channel) + " · " + date(r.next_action.send_on) +
            " · " + L.n_invoices.replace("{n}", (r.next_action.invoices || []).length || 1) : "—",
          r.assigned_agent, (r.reasons || []).map((x) => x.text).join(" · "),
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

  // --- customer page ------------------------------------------------------------------------

  // the statement is fetched with the key (a plain link would carry none), then saved
  function statementLinks(enc) {
    const box = document.getElementById("statement-links");
    if (!box) return;
    box.replaceChildren();
    for (const [format, label] of [["pdf", L.statement_pdf], ["csv", L.statement_csv]]) {
      const button = el("button", { type: "button", class: "link-button", "data-format": format, text: label });
      button.addEventListener("click", async () => {
        const response = await fetch(CONFIG.api + "/customers/" + enc + "/statement?format=" + format + "&lang=" + LANG,
          { headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY) } });
        if (!response.ok) return;
        const url = URL.createObjectURL(await response.blob());
        const a = el("a", { href: url, download: (LANG === "en" ? "statement-" : "releve-") + decodeURIComponent(enc) + "." + format });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      });
      box.append(button);
    }
  }

  function customer() {
    const id = CONFIG.customer_id;
    const enc = encodeURIComponent(id);
    // one request for the customer, shared: disputes and promises are in its currency
    let customerPromise = null;
    const info = () => (customerPromise = customerPromise || api("/customers/" + enc));
    const currencyOf = async () => (await info().catch(() => ({}))).currency;
    return runPanels({
      "panel-profile": async () => {
        const c = await info();
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
        facts("profile", [[L.segment, c.segment], [L.currency, c.currency], [L.terms, c.payment_terms_days + " " + L.days],
          [L.credit_limit, money(c.credit_limit, c.currency)], [L.exposure_vs_limit, exposure], [L.scenario, c.dunning_scenario], [L.email, c.email],
          [L.phone, c.phone], [L.agent, c.assigned_agent], [L.open_invoices, c.open_invoices],
          [L.open_amount, money(c.open_balance, c.currency)], [L.overdue_amount, money(c.overdue_balance, c.currency)],
          // type, hold, insolvency: sentences written by the server in both languages
          ...(c.statuses || []).map((s) => [L.customer_status, LANG === "en" ? s.en : s.fr])]);
        statementLinks(enc);
      },
      "panel-risk": async () => {
        const r = await api("/customers/" + enc + "/risk");
        const box = document.getElementById("risk");
        box.replaceChildren(el("div", { class: "risk-head" }, gradeBadge(r.grade),
          el("span", { class: "tile-value", text: r.score ?? "—" }), el("span", { class: "tile-hint", text: L.score })));
        const dl = el("dl", { class: "facts" });
        for (const [label, value] of [[L.p_late, pct(r.p_late ?? r.probability)],
          [L.expected_days_late, num(r.expected_days_late)],
          [L.basis, r.basis === "model" ? L.basis_model + " " + (r.model_version ?? "") : L.basis_rules]]) {
          dl.append(el("dt", { text: label }), el("dd", { text: value ?? "—" }));
        }
        const reasons = el("ul", { class: "reasons" });
        for (const x of r.reasons || r.top_reasons || []) {
          reasons.append(el("li", { text: x.sentence || x.text || x[LANG] || x.fr || x.feature }));
        }
        box.append(dl, el("h3", { text: L.reasons }), reasons);
      },
      "panel-invoices": async () => {
        const r = await api("/invoices?limit=1000&customer_id=" + enc);
        document.getElementById("invoice-count").textContent = "(" + r.total + ")";
        const rows = [...r.items].sort((a, b) => (a.due_date < b.due_date ? 1 : -1));
        historyChart(r.items);
        return fillTable("invoices", rows, (i) => [
          el("span", { class: "mono", text: i.invoice_id }), date(i.issue_date), date(i.due_date),
          { num: true, text: money(i.amount, i.currency) }, { num: true, text: money(i.open_amount, i.currency) },
          el("span", { class: "status status-" + i.status, text: word("status_", i.status) }),
          date(i.settled_on), { num: true, text: i.days_late ?? "—" },
        ]);
      },
      "panel-actions": async () => {
        // one row per task (a call, an e-mail, a letter) listing its invoices, not one per invoice
        const r = await api("/reminders?limit=200&customer_id=" + enc);
        return fillTable("actions", r.items, (t) => [date(t.send_on), word("channel_", t.channel),
          t.invoices.map((i) => i.invoice_id).join(", "), { num: true, text: money(t.total_open) },
          word("tone_", t.tone), word("state_", t.state)]);
      },
      "panel-disputes": async () => {
        const rows = await api("/disputes?customer_id=" + enc);
        const customerCurrency = await currencyOf();
        return fillTable("disputes", rows, (d) => [date(d.opened_on), d.reason_label || d.reason, word("dispute_", d.status),
          { num: true, text: money(d.amount, d.currency || customerCurrency) }]);
      },
      "panel-promises": async () => {
        const rows = await api("/promises?customer_id=" + enc);
        const customerCurrency = await currencyOf();
        return fillTable("promises", rows, (p) => [date(p.promised_date), { num: true, text: money(p.amount, p.currency || customerCurrency) }, word("promise_", p.status)]);
      },
      "panel-notes": async () => {
        const rows = await api("/customers/" + enc + "/notes");
        const list = document.getElementById("notes");
        list.replaceChildren(...rows.map((n) => el("li", {}, el("span", { class: "tile-hint", text: date(n.created_at) + " · " + n.author }),
          el("p", { text: n.body }))));
        return rows.length ? "ok" : "empty";
      },
    });
  }

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
        facts("model-facts", scalars(m).concat(scalars(m.meta)).map(([k, v]) => [L["field_" + k] || k, shown(k, v)]));
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
        if (m.status === "no_model") return { empty: L.no_model };
        const d = await api("/model/drift");
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
  function login() {
    const form = document.getElementById("login-form");
    const message = document.getElementById("login-message");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = document.getElementById("api-key").value.trim();
      message.hidden = true;
      let status;
      try {
        // any role may list invoices: 401 is the only answer that means a bad key
        status = (await fetch(CONFIG.api + "/invoices?limit=1", { headers: { Authorization: "Bearer " + key } })).status;
      } catch (e) {
        status = 0;
      }
      if (status === 401 || status === 0) {
        message.textContent = status === 0 ? L.login_error : L.login_bad_key;
        message.hidden = false;
        return;
      }
      sessionStorage.setItem(KEY, key);
      const next = new URLSearchParams(location.search).get("next");
      // only a path of this site: never an open redirect
      location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/?lang=" + LANG);
    });
    relance.ready = true;
    document.body.dataset.ready = "1";
  }

  // --- approvals -----------------------------------------------------------------------------
  async function post(path, body) {
    const response = await fetch(CONFIG.api + path, {
      method: "POST",
      headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY), "Content-Type": "application/json",
        Accept: "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new ApiError(response.status);
    return response.json();
  }

  function approvals() {
    runPanels({
      "panel-approvals": async () => {
        const rows = await api("/dunning/approvals");
        if (!rows.length) return "empty";
        return fillTable("approvals", rows, (r) => {
          const comment = el("input", { type: "text", maxlength: "1000", class: "comment", "aria-label": L.comment });
          const decide = (verb) => async () => {
            const first = r.invoices.find((i) => i.state === "pending_approval") || r.invoices[0];
            await post("/dunning/actions/" + first.action_id + "/" + verb, { comment: comment.value || null });
            approve.closest("tr").replaceChildren(
              el("td", { colspan: "7", class: "decided", text: L.decided + " : " + r.customer_id + " — " + L[verb] }));
          };
          const approve = el("button", { type: "button", class: "approve", text: L.approve });
          const reject = el("button", { type: "button", class: "reject", text: L.reject });
          approve.addEventListener("click", decide("approve"));
          reject.addEventListener("click", decide("reject"));
          return [date(r.send_on),
            el("a", { href: "/customers/" + encodeURIComponent(r.customer_id) + "?lang=" + LANG, text: r.customer_name || r.customer_id }),
            word("channel_", r.channel), r.invoices.map((i) => i.invoice_id).join(", "),
            { num: true, text: money(r.total_open) }, comment, el("span", {}, approve, " ", reject)];
        });
      },
    });
  }

  // --- start --------------------------------------------------------------------------------
  function start() {
    const page = document.body.dataset.page;
    if (page === "login") return login();
    if (!sessionStorage.getItem(KEY)) return toLogin();
    document.getElementById("logout").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      location.assign("/login?lang=" + LANG);
    });
    if (typeof Chart !== "undefined") {
      Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      Chart.defaults.locale = LOCALE;
    }
    ({ dashboard, customer, model, approvals })[page]();
  }

  start();
})();
