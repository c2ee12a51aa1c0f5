// Service worker for the card page, served at /card-sw.js and registered with the scope /card.
//
// It keeps the card page and everything it needs in a cache, so that a phone that has loaded the page once
// still shows a working code without a network:
// - the page itself (/card): network first, the cached copy when the network fails;
// - its static files: from the cache at once, refreshed in the background for the next visit.
// API requests are never cached: the credential lives in IndexedDB, not in HTTP caches.
// Matches ignore Vary: the server's responses vary by language and cookie for shared HTTP caches, but this cache
// belongs to one phone, and a request carrying Accept-Language would otherwise miss it offline.

const CACHE = "familienkarte-card-v1";
const PAGE = "/card";
const STATIC_FILES = [
  "/static/css/site.css",
  "/static/css/card.css",
  "/static/js/card.js",
  "/static/js/card-logic.js",
  "/static/js/card-store.js",
  "/static/js/fk1.js",
  "/static/vendor/qrcode-generator/qrcode.mjs",
  "/static/manifest.webmanifest",
  "/static/icons/card.svg",
  "/static/icons/card-maskable.svg",
];

// Only a real card page is kept: not a redirect to the sign-in page, not an error page.
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
        names.filter((name) => name.startsWith("familienkarte-card-") && name !== CACHE).map((name) => caches.delete(name)),
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
  if (url.pathname === PAGE && request.mode === "navigate") {
    event.respondWith(pageNetworkFirst(request));
    return;
  }
  if (STATIC_FILES.includes(url.pathname)) {
    event.respondWith(staticCacheFirst(event));
  }
});
