/* CivicDesk portal: small progressive enhancements. Every page works without this file.
   Texts come from data-* attributes rendered by the (translated) templates. */
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }
  function fill(template, n) { return (template || "").replace("__N__", String(n)); }

  /* --- Forms: one submission at a time, confirmation where asked -------------------------- */
  function initForms() {
    $all("form[data-once]").forEach(function (form) {
      if (form.dataset.onceReady) { return; }
      form.dataset.onceReady = "1";
      form.addEventListener("submit", function (event) {
        var question = form.getAttribute("data-confirm");
        if (question && !window.confirm(question)) { event.preventDefault(); return; }
        if (form.dataset.sending === "1") { event.preventDefault(); return; }
        form.dataset.sending = "1";
        $all("button[type=submit]", form).forEach(function (button) {
          button.setAttribute("aria-busy", "true");
          if (button.dataset.busyText) { button.textContent = button.dataset.busyText; }
        });
      });
    });
  }

  /* --- Category picker: search, extra attributes, complaint-only fields ------------------- */
  function initCategoryPicker() {
    var search = $("[data-category-search]");
    if (!search) { return; }
    search.hidden = false;
    var input = $("input", search);
    var count = $("[data-category-count]", search);
    var items = $all("[data-category-item]");
    input.addEventListener("input", function () {
      var words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      items.forEach(function (item) {
        var haystack = item.getAttribute("data-search") || "";
        var match = words.every(function (w) { return haystack.indexOf(w) !== -1; });
        var checked = $("input:checked", item);
        item.hidden = !match && !checked;
        if (!item.hidden) { shown += 1; }
      });
      count.textContent = fill(count.getAttribute("data-template"), shown);
    });

    function update() {
      var chosen = $("input[name=category]:checked");
      var code = chosen ? chosen.value : "";
      var kind = chosen ? chosen.getAttribute("data-kind") : "";
      $all("[data-attributes-for]").forEach(function (fieldset) {
        fieldset.hidden = fieldset.getAttribute("data-attributes-for") !== code;
      });
      $all("[data-complaint-only]").forEach(function (el) { el.hidden = kind !== "complaint"; });
    }
    $all("input[name=category]").forEach(function (radio) { radio.addEventListener("change", update); });
    update();
  }

  /* --- "Use my location" (Geolocation API; the form works without it) -------------------- */
  function initGeolocation() {
    var box = $("[data-geolocate]");
    if (!box || !("geolocation" in navigator)) { return; }
    box.hidden = false;
    var status = $("[data-geolocate-status]", box);
    $("[data-geolocate-button]", box).addEventListener("click", function () {
      status.textContent = box.dataset.msgBusy;
      navigator.geolocation.getCurrentPosition(function (position) {
        var lat = $("#id_lat"), lon = $("#id_lon");
        lat.value = position.coords.latitude.toFixed(6);
        lon.value = position.coords.longitude.toFixed(6);
        var details = lat.closest("details");
        if (details) { details.open = true; }
        status.textContent = box.dataset.msgOk;
        document.dispatchEvent(new CustomEvent("civicdesk:location"));
      }, function (error) {
        status.textContent = error && error.code === 1 ? box.dataset.msgDenied : box.dataset.msgUnavailable;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }

  /* --- Already reported nearby? (follow instead of filing twice) ------------------------- */
  function initNearby() {
    var box = $("[data-nearby]");
    if (!box) { return; }
    var list = $("[data-nearby-list]", box);
    var reportForm = box.closest("form");

    // A small form of its own (outside the report form, so Enter still sends the report).
    function follow(reference) {
      var csrf = reportForm ? $("input[name=csrfmiddlewaretoken]", reportForm) : null;
      var form = document.createElement("form");
      form.method = "post";
      form.action = box.dataset.followUrl.replace("CD-XXXXXXX", reference);
      var token = document.createElement("input");
      token.type = "hidden"; token.name = "csrfmiddlewaretoken"; token.value = csrf ? csrf.value : "";
      form.appendChild(token);
      document.body.appendChild(form);
      form.submit();
    }
    var timer = null;
    var lastUrl = "";
    function whereText(item) {
      if (item.match === "distance") { return fill(box.dataset.msgDistance, item.distance_m); }
      return box.dataset["msg" + item.match.charAt(0).toUpperCase() + item.match.slice(1)] || "";
    }
    function span(text, attr) {
      var el = document.createElement("span");
      el.textContent = text;
      if (attr) { el.setAttribute(attr, ""); }
      return el;
    }
    function check() {
      var chosen = $("input[name=category]:checked");
      var lat = $("#id_lat"), lon = $("#id_lon"), address = $("#id_address"), district = $("#id_district");
      var params = {};
      if (lat && lon && lat.value && lon.value) { params.lat = lat.value; params.lon = lon.value; }
      if (address && address.value.trim()) { params.address = address.value.trim(); }
      if (district && district.value) { params.district = district.value; }
      if (!chosen || !Object.keys(params).length) { box.hidden = true; lastUrl = ""; return; }
      params.category = chosen.value;
      var url = box.dataset.url + "?" + new URLSearchParams(params);
      if (url === lastUrl) { return; }  // nothing new: do not move the page under the pointer
      lastUrl = url;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (items) {
          list.textContent = "";
          (items || []).slice(0, 5).forEach(function (item) {
            var li = document.createElement("li");
            li.setAttribute("data-nearby-item", "");
            li.setAttribute("data-ref", item.reference);
            li.setAttribute("data-match", item.match);
            if (item.photo_url) {
              var img = document.createElement("img");
              img.src = item.photo_url; img.alt = box.dataset.msgPhoto || ""; img.width = 64; img.height = 48;
              img.className = "nearby-photo"; img.setAttribute("data-photo", "");
              li.appendChild(img);
            }
            var text = document.createElement("span");
            text.className = "nearby-text";
            var strong = document.createElement("strong");
            strong.textContent = item.category ? item.category.name : "";
            strong.setAttribute("data-category", "");
            text.appendChild(strong);
            text.appendChild(document.createTextNode(" · "));
            text.appendChild(span(item.age, "data-age"));
            if (item.street) { text.appendChild(document.createTextNode(" · ")); text.appendChild(span(item.street, "data-street")); }
            if (item.district) { text.appendChild(document.createTextNode(" · ")); text.appendChild(span(item.district.name, "data-district")); }
            text.appendChild(document.createElement("br"));
            var where = span(whereText(item) + " · " + item.reference, "data-where");
            where.className = "small muted";
            text.appendChild(where);
            if (item.description) {
              text.appendChild(document.createElement("br"));
              text.appendChild(span(item.description.slice(0, 120), null));
            }
            var button = document.createElement("button");
            button.type = "button"; button.className = "small secondary";
            button.setAttribute("data-follow", item.reference);
            button.textContent = box.dataset.msgFollow;
            button.addEventListener("click", function () { follow(item.reference); });
            li.appendChild(text); li.appendChild(button);
            list.appendChild(li);
          });
          box.hidden = list.children.length === 0;
        })
        .catch(function () { box.hidden = true; });
    }
    function later() { window.clearTimeout(timer); timer = window.setTimeout(check, 400); }
    $all("input[name=category], #id_lat, #id_lon, #id_address, #id_district").forEach(function (el) {
      el.addEventListener("change", later);
      el.addEventListener("input", later);
    });
    document.addEventListener("civicdesk:location", later);
  }

  /* --- Address search: the gazetteer's suggestions under the address field --------------- */
  function initAddressSearch() {
    var input = $("input[data-address-search]");
    if (!input) { return; }
    var list = document.createElement("datalist");
    list.id = "address-suggestions";
    input.parentNode.appendChild(list);
    input.setAttribute("list", list.id);
    input.setAttribute("autocomplete", "off");  // the browser's own list would hide ours
    var timer = null;
    var last = "";
    function search() {
      var q = input.value.trim();
      if (q.length < 2 || q === last) { return; }
      last = q;
      var params = { q: q };
      var district = $("#id_district");
      if (district && district.value) { params.district = district.value; }
      fetch(input.dataset.addressSearch + "?" + new URLSearchParams(params), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (items) {
          list.textContent = "";
          (items || []).forEach(function (item) {
            var option = document.createElement("option");
            option.value = item.text;
            if (item.district) { option.label = item.text + " · " + item.district.name; }
            list.appendChild(option);
          });
        })
        .catch(function () { list.textContent = ""; });
    }
    input.addEventListener("input", function () { window.clearTimeout(timer); timer = window.setTimeout(search, 250); });
  }

  /* --- Photo previews (local object URLs; nothing is uploaded before submit) ------------- */
  function initPhotoPreviews() {
    $all("input[type=file]").forEach(function (input) {
      if (input.dataset.previewReady) { return; }
      input.dataset.previewReady = "1";
      var form = input.closest("form");
      var box = form ? $("[data-photo-previews]", form) : null;
      if (!box) { return; }
      input.addEventListener("change", function () {
        $all("img", box).forEach(function (img) { URL.revokeObjectURL(img.src); });
        box.textContent = "";
        Array.prototype.forEach.call(input.files || [], function (file) {
          if (!/^image\//.test(file.type)) { return; }
          var img = document.createElement("img");
          img.src = URL.createObjectURL(file);
          img.alt = file.name;
          img.setAttribute("data-preview", "");
          box.appendChild(img);
        });
      });
    });
  }

  /* --- Standard replies: "Insert" puts the chosen text into the box without a reload ------
     (without this script the button reloads the page with the text filled in). */
  function initStandardReplies() {
    $all("[data-standard-replies]").forEach(function (box) {
      if (box.dataset.ready) { return; }
      box.dataset.ready = "1";
      var button = $("[data-standard-reply-insert]", box);
      if (!button) { return; }
      button.addEventListener("click", function (event) {
        var target = document.querySelector(box.getAttribute("data-target"));
        var select = $("[data-standard-reply-select]", box);
        var language = $("[data-standard-reply-language]", box);
        var option = select ? select.options[select.selectedIndex] : null;
        if (!target || !option) { return; }
        event.preventDefault();
        var zh = language && language.value === "zh-hans";
        var text = option.getAttribute(zh ? "data-body-zh-hans" : "data-body-en") || "";
        target.value = target.value.trim() ? target.value.replace(/\s+$/, "") + "\n\n" + text : text;
        // A reply in the "Next step" control goes with a step that takes one.
        var form = target.form;
        if (form && form.hasAttribute("data-next-step") && !$("input[name='step-step']:checked", form)) {
          var resolve = $("input[name='step-step'][value='resolve']", form);
          if (resolve) { resolve.checked = true; }
        }
        target.focus();
      });
    });
  }

  /* --- Live updates: WebSocket first, polling as the fallback ----------------------------- */
  function userIsEditing(region) {
    if (region.contains(document.activeElement) && document.activeElement !== document.body &&
        /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) { return true; }
    return $all("textarea, input[type=text], input[type=file]", region).some(function (el) {
      return el.type === "file" ? el.files && el.files.length > 0 : el.value !== el.defaultValue;
    });
  }

  /* A draft is what someone typed or chose and has not sent: kept across a live refresh. */
  function draftKey(el) {
    var form = el.form ? (el.form.getAttribute("action") || "") : "";
    return el.id ? "#" + el.id : form + "|" + el.name + "|" + (el.type === "radio" ? el.value : "");
  }

  function saveDrafts(region) {
    var drafts = {};
    $all("input, textarea, select", region).forEach(function (el) {
      if (el.type === "hidden" || el.type === "submit" || el.type === "button") { return; }
      var changed;
      if (el.type === "file") { changed = el.files && el.files.length > 0; }
      else if (el.type === "checkbox" || el.type === "radio") { changed = el.checked !== el.defaultChecked; }
      else if (el.tagName === "SELECT") {
        changed = $all("option", el).some(function (o) { return o.selected !== o.defaultSelected; });
      } else { changed = el.value !== el.defaultValue; }
      if (changed) { drafts[draftKey(el)] = el; }
    });
    var active = document.activeElement;
    var focus = null;
    if (active && region.contains(active) && active.name !== undefined) {
      focus = { key: draftKey(active), start: active.selectionStart, end: active.selectionEnd };
    }
    return { fields: drafts, focus: focus };
  }

  function restoreDrafts(region, drafts) {
    $all("input, textarea, select", region).forEach(function (el) {
      var old = drafts.fields[draftKey(el)];
      if (!old) { return; }
      if (el.type === "file") { el.parentNode.replaceChild(old, el); return; }  // keeps its files
      if (el.type === "checkbox" || el.type === "radio") { el.checked = old.checked; }
      else if (el.tagName === "SELECT") {
        $all("option", el).forEach(function (o, i) { o.selected = !!(old.options[i] && old.options[i].selected); });
      } else { el.value = old.value; }
    });
    if (drafts.focus) {
      var target = $all("input, textarea, select, button", region).filter(function (el) {
        return draftKey(el) === drafts.focus.key;
      })[0];
      if (target) {
        target.focus();
        try {
          if (drafts.focus.start !== null && drafts.focus.start !== undefined) {
            target.setSelectionRange(drafts.focus.start, drafts.focus.end);
          }
        } catch (e) { /* not a text field */ }
      }
    }
  }

  function rowRefs(root) {
    var refs = {};
    $all("[data-ref]", root).forEach(function (row) { refs[row.getAttribute("data-ref")] = row.getAttribute("data-version"); });
    return refs;
  }

  function initLive(box) {
    var status = $("[data-live-status]", box);
    var ref = box.getAttribute("data-live-ref");
    var version = parseInt(box.getAttribute("data-live-version") || "0", 10);
    var isQueue = box.hasAttribute("data-live-queue");
    var newCount = $("[data-new-count]", box);
    var seen = rowRefs(box);
    var fresh = {};
    var pending = null;
    var pollTimer = null;
    var socket = null;
    var retry = 1000;
    var held = null;  // a fresher page not shown yet, because someone is typing
    var showButton = null;

    function say(key) {
      var text = status && status.dataset[key];
      if (text) { status.textContent = text; }
    }

    function editing() { return $all("[data-live-region]", box).some(userIsEditing); }

    // Apply a fetched page: every live region is replaced, and whatever the person was typing
    // or choosing (and where their cursor was) is put back into the new content.
    function apply(doc) {
      held = null;
      if (showButton) { showButton.hidden = true; }
      $all("[data-live-region]", box).forEach(function (region) {
        var incoming = doc.getElementById(region.id);
        if (!incoming) { return; }
        var drafts = saveDrafts(region);
        region.innerHTML = incoming.innerHTML;
        restoreDrafts(region, drafts);
      });
      var incomingBox = doc.querySelector("[data-live-version]");
      if (incomingBox) { version = parseInt(incomingBox.getAttribute("data-live-version"), 10) || version; }
      if (isQueue) { markNew(); }
      initForms();
      initPhotoPreviews();
      initStandardReplies();
      box.setAttribute("data-live-updated", String(Date.now()));
      box.removeAttribute("data-live-held");
      say("msgUpdated");
    }

    // While someone types, nothing moves under their cursor: the update waits behind a
    // "New update — show it" button, and the page does not claim to be up to date.
    function hold(doc) {
      held = doc;
      box.setAttribute("data-live-held", "true");
      if (!showButton && status && status.dataset.msgShow) {
        showButton = document.createElement("button");
        showButton.type = "button";
        showButton.className = "secondary small live-show";
        showButton.setAttribute("data-live-show", "");
        showButton.textContent = status.dataset.msgShow;
        showButton.addEventListener("click", function () { if (held) { apply(held); } });
        status.parentNode.insertBefore(showButton, status.nextSibling);
      }
      if (showButton) { showButton.hidden = false; }
      say("msgHeld");
    }

    function refresh() {
      pending = null;
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          if (editing()) { hold(doc); } else { apply(doc); }
        })
        .catch(function () { /* offline for a moment: the next event or poll tries again */ });
    }

    // Once the person leaves a field they left unchanged, a held update is shown by itself.
    box.addEventListener("focusout", function () {
      window.setTimeout(function () { if (held && !editing()) { apply(held); } }, 0);
    });

    function markNew() {
      var now = rowRefs(box);
      Object.keys(now).forEach(function (r) { if (!(r in seen)) { fresh[r] = true; } });
      $all("[data-ref]", box).forEach(function (row) {
        if (fresh[row.getAttribute("data-ref")]) { row.classList.add("is-new"); }
      });
      var n = Object.keys(fresh).length;
      if (newCount && n > 0) {
        newCount.hidden = false;
        newCount.textContent = fill(newCount.getAttribute("data-template"), n);
      }
    }

    function schedule() { if (!pending) { pending = window.setTimeout(refresh, 250); } }

    function onMessage(data) {
      var message;
      try { message = JSON.parse(data); } catch (e) { return; }
      if (!message || typeof message !== "object") { return; }
      if (ref && message.reference && message.reference !== ref) { return; }
      if (ref && message.version && message.version <= version) { return; }
      if (message.reference || message.event || /request|queue/.test(String(message.type || ""))) { schedule(); }
    }

    function poll() {
      var url = box.getAttribute("data-live-poll");
      if (!url) { return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (!body || !body.requests) { return; }
          var known = rowRefs(box);
          var changed = false;
          if (ref) {
            var item = body.requests[ref];
            changed = !!item && item[1] !== version;
          } else {
            Object.keys(body.requests).forEach(function (r) {
              if (String(body.requests[r][1]) !== String(known[r])) { changed = true; }
            });
          }
          if (changed) { schedule(); }
        })
        .catch(function () {});
    }

    function startPolling() {
      if (pollTimer || !box.getAttribute("data-live-poll")) { return; }
      say("msgPoll");
      pollTimer = window.setInterval(poll, 4000);
    }
    function stopPolling() { if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; } }

    function connect() {
      var path = box.getAttribute("data-live-ws");
      if (!path || !("WebSocket" in window)) { startPolling(); return; }
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      try { socket = new WebSocket(scheme + window.location.host + path); } catch (e) { startPolling(); return; }
      var opened = false;
      socket.addEventListener("open", function () {
        opened = true;
        retry = 1000;
        stopPolling();
        say("msgLive");
        box.setAttribute("data-live-mode", "websocket");
        // Re-sync: something may have changed while we were not connected.
        if (box.getAttribute("data-live-poll")) { poll(); } else { schedule(); }
      });
      socket.addEventListener("message", function (event) { onMessage(event.data); });
      socket.addEventListener("close", function () {
        box.setAttribute("data-live-mode", "polling");
        startPolling();
        window.setTimeout(connect, opened ? retry : Math.min(retry * 4, 30000));
        retry = Math.min(retry * 2, 30000);
      });
    }

    if (newCount) {
      newCount.addEventListener("click", function () { fresh = {}; seen = rowRefs(box); newCount.hidden = true; });
    }
    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    initForms();
    var summary = $("[data-focus-on-load]");
    if (summary) { summary.focus(); }
    initCategoryPicker();
    initGeolocation();
    initNearby();
    initAddressSearch();
    initPhotoPreviews();
    initStandardReplies();
    $all("[data-live]").forEach(initLive);
    $all("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  });
})();
