/* Communiqué dashboard: live updates of the Meetings page.
 * The list carries data-changes (the URL to poll, with the page's filters), data-cursor (the newest change
 * seen) and data-poll (milliseconds). Every poll returns the changed meetings that match the filters as
 * server-rendered, escaped HTML; a card is inserted at its place in the order (date desc, undated last,
 * id desc), replaced when its stamp changed, and removed when the meeting no longer matches. */
(function () {
  "use strict";

  function sortKey(article) {
    return [article.getAttribute("data-date") || "", article.getAttribute("data-id") || ""];
  }

  // True when key a comes before key b: newest date first, undated last, then id descending.
  function comesBefore(a, b) {
    if (a[0] !== b[0]) {
      if (!a[0]) { return false; }
      if (!b[0]) { return true; }
      return a[0] > b[0];
    }
    return a[1] > b[1];
  }

  function itemOf(id) {
    var article = document.getElementById("m-" + id);
    return article ? article.closest("li") : null;
  }

  function live(list) {
    var url = list.getAttribute("data-changes");
    var cursor = Number(list.getAttribute("data-cursor") || "0");
    var delay = Math.max(500, Number(list.getAttribute("data-poll") || "3000"));
    var paged = list.getAttribute("data-more") === "true";
    var status = document.getElementById("live-status");
    var failures = 0;

    function say(text) {
      if (status) { status.textContent = text; }
    }

    function place(li, key) {
      var items = list.children;
      for (var i = 0; i < items.length; i++) {
        var other = items[i].querySelector("article.meeting");
        if (other && comesBefore(key, sortKey(other))) {
          list.insertBefore(li, items[i]);
          return true;
        }
      }
      // After the last card shown: on a paged list it belongs to a later page.
      if (paged) { return false; }
      list.appendChild(li);
      return true;
    }

    function apply(data) {
      var added = 0;
      var updated = 0;
      (data.gone || []).forEach(function (id) {
        var li = itemOf(id);
        if (li) { li.remove(); }
      });
      (data.items || []).forEach(function (item) {
        var existing = itemOf(item.id);
        if (existing) {
          var article = existing.querySelector("article.meeting");
          if (article && article.getAttribute("data-stamp") === item.stamp) { return; }
        }
        var tpl = document.createElement("template");
        tpl.innerHTML = item.html.trim();
        var li = tpl.content.firstElementChild;
        if (!li) { return; }
        if (existing) {
          existing.replaceWith(li);
          li.classList.add("updated");
          updated++;
          return;
        }
        if (place(li, [item.date || "", item.id])) {
          li.classList.add("new");
          added++;
        }
      });
      if (added || updated) {
        var empty = document.getElementById("empty");
        if (empty) { empty.remove(); }
        var parts = [];
        if (added) { parts.push(added + (added === 1 ? " new meeting" : " new meetings")); }
        if (updated) { parts.push(updated + (updated === 1 ? " meeting updated" : " meetings updated")); }
        say(parts.join(", ") + " at " + new Date().toLocaleTimeString() + ".");
      }
    }

    function poll() {
      if (document.hidden) { schedule(); return; }
      var sep = url.indexOf("?") >= 0 ? "&" : "?";
      fetch(url + sep + "after=" + encodeURIComponent(String(cursor)), {
        headers: { "Accept": "application/json" },
        cache: "no-store",
        credentials: "same-origin"
      }).then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      }).then(function (data) {
        if (typeof data.cursor === "number") { cursor = data.cursor; }
        list.setAttribute("data-cursor", String(cursor));
        if (failures) { say("Live updates resumed."); }
        failures = 0;
        apply(data);
      }).catch(function () {
        failures++;
        if (failures === 2) { say("Live updates paused: the server does not answer. Retrying."); }
      }).then(schedule);
    }

    function schedule() {
      window.setTimeout(poll, failures ? Math.min(delay * (failures + 1), 60000) : delay);
    }

    schedule();
  }

  function start() {
    var list = document.getElementById("meetings");
    if (list && list.getAttribute("data-changes")) { live(list); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
