// Service worker for the partner portal's scanner page, served at /partner/scanner-sw.js and registered with the
// scope /partner/scanner.
//
// It keeps the scanner page and everything it needs in a cache, so that a till that has loaded the page once
// still verifies cards without a network (scanner-offline.js keeps the keys, status lists and benefits):
// - the page itself (/partner/scanner): network first, the cached copy when the network fails;
// - its static files (and the camera's QR reader for browsers without their own): from the cache at once,
//   refreshed in the background for the next visit.
// How: offline-page-worker.js, shared with the card page's worker. API requests are never cached: the offline
// bundle lives in IndexedDB, and redemptions must reach the server.

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

importScripts("/static/js/offline-page-worker.js");
keepPageOffline({ cache: CACHE, page: PAGE, staticFiles: STATIC_FILES });
