/* The model page's reminder-policy panel (docs/policy.md): the newest stored off-policy
   evaluation, and — for analysts and admins, when its gain's lower bound is above zero — the
   button that switches it on (POST …/activate; the API refuses anything else with a sentence). */
(function () {
  "use strict";
  const panel = document.getElementById("panel-policy");
  if (!panel) return;
  const words = JSON.parse(panel.dataset.words);
  const lang = document.documentElement.lang === "en" ? "en" : "fr";
  // numbers are written by the server (Babel, through app.js), as everywhere else on the pages
  const relance = window.relance;
  const num = (v) => relance.format.num(v);
  const signed = (v) => (Number(v) > 0 ? "+" : "") + relance.format.num(v);
  // a code the catalogue does not know is never shown as it is (the browser tests list them)
  const word = (code) => {
    if (words[code]) return words[code];
    relance.unlabelled.push(code);
    return "—";
  };
  // the pages' session cookie goes along; a change carries its CSRF token (serving/web/session.py)
  const csrf = () => decodeURIComponent((document.cookie.split("; ").find((c) => c.startsWith("relance_csrf=")) || "=").split("=")[1]);
  const headers = () => ({ Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf() });

  function row(list, term, value) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = value;
    list.append(dt, dd);
  }

  function show(evaluation) {
    const list = document.getElementById("policy-facts");
    list.replaceChildren();
    const r = evaluation.result;
    // "learned", or the name of the analyst's policy file as they gave it
    row(list, words.candidate, words[evaluation.candidate] || evaluation.candidate);
    row(list, words.metric, word(evaluation.metric));
    row(list, words.state, word(evaluation.state));
    row(list, words.n, num(evaluation.n));
    row(list, words.logged, num(r.logged_value));
    row(list, words.ips, r.ips === null ? "—" : num(r.ips));
    row(list, words.snips, r.snips === null ? "—" : num(r.snips));
    row(list, words.dr, num(r.dr));
    row(list, words.ci, "[" + num(r.dr_ci[0]) + " ; " + num(r.dr_ci[1]) + "]");
    if (r.simulated !== undefined && r.simulated !== null) {
      row(list, words.simulated, num(r.simulated));
      row(list, words.simulated_logged, num(r.simulated_logged));
    }
    row(list, words.gain, signed(evaluation.gain_low));
    const actions = document.getElementById("policy-actions");
    actions.replaceChildren();
    if (evaluation.state === "active") return;
    if (!evaluation.can_activate) {
      actions.textContent = words.cannot;
      return;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.id = "policy-activate";
    button.textContent = words.activate;
    button.addEventListener("click", async () => {
      const response = await fetch("/api/v1/policy/evaluations/" + evaluation.id + "/activate?lang=" + lang,
                                   { method: "POST", headers: headers(), body: "{}" });
      const body = await response.json().catch(() => ({}));
      const outcome = document.getElementById("policy-outcome");
      if (response.ok) { show(body); outcome.textContent = words.active; }
      else outcome.textContent = (body.errors && body.errors[0] && body.errors[0].message) || body.detail || "";
    });
    actions.append(button);
  }

  async function load() {
    const response = await fetch("/api/v1/policy/evaluations", { headers: headers() });
    if (!response.ok) { panel.hidden = response.status === 403; return; }
    const evaluations = await response.json();
    if (evaluations.length) show(evaluations[0]);
  }

  load();
})();
