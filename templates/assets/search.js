/* factsheet search: matches the words typed against every record's names, aliases, tags,
   summary and text. The index is search/records.js, loaded before this file as a plain
   script (a page opened from disk may load scripts, not fetch files). Case and diacritics
   are folded on both sides, so "qizilbulaq" finds "Qızılbulaq". No inline code, no
   innerHTML: the page works under a strict Content-Security-Policy. */
(function () {
  "use strict";

  var MAX_RESULTS = 50;
  // How much a word found in each field counts; a word must be found in some field.
  var WEIGHTS = { name: 10, aliases: 8, tags: 4, summary: 3, text: 1 };

  var form = document.getElementById("search-form");
  var input = document.getElementById("search-query");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  if (!form || !input || !status || !list) {
    return;
  }

  function fold(text) {
    return (" " + text + " ")
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/\u0131/g, "i")
      .replace(/[^\p{L}\p{N}]+/gu, " ");
  }

  function words(query) {
    return fold(query).split(" ").filter(function (w) { return w.length > 0; });
  }

  function say(message) {
    status.textContent = message;
  }

  var data = self.factsheetSearch;
  if (!data || !Array.isArray(data.records)) {
    say(
      "The search index (search/records.js) did not load. " +
        (location.protocol === "file:"
          ? "This page was opened from disk: keep the whole site folder together, " +
            "or serve it (run 'python3 -m http.server' in the site folder and open " +
            "http://127.0.0.1:8000/search/index.html)."
          : "Reload the page; if it still fails, the site was published without it.")
    );
    return;
  }

  var records = data.records.map(function (r) {
    return {
      record: r,
      name: fold(r.name),
      aliases: r.aliases.map(fold),
      tags: fold(r.tags.join(" ")),
      summary: fold(r.summary),
      text: fold(r.text)
    };
  });

  // The score of one word in one folded field: whole word 3, start of a word 2, inside 1.
  function found(word, field) {
    if (field.indexOf(" " + word + " ") >= 0) return 3;
    if (field.indexOf(" " + word) >= 0) return 2;
    return word.length >= 3 && field.indexOf(word) >= 0 ? 1 : 0;
  }

  function score(entry, query) {
    var total = 0;
    var alias = null;
    for (var i = 0; i < query.length; i++) {
      var word = query[i];
      var best = found(word, entry.name) * WEIGHTS.name;
      for (var a = 0; a < entry.aliases.length; a++) {
        var s = found(word, entry.aliases[a]) * WEIGHTS.aliases;
        if (s > best) {
          best = s;
          alias = entry.record.aliases[a];
        }
      }
      best = Math.max(
        best,
        found(word, entry.tags) * WEIGHTS.tags,
        found(word, entry.summary) * WEIGHTS.summary,
        found(word, entry.text) * WEIGHTS.text
      );
      if (best === 0) return null;
      total += best;
    }
    return { score: total, alias: alias };
  }

  function excerpt(text, query) {
    var folded = fold(text);
    for (var i = 0; i < query.length; i++) {
      var at = folded.indexOf(query[i]);
      if (at >= 0) {
        // Folding keeps one character per character for most scripts; good enough to cut.
        var start = Math.max(0, at - 60);
        var cut = text.slice(start, start + 180);
        return (start > 0 ? "… " : "") + cut + (start + 180 < text.length ? " …" : "");
      }
    }
    return "";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function show(query) {
    var terms = words(query);
    list.replaceChildren();
    if (terms.length === 0) {
      say("Type a name, an alias in any script, or any word of a story or fact sheet.");
      return;
    }
    var hits = [];
    records.forEach(function (entry) {
      var result = score(entry, terms);
      if (result) hits.push({ entry: entry, score: result.score, alias: result.alias });
    });
    hits.sort(function (a, b) {
      return b.score - a.score || a.entry.name.localeCompare(b.entry.name);
    });
    var shown = hits.slice(0, MAX_RESULTS);
    shown.forEach(function (hit) {
      var r = hit.entry.record;
      var item = element("li", "search-result");
      var heading = element("p", "search-title");
      var link = element("a", "", r.name);
      link.href = r.url;
      heading.appendChild(element("span", "kind", r.kind));
      heading.appendChild(document.createTextNode(" "));
      heading.appendChild(link);
      item.appendChild(heading);
      if (hit.alias) {
        item.appendChild(element("p", "search-alias", "Also known as " + hit.alias));
      }
      var summary = r.summary || excerpt(r.text, terms);
      if (summary) item.appendChild(element("p", "search-summary", summary));
      list.appendChild(item);
    });
    var count = hits.length === 1 ? "1 result" : hits.length + " results";
    say(
      (hits.length === 0 ? "Nothing found" : count) +
        " for \u201c" + query.trim() + "\u201d" +
        (hits.length > MAX_RESULTS ? "; the first " + MAX_RESULTS + " are shown." : ".")
    );
  }

  function remember(query) {
    var url = new URL(location.href);
    url.searchParams.set("q", query);
    try {
      history.replaceState(null, "", url);
    } catch (error) {
      // Some browsers refuse history changes on file:// pages; the search still works.
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    remember(input.value);
    show(input.value);
  });
  input.addEventListener("input", function () {
    remember(input.value);
    show(input.value);
  });

  var initial = new URLSearchParams(location.search).get("q") || "";
  input.value = initial;
  show(initial);
})();
