// The position of a partner's location, picked on a map: a click or tap fills in the latitude and longitude
// fields, and typing in them moves the pin. The fields stay the real input: without JavaScript, without the map
// library or without tiles, people type the numbers as before (the map stays hidden when its library is missing).
// Leaflet is loaded before this module as a classic script (global L).

const DECIMALS = 6;

function number(value) {
  const parsed = Number.parseFloat(String(value).replace(",", "."));
  return Number.isFinite(parsed) ? parsed : null;
}

function attributionHtml(label, url) {
  const link = document.createElement("a");
  link.textContent = label || "";
  try {
    const href = new URL(String(url), window.location.href);
    if (href.protocol === "http:" || href.protocol === "https:") link.href = href.href;
  } catch {
    // no link, the text alone
  }
  return link.href ? link.outerHTML : link.innerHTML; // built from a text node: escaped
}

function setUp(box) {
  const L = window.L;
  const data = box.dataset;
  const latitude = document.getElementById(data.latitudeField);
  const longitude = document.getElementById(data.longitudeField);
  if (!latitude || !longitude) return;
  const hint = box.parentElement.querySelector("[data-position-picker-hint]");
  const status = box.parentElement.querySelector("[data-position-picker-status]");
  box.hidden = false;
  if (hint) hint.hidden = false;

  const [centerLat, centerLon] = (data.center || "51.16,10.45").split(",").map(Number);
  const typed = [number(latitude.value), number(longitude.value)];
  const start = typed[0] !== null && typed[1] !== null ? typed : [centerLat, centerLon];
  const map = L.map(box).setView(start, typed[0] !== null ? 17 : Number(data.zoom || 12));
  L.tileLayer(data.tileUrl, {
    attribution: attributionHtml(data.attribution, data.attributionUrl),
    maxZoom: 19,
    referrerPolicy: "strict-origin",
  }).addTo(map);
  let pin = typed[0] !== null && typed[1] !== null ? L.marker(typed).addTo(map) : null;

  function place(lat, lon, announce) {
    if (pin) pin.setLatLng([lat, lon]);
    else pin = L.marker([lat, lon]).addTo(map);
    if (announce && status) {
      status.textContent = (data.textPicked || "")
        .replace("{latitude}", lat.toFixed(DECIMALS))
        .replace("{longitude}", lon.toFixed(DECIMALS));
    }
  }

  map.on("click", (event) => {
    const lat = event.latlng.lat;
    const lon = event.latlng.wrap().lng;
    latitude.value = lat.toFixed(DECIMALS);
    longitude.value = lon.toFixed(DECIMALS);
    place(lat, lon, true);
  });
  const follow = () => {
    const lat = number(latitude.value);
    const lon = number(longitude.value);
    if (lat !== null && lon !== null && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
      place(lat, lon, false);
      map.panTo([lat, lon]);
    }
  };
  latitude.addEventListener("change", follow);
  longitude.addEventListener("change", follow);
}

function start() {
  if (typeof window.L === "undefined") return; // the fields alone still work
  for (const box of document.querySelectorAll("[data-position-picker]")) setUp(box);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
