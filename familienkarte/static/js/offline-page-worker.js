// What the card page's and the scanner page's service workers share (loaded by each with importScripts).
//
// keepPageOffline keeps one page and everything it needs in a cache, so that a browser that has loaded the page
// once still shows it without a network:
// - the page itself: network first, the cached copy when the network fails (or the server answers 5xx);
// - its static files: from the cache at once, refreshed in the background for the next visit.
// API requests are never cached. Matches ignore Vary: the server's responses vary by language and cookie for
// shared HTTP caches, but this cache belongs to one browser, and a request carrying Accept-Language would
// otherwise miss it offline.

function keepPageOffline({ cache: cacheName, page, staticFiles }) {
  const cachePrefix = cacheName.replace(/v[0-9]+$/, "");

  // Only a real page is kept: not a redirect to the sign-in page, not an error page.
  function cacheablePage(response) {
    return response.ok && !response.redirected && response.type === "basic";
  }

  async function cachePage(cache) {
    try {
      const response = await fetch(page, { credentials: "same-origin", cache: "no-store" });
      if (cacheablePage(response)) {
        await cache.put(page, response);
      }
    } catch {
      // Offline while installing: the page is cached on the next visit.
    }
  }

  async function pageNetworkFirst(request) {
    const cache = await caches.open(cacheName);
    try {
      const response = await fetch(request);
      if (cacheablePage(response)) {
        await cache.put(page, response.clone());
        return response;
      }
      if (response.status >= 500) {
        const cached = await cache.match(page, { ignoreVary: true });
        if (cached) {
          return cached;
        }
      }
      // A redirect to the sign-in page or a refusal: the person must see it, not yesterday's page.
      return response;
    } catch (error) {
      const cached = await cache.match(page, { ignoreVary: true });
      if (cached) {
        return cached;
      }
      throw error;
    }
  }

  async function staticCacheFirst(event) {
    const cache = await caches.open(cacheName);
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

  self.addEventListener("install", (event) => {
    event.waitUntil(
      (async () => {
        const cache = await caches.open(cacheName);
        await cache.addAll(staticFiles);
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
          names.filter((name) => name.startsWith(cachePrefix) && name !== cacheName).map((name) => caches.delete(name)),
        );
        await self.clients.claim();
      })(),
    );
  });

  self.addEventListener("fetch", (event) => {
    const request = event.request;
    if (request.method !== "GET") {
      return;
    }
    const url = new URL(request.url);
    if (url.origin !== self.location.origin) {
      return;
    }
    if ((url.pathname === page || url.pathname === `${page}/`) && request.mode === "navigate") {
      event.respondWith(pageNetworkFirst(request));
      return;
    }
    if (staticFiles.includes(url.pathname)) {
      event.respondWith(staticCacheFirst(event));
    }
  });
}
