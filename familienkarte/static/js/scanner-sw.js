// Service worker for the partner portal's scanner page, served at /partner/scanner-sw.js and registered with the
// scope /partner/scanner.
//
// It keeps the scanner page and everything it needs in a cache, so that a till that has loaded the page once
// still verifies cards without a network (scanner-offline.js keeps the keys, status lists and benefits):
// - the page itself (/partner/scanner): network first, the cached copy when the network fails;
// - its static files (and the camera's QR reader for browsers without their own): from the cache at once,
//   refreshed in the background for the next visit.
// API requests are never cached: the offline bundle lives in IndexedDB, and redemptions must reach the server.
// Matches ignore Vary, as on the card page: this cache belongs to one browser.

const CACHE = "familienkarte-scanner-v1";
const PAGE = "/partner/scanner";
const STATIC_FILES = [
  "/static/css/site.css",
  "/static/css/scanner.css",
  "/static/js/scanner.js",
  "/static/js/scanner-logic.js",
  "/static/js/scanner-offline.js",
  "/static/js/fk1.js",
  "/static/js/status-list.js",
  "/static/icons/card.svg",
  "/static/vendor/barcode-detector/es/ponyfill.js",
  "/static/vendor/barcode-detector/es/zxing-exported.js",
  "/static/vendor/zxing-wasm/zxing_reader.wasm",
];

// Only a real scanner page is kept: not a redirect to the sign-in page, not an error page.
function cacheablePage(response) {
  return response.ok && !response.redirected && response.type === "basic";
}

async function cachePage(cache) {
  try {
    const response = await fetch(PAGE, { credentials: "same-origin", cache: "no-store" });
    if (cacheablePage(response)) {
      await cache.put(PAGE, response);
    }
  } catch {
    // Offline while installing: the page is cached on the next visit.
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(STATIC_FILES);
      await cachePage(cache);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(
        names
          .filter((name) => name.startsWith("familienkarte-scanner-") && name !== CACHE)
          .map((name) => caches.delete(name)),
      );
      await self.clients.claim();
    })(),
  );
});

async function pageNetworkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (cacheablePage(response)) {
      await cache.put(PAGE, response.clone());
      return response;
    }
    if (response.status >= 500) {
      const cached = await cache.match(PAGE, { ignoreVary: true });
      if (cached) {
        return cached;
      }
    }
    // A redirect to the sign-in page or a refusal: the person must see it, not yesterday's page.
    return response;
  } catch (error) {
    const cached = await cache.match(PAGE, { ignoreVary: true });
    if (cached) {
      return cached;
    }
    throw error;
  }
}

async function staticCacheFirst(event) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(event.request, { ignoreSearch: true, ignoreVary: true });
  const refresh = fetch(event.request)
    .then(async (response) => {
      if (response.ok && response.type === "basic") {
        await cache.put(event.request, response.clone());
      }
      return response;
    })
    .catch(() => null);
  if (cached) {
    event.waitUntil(refresh);
    return cached;
  }
  const response = await refresh;
  return response || Response.error();
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") {
    return;
  }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if ((url.pathname === PAGE || url.pathname === `${PAGE}/`) && request.mode === "navigate") {
    event.respondWith(pageNetworkFirst(request));
    return;
  }
  if (STATIC_FILES.includes(url.pathname)) {
    event.respondWith(staticCacheFirst(event));
  }
});
