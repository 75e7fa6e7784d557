// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); });
  }

  // focus management: the error summary first, else the page heading, so screen readers start there
  document.addEventListener("DOMContentLoaded", function () {
    var target = $("#error-summary") || $("#rollback") || (document.activeElement === document.body && !$("[autofocus]") ? $("h1") : null);
    if (target) { target.focus(); }

    // show only the fields that apply to the chosen option
    function toggle(name, map) {
      var radios = document.querySelectorAll("input[name=" + name + "]");
      if (!radios.length) { return; }
      function update() {
        var v = ($("input[name=" + name + "]:checked") || {}).value;
        Object.keys(map).forEach(function (sel) {
          var el = $(sel); if (el) { el.hidden = map[sel].indexOf(v) < 0; }
        });
      }
      radios.forEach(function (r) { r.addEventListener("change", update); });
      update();
    }
    toggle("mode", { ".static-only": ["static"] });
    toggle("role", { ".role-cluster": ["cluster"], ".role-enrol": ["enrol"], ".role-token": ["join", "enrol"] });

    // network trial: count down and reload when it is rolled back (the box may be unreachable meanwhile)
    var trial = $("#trial");
    if (trial) {
      var left = parseInt($("#countdown").textContent, 10);
      var timer = setInterval(function () {
        left = Math.max(0, left - 1);
        $("#countdown").textContent = left;
        getJSON(trial.dataset.poll).then(function (d) {
          if (!d.trial || d.trial.status !== trial.dataset.status) { clearInterval(timer); location.reload(); }
        }).catch(function () { /* unreachable while the new settings are live: keep waiting */ });
      }, 1000);
    }

    // apply progress: poll and update the task list in place
    var prog = $("#progress");
    if (prog && prog.dataset.status === "running") {
      var poll = setInterval(function () {
        getJSON(prog.dataset.poll).then(function (d) {
          var run = d.apply; if (!run) { return; }
          run.tasks.forEach(function (t) {
            var li = prog.querySelector('[data-id="' + t.id + '"]'); if (!li) { return; }
            li.className = "task " + t.status;
            li.querySelector(".status").textContent = t.status;
            li.querySelector(".detail").textContent = t.detail || "";
          });
          if (run.status !== "running") { clearInterval(poll); location.reload(); }
        }).catch(function () {});
      }, 700);
    }

    // health dashboard refresh
    var health = $("#health");
    if (health) {
      setInterval(function () {
        getJSON(health.dataset.poll).then(function (d) {
          d.services.forEach(function (s) {
            var row = health.querySelector('[data-unit="' + s.unit + '"] .badge'); if (!row) { return; }
            row.className = "badge " + (s.healthy ? "ok" : "bad");
            row.textContent = s.healthy ? "healthy" : s.detail;
          });
        }).catch(function () {});
      }, 5000);
    }
  });
})();
