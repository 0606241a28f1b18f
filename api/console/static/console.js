// Axiom console: presentation only (local times, theme, the chart, the live feed, select-all).
// Every decision is made by the server; this file only shows what it answers.
(function () {
  "use strict";

  // One formatter for every <time>: toLocaleString() builds a new one per call, which costs
  // hundreds of milliseconds on a page with a few hundred times.
  var localFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

  function localTimes(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.textContent = localFormat.format(d);
      el.dataset.local = "1";
    });
  }

  function toast(text) {
    var box = document.getElementById("toast");
    if (box) box.textContent = text;
  }

  function setupTheme() {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", function () {
      var root = document.documentElement;
      var dark = root.dataset.theme ? root.dataset.theme === "dark"
        : window.matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      localStorage.setItem("axiom-theme", root.dataset.theme);
    });
  }

  var chart = null;
  var chartMinutes = 60;

  function loadChart() {
    var canvas = document.getElementById("throughput");
    if (!canvas || typeof Chart === "undefined") return;
    fetch("/console/throughput.json?minutes=" + chartMinutes, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (rows) {
        var labels = rows.map(function (r) {
          return new Date(r.minute + ":00Z").toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        });
        var received = rows.map(function (r) { return r.received; });
        var processed = rows.map(function (r) { return r.processed; });
        if (chart) {
          chart.data.labels = labels;
          chart.data.datasets[0].data = received;
          chart.data.datasets[1].data = processed;
          chart.update("none");
          return;
        }
        chart = new Chart(canvas, {
          type: "line",
          data: {
            labels: labels,
            datasets: [
              { label: "Received", data: received, borderColor: "#2f7ed8", pointStyle: "circle" },
              { label: "Processed", data: processed, borderColor: "#2a9d4b", borderDash: [6, 3], pointStyle: "rect" },
            ],
          },
          options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
        });
      });
  }

  function setupChart() {
    document.querySelectorAll("button.period").forEach(function (b) {
      b.addEventListener("click", function () {
        chartMinutes = parseInt(b.dataset.minutes, 10);
        document.querySelectorAll("button.period").forEach(function (o) {
          o.setAttribute("aria-pressed", o === b ? "true" : "false");
        });
        loadChart();
      });
    });
    loadChart();
  }

  function setupEvents() {
    var path = document.body.dataset.events;
    if (!path) return;
    var state = document.getElementById("live-state");
    var feed = document.getElementById("event-feed");
    var pending = null;
    function connect() {
      var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
      ws.onopen = function () { if (state) state.textContent = "Live updates: connected"; };
      ws.onclose = function () {
        if (state) state.textContent = "Live updates: reconnecting…";
        setTimeout(connect, 2000);
      };
      ws.onmessage = function (message) {
        var event = JSON.parse(message.data);
        if (feed) {
          var li = document.createElement("li");
          var when = document.createElement("time");
          when.setAttribute("datetime", event.ts);
          when.title = event.ts;
          li.appendChild(when);
          li.appendChild(document.createTextNode(" " + event.event + " " + (event.sop_instance_uid || "") +
            (event.destination ? " → " + event.destination : "") + (event.status ? " (" + event.status + ")" : "")));
          feed.insertBefore(li, feed.firstChild);
          while (feed.children.length > 50) feed.removeChild(feed.lastChild);
          localTimes(feed);
        }
        // Coalesced: one refresh of the panels and the chart at most every 700 ms, always after the last event.
        if (!pending) {
          pending = setTimeout(function () {
            pending = null;
            document.body.dispatchEvent(new CustomEvent("axiom-refresh"));
            loadChart();
          }, 700);
        }
      };
    }
    connect();
  }

  function setupSelectAll(root) {
    root.querySelectorAll("input[data-select-all]").forEach(function (box) {
      if (box.dataset.bound) return;
      box.dataset.bound = "1";
      box.addEventListener("change", function () {
        document.querySelectorAll("input[name='ids']").forEach(function (o) { o.checked = box.checked; });
      });
    });
  }

  // The YAML editors (a ruleset, a destination): which line the cursor is on (the server answers the
  // keys allowed there, or the values allowed for the line's key); a click on a suggested key types
  // it at the cursor, a click on a value puts it after the line's colon in place of what was typed.
  function editorArea() {
    return document.querySelector("textarea.completes");
  }

  window.axiomCursorLine = function () {
    var area = editorArea();
    return area ? area.value.slice(0, area.selectionStart).split("\n").length : 1;
  };

  document.addEventListener("click", function (e) {
    var key = e.target.closest && e.target.closest("button[data-complete], button[data-complete-value]");
    var area = editorArea();
    if (!key || !area) return;
    if (key.dataset.completeValue !== undefined) {
      var start = area.value.lastIndexOf("\n", area.selectionStart - 1) + 1;
      var end = area.value.indexOf("\n", area.selectionStart);
      if (end < 0) end = area.value.length;
      var colon = area.value.indexOf(":", start);
      if (colon < 0 || colon >= end) return;
      area.setRangeText(" " + key.dataset.completeValue, colon + 1, end, "end");
    } else {
      area.setRangeText(key.dataset.complete + ": ", area.selectionStart, area.selectionEnd, "end");
    }
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  });

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    setupTheme();
    setupChart();
    setupEvents();
    setupSelectAll(document);
    document.body.addEventListener("htmx:afterSettle", function (e) {
      localTimes(e.target);
      setupSelectAll(e.target);
    });
    document.body.addEventListener("htmx:responseError", function (e) {
      toast("The server answered " + e.detail.xhr.status + ": " + e.detail.xhr.responseText.slice(0, 200));
    });
  });
})();
