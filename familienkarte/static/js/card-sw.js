// Service worker for the card page, served at /card-sw.js and registered with the scope /card.
//
// It keeps the card page and everything it needs in a cache, so that a phone that has loaded the page once
// still shows a working code without a network:
// - the page itself (/card): network first, the cached copy when the network fails;
// - its static files: from the cache at once, refreshed in the background for the next visit.
// How: offline-page-worker.js, shared with the scanner page's worker. API requests are never cached: the
// credential lives in IndexedDB, not in HTTP caches.

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

importScripts("/static/js/offline-page-worker.js");
keepPageOffline({ cache: CACHE, page: PAGE, staticFiles: STATIC_FILES });
