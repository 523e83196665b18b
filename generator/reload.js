// factsheet serve: reload the page after each build, and show a failed build's errors over
// it. Served by the development server only (the built site never contains it). It builds
// the overlay with DOM methods and textContent, so no content can inject markup.
(function () {
  "use strict";
  var script = document.currentScript;
  var loaded = script ? script.getAttribute("data-build") : null;
  var overlay = null;

  function element(tag, text, style) {
    var node = document.createElement(tag);
    if (text) node.textContent = text;
    if (style) Object.assign(node.style, style);
    return node;
  }

  function problemView(problem) {
    var item = element("li", null, { margin: "0 0 1.5em" });
    item.appendChild(element("div", problem.path + ":" + problem.line + ":" + problem.column,
      { fontWeight: "bold" }));
    item.appendChild(element("div", problem.message + " [" + problem.code + "]",
      { margin: "0.25em 0 0.5em" }));
    if (problem.context.length) {
      var code = element("pre", null, {
        margin: "0", padding: "0.5em", background: "#fff", color: "#111",
        border: "1px solid #d9a0a0", overflowX: "auto", font: "0.9em/1.4 monospace"
      });
      problem.context.forEach(function (entry) {
        var number = entry[0];
        var here = number === problem.line;
        var row = element("div", (here ? "> " : "  ") + String(number).padStart(4) + " | " + entry[1],
          here ? { background: "#fde2e2", fontWeight: "bold" } : null);
        code.appendChild(row);
        if (here && problem.column > 0) {
          code.appendChild(element("div",
            "       | " + " ".repeat(problem.column - 1) + "^", { color: "#b00020" }));
        }
      });
      item.appendChild(code);
    }
    return item;
  }

  function show(status) {
    hide();
    overlay = element("div", null, {
      position: "fixed", inset: "0", zIndex: "2147483647", overflowY: "auto",
      background: "rgba(255, 245, 245, 0.98)", color: "#111", padding: "2em",
      font: "16px/1.5 system-ui, sans-serif"
    });
    overlay.setAttribute("role", "alertdialog");
    overlay.setAttribute("aria-label", "The site was not rebuilt");
    overlay.id = "factsheet-errors";
    var count = status.problems.length;
    overlay.appendChild(element("h1", "The site was not rebuilt: " + count + " error" +
      (count === 1 ? "" : "s"), { fontSize: "1.4em", margin: "0 0 0.25em", color: "#b00020" }));
    overlay.appendChild(element("p",
      "Fix the file and save: this page comes back by itself. The terminal shows the same.",
      { margin: "0 0 1.5em" }));
    var list = element("ol", null, { padding: "0", listStyle: "none" });
    status.problems.forEach(function (problem) { list.appendChild(problemView(problem)); });
    overlay.appendChild(list);
    document.body.appendChild(overlay);
  }

  function hide() {
    if (overlay) overlay.remove();
    overlay = null;
  }

  function update(status) {
    if (!status.ok) {
      show(status);
    } else if (status.build !== loaded) {
      window.location.reload();
    } else {
      hide();
    }
  }

  if (window.EventSource) {
    var events = new EventSource("/__factsheet/events");
    events.onmessage = function (message) {
      var status;
      try {
        status = JSON.parse(message.data);
      } catch (error) {
        return; // a message cut short while the page unloads: the next one says it all
      }
      update(status);
    };
  } else {
    window.setInterval(function () {
      fetch("/__factsheet/status", { cache: "no-store" })
        .then(function (response) { return response.json(); })
        .then(update)
        .catch(function () {});
    }, 1000);
  }
})();
