// Keeps a half-filled rating in this browser (localStorage, keyed by the item's random id), so a
// reload, a closed tab or a trip to another page of the app (/live and back) does not lose the
// choices made so far. A transcript item and a live chat keep a draft each: a page with a rating
// form drops only the older drafts of its own kind (submitted, or no longer open), a page without
// one drops nothing. Signing out drops every draft. Without JavaScript the form still works;
// drafts just are not kept.
(function () {
  "use strict";
  var PREFIX = "mhc-draft:";
  var store;
  try { store = window.localStorage; } catch (e) { return; }
  if (!store) return;

  function dropDrafts(prefix, except) {
    for (var i = store.length - 1; i >= 0; i--) {
      var key = store.key(i);
      if (key && key.indexOf(prefix) === 0 && key !== except) store.removeItem(key);
    }
  }

  document.querySelectorAll("form.logout").forEach(function (form) {
    form.addEventListener("submit", function () { dropDrafts(PREFIX, null); });
  });

  var form = document.querySelector("form.rating");
  if (!form) return;
  var kind = PREFIX + (form.dataset.item.indexOf("live-") === 0 ? "live-" : "item-");
  var key = kind + form.dataset.item;
  dropDrafts(kind, key);

  function save() {
    var draft = {};
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token") draft[name] = value;
    });
    try { store.setItem(key, JSON.stringify(draft)); } catch (e) { /* storage full or blocked */ }
  }

  function restore() {
    var draft;
    try { draft = JSON.parse(store.getItem(key) || "null"); } catch (e) { draft = null; }
    if (!draft) return;
    Object.keys(draft).forEach(function (name) {
      var fields = form.querySelectorAll("[name='" + CSS.escape(name) + "']");
      if (!fields.length) return;
      if (fields[0].type === "radio") {
        var anyChecked = Array.prototype.some.call(fields, function (f) { return f.checked; });
        if (anyChecked) return;  // what the server showed (a refused submit) wins
        fields.forEach(function (f) { if (f.value === draft[name]) f.checked = true; });
      } else if (!fields[0].value) {
        fields[0].value = draft[name];
      }
    });
  }

  restore();
  form.addEventListener("change", save);
  form.addEventListener("input", save);
})();
