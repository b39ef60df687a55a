/* CivicDesk: the request form's "pick the place on the map" — a small slippy-map tile renderer
   (Web Mercator, 256 px tiles from the city's configured tile server). It only fills in the
   latitude/longitude fields; the form works the same without it (no script, no tiles).
   Without those fields it is a view: the public reports' markers ([data-map-report] links). */
(function () {
  "use strict";

  var TILE = 256;
  var MIN_ZOOM = 3;
  var MAX_ZOOM = 19;

  function $(selector, root) { return (root || document).querySelector(selector); }

  function project(lat, lon, zoom) {
    var scale = TILE * Math.pow(2, zoom);
    var s = Math.sin(Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI / 180);
    return {
      x: (lon + 180) / 360 * scale,
      y: (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale
    };
  }

  function unproject(x, y, zoom) {
    var scale = TILE * Math.pow(2, zoom);
    var n = Math.PI - 2 * Math.PI * y / scale;
    return {
      lat: 180 / Math.PI * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n))),
      lon: x / scale * 360 - 180
    };
  }

  function initMap(box) {
    var canvas = $("[data-map-canvas]", box);
    var layer = $("[data-map-tiles]", box);
    var marker = $("[data-map-marker]", box);
    var status = $("[data-map-status]", box);
    var template = box.getAttribute("data-tile-url");
    var reports = Array.prototype.slice.call(box.querySelectorAll("[data-map-report]"));
    var picker = !box.hasAttribute("data-map-view");
    var latInput = picker ? document.getElementById("id_lat") : null;
    var lonInput = picker ? document.getElementById("id_lon") : null;
    if (!canvas || !template || (picker && (!latInput || !lonInput))) { return; }

    var zoom = parseInt(box.getAttribute("data-zoom"), 10) || 13;
    var centre = { lat: parseFloat(box.getAttribute("data-lat")), lon: parseFloat(box.getAttribute("data-lon")) };
    if (picker && latInput.value && lonInput.value) {
      centre = { lat: parseFloat(latInput.value), lon: parseFloat(lonInput.value) };
    }
    var tiles = {};
    var loaded = 0;
    var failed = 0;
    box.hidden = false;

    function say(text) { if (status) { status.textContent = text || ""; } }

    function centrePx() { return project(centre.lat, centre.lon, zoom); }

    function tileUrl(z, x, y) {
      return template.replace("{z}", z).replace("{x}", x).replace("{y}", y);
    }

    function render() {
      var width = canvas.clientWidth, height = canvas.clientHeight;
      var c = centrePx();
      var left = c.x - width / 2, top = c.y - height / 2;
      var count = Math.pow(2, zoom);
      var wanted = {};
      for (var tx = Math.floor(left / TILE); tx <= Math.floor((left + width) / TILE); tx++) {
        for (var ty = Math.floor(top / TILE); ty <= Math.floor((top + height) / TILE); ty++) {
          if (ty < 0 || ty >= count) { continue; }
          var wrapped = ((tx % count) + count) % count;
          var key = zoom + "/" + tx + "/" + ty;
          wanted[key] = true;
          var img = tiles[key];
          if (!img) {
            img = document.createElement("img");
            img.alt = "";
            img.draggable = false;
            img.className = "map-tile";
            img.addEventListener("load", function () { loaded += 1; });
            img.addEventListener("error", function (event) {
              failed += 1;
              event.target.hidden = true;
              if (loaded === 0 && failed >= 2) { say(box.getAttribute("data-msg-failed")); box.setAttribute("data-map-failed", ""); }
            });
            img.src = tileUrl(zoom, wrapped, ty);
            tiles[key] = img;
            layer.appendChild(img);
          }
          img.style.left = Math.round(tx * TILE - left) + "px";
          img.style.top = Math.round(ty * TILE - top) + "px";
        }
      }
      Object.keys(tiles).forEach(function (key) {
        if (!wanted[key]) { layer.removeChild(tiles[key]); delete tiles[key]; }
      });
      placeMarker(left, top);
    }

    function placeMarker(left, top) {
      reports.forEach(function (link) {
        var at = project(parseFloat(link.getAttribute("data-lat")), parseFloat(link.getAttribute("data-lon")), zoom);
        link.style.left = Math.round(at.x - left) + "px";
        link.style.top = Math.round(at.y - top) + "px";
      });
      if (!picker) { return; }
      if (!latInput.value || !lonInput.value) { marker.hidden = true; return; }
      var p = project(parseFloat(latInput.value), parseFloat(lonInput.value), zoom);
      marker.hidden = false;
      marker.style.left = Math.round(p.x - left) + "px";
      marker.style.top = Math.round(p.y - top) + "px";
    }

    function setPin(lat, lon) {
      latInput.value = lat.toFixed(6);
      lonInput.value = lon.toFixed(6);
      var details = latInput.closest("details");
      if (details) { details.open = true; }  // show what the pin filled in
      box.setAttribute("data-map-pinned", "");
      say(box.getAttribute("data-msg-set"));
      render();
      document.dispatchEvent(new CustomEvent("civicdesk:location"));
    }

    function panBy(dx, dy) {
      var c = centrePx();
      centre = unproject(c.x + dx, c.y + dy, zoom);
      render();
    }

    function zoomBy(step) {
      zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, zoom + step));
      Object.keys(tiles).forEach(function (key) { layer.removeChild(tiles[key]); });
      tiles = {};
      render();
    }

    // Drag to pan; a press that hardly moved is a click that places the pin.
    var drag = null;
    canvas.addEventListener("pointerdown", function (event) {
      if (event.target.closest && event.target.closest("[data-map-report]")) { return; }  // a link
      drag = { x: event.clientX, y: event.clientY, moved: 0, id: event.pointerId };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drag) { return; }
      var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      drag.moved += Math.abs(dx) + Math.abs(dy);
      drag.x = event.clientX; drag.y = event.clientY;
      panBy(-dx, -dy);
    });
    canvas.addEventListener("pointerup", function (event) {
      if (!drag) { return; }
      var clicked = drag.moved < 5;
      drag = null;
      if (!clicked || !picker) { return; }
      var rect = canvas.getBoundingClientRect();
      var c = centrePx();
      var at = unproject(c.x - rect.width / 2 + (event.clientX - rect.left),
                         c.y - rect.height / 2 + (event.clientY - rect.top), zoom);
      setPin(at.lat, at.lon);
    });
    canvas.addEventListener("pointercancel", function () { drag = null; });

    canvas.addEventListener("keydown", function (event) {
      var step = 64;
      var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (moves[event.key]) { event.preventDefault(); panBy(moves[event.key][0], moves[event.key][1]); }
      else if (event.key === "+" || event.key === "=") { event.preventDefault(); zoomBy(1); }
      else if (event.key === "-") { event.preventDefault(); zoomBy(-1); }
      else if (picker && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); setPin(centre.lat, centre.lon); }
    });

    Array.prototype.forEach.call(box.querySelectorAll("[data-map-zoom]"), function (button) {
      button.addEventListener("click", function () { zoomBy(parseInt(button.getAttribute("data-map-zoom"), 10)); });
    });
    var pinCentre = $("[data-map-pin-centre]", box);
    if (pinCentre) { pinCentre.addEventListener("click", function () { setPin(centre.lat, centre.lon); }); }

    // Typed coordinates or "use my location" move the pin (and the map) too.
    function follow() {
      var lat = parseFloat(latInput.value), lon = parseFloat(lonInput.value);
      if (isFinite(lat) && isFinite(lon)) { centre = { lat: lat, lon: lon }; }
      render();
    }
    window.addEventListener("resize", render);
    if (!picker) { render(); return; }
    latInput.addEventListener("change", follow);
    lonInput.addEventListener("change", follow);
    document.addEventListener("civicdesk:location", function () { if (!box.hasAttribute("data-map-pinned")) { follow(); } box.removeAttribute("data-map-pinned"); });
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-map]"), initMap);
  });
})();
