// The public map: partner locations from the GeoJSON endpoint as clustered markers, filtered by category.
// The map is an addition: the page lists every place below it (rendered by the server, page by page), so that the
// page works without JavaScript, without tiles (no network, a blocked tile server) and for keyboard and screen
// reader users. Choosing a category filters the markers here and fetches the first page of the list for it.
// Leaflet and Leaflet.markercluster are loaded before this module as classic scripts (global L).

const FALLBACK_VIEW = { center: [51.16, 10.45], zoom: 6 }; // Germany, when there is no place to show yet
const MAX_FIT_ZOOM = 15;
const REDUCED_MOTION = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

const container = document.getElementById("map");
const status = document.getElementById("map-status");
const filter = document.getElementById("map-filter");
const select = document.getElementById("map-category");

function say(text) {
  if (!status || status.textContent) return; // the first problem is the one to tell
  status.textContent = text;
  status.hidden = false;
}

// A link target from the data: only http(s) addresses, never javascript: or data: URLs.
function safeUrl(value) {
  try {
    const url = new URL(String(value), window.location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function text(tag, content, className) {
  const element = document.createElement(tag);
  element.textContent = content;
  if (className) element.className = className;
  return element;
}

// The popup as DOM nodes with textContent: partner-entered names and addresses are never parsed as HTML.
function popupFor(properties, linkText) {
  const box = document.createElement("div");
  box.className = "map-popup";
  box.append(text("p", properties.partner_name || "", "map-popup-title"));
  if (properties.location_name && properties.location_name !== properties.partner_name) {
    box.append(text("p", properties.location_name));
  }
  if (properties.address) box.append(text("p", properties.address));
  const href = safeUrl(properties.url);
  if (href) {
    const link = text("a", linkText);
    link.href = href;
    const line = document.createElement("p");
    line.append(link);
    box.append(line);
  }
  return box;
}

function attributionHtml(label, url) {
  if (!label) return "";
  const link = document.createElement("a");
  link.textContent = label;
  const href = safeUrl(url);
  if (!href) return link.textContent.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  link.href = href;
  return link.outerHTML; // Leaflet sets the attribution as HTML: built from a text node, so it is escaped
}

function chosenCategory() {
  return select ? select.value : "";
}

function listUrl(category) {
  const url = new URL(filter ? filter.action : window.location.href, window.location.href);
  url.search = "";
  if (category) url.searchParams.set("category", category);
  return url;
}

// The list below the map for the category, as the server renders it (its first page): the same places as the
// markers, without loading the page again.
async function loadList(category) {
  const list = document.getElementById("map-list");
  if (!list) return;
  try {
    const response = await fetch(listUrl(category), { headers: { Accept: "text/html" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("map-list");
    if (!fresh) throw new Error("no list in the answer");
    list.replaceWith(document.importNode(fresh, true));
    // Told to screen readers: the list changed below the map.
    const told = document.getElementById("map-list-status");
    const shown = document.getElementById("map-places-count") || document.getElementById("map-places-empty");
    if (told && shown) told.textContent = shown.textContent;
  } catch {
    say(container.dataset.textListFailed);
  }
}

function rememberInUrl(category) {
  const url = new URL(window.location.href);
  if (category) url.searchParams.set("category", category);
  else url.searchParams.delete("category");
  window.history.replaceState(null, "", url);
}

async function start() {
  if (!container || typeof window.L === "undefined" || typeof window.L.markerClusterGroup !== "function") {
    return; // the libraries did not load: the list below is the page
  }
  const L = window.L;
  const data = container.dataset;
  container.hidden = false;
  const skip = document.getElementById("map-skip");
  if (skip) skip.hidden = false;
  const map = L.map(container, {
    zoomAnimation: !REDUCED_MOTION,
    fadeAnimation: !REDUCED_MOTION,
    markerZoomAnimation: !REDUCED_MOTION,
  }).setView(FALLBACK_VIEW.center, FALLBACK_VIEW.zoom);
  const tiles = L.tileLayer(data.tileUrl, {
    attribution: attributionHtml(data.attribution, data.attributionUrl),
    maxZoom: 19,
    // The site sends no Referer elsewhere; tile servers such as OpenStreetMap's ask for the site's origin.
    referrerPolicy: "strict-origin",
  });
  tiles.on("tileerror", () => say(data.textTilesFailed));
  tiles.addTo(map);

  const cluster = L.markerClusterGroup({ showCoverageOnHover: false, animate: !REDUCED_MOTION });
  cluster.addTo(map);
  const markers = [];

  function showMarkers(category, fit) {
    cluster.clearLayers();
    const chosen = markers.filter((m) => !category || m.category === category).map((m) => m.marker);
    cluster.addLayers(chosen);
    if (fit && chosen.length) {
      // At once, not animated: the places a filter shows are there the moment it is chosen.
      // Room for the zoom buttons (top left) and for the pins, which stand 41 px above their point.
      map.fitBounds(cluster.getBounds(), {
        maxZoom: MAX_FIT_ZOOM,
        paddingTopLeft: [60, 50],
        paddingBottomRight: [24, 24],
        animate: false,
      });
    }
  }

  if (filter && select) {
    const apply = () => {
      const category = chosenCategory();
      showMarkers(category, true);
      loadList(category);
      rememberInUrl(category);
    };
    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      apply();
    });
    select.addEventListener("change", apply);
  }

  let collection;
  try {
    const response = await fetch(data.geojson, { headers: { Accept: "application/geo+json, application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    collection = await response.json();
  } catch {
    say(data.textPlacesFailed);
    return;
  }
  for (const feature of collection.features || []) {
    const geometry = feature && feature.geometry;
    if (!geometry || geometry.type !== "Point" || !Array.isArray(geometry.coordinates)) continue;
    const [lon, lat] = geometry.coordinates;
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) continue;
    const properties = feature.properties || {};
    const title = [properties.partner_name, properties.location_name]
      .filter((part, index, all) => part && all.indexOf(part) === index)
      .join(": ");
    const marker = L.marker([lat, lon], { title, alt: title, keyboard: true });
    marker.bindPopup(() => popupFor(properties, data.textPartnerPage));
    markers.push({ marker, category: properties.category || "" });
  }
  container.dataset.markers = String(markers.length);
  showMarkers(chosenCategory(), true);
}

start();
