// The scanner page without a network: a cached bundle (JWKS, status lists, this location's benefits) in IndexedDB,
// verification in the browser exactly as the server does it (fk1.js, status-list.js), and a queue of redemptions
// with their nonces and the till's time, uploaded when the network is back.
//
// The interface the scanner page (scanner.js) uses. Every function is safe to call when IndexedDB or the network
// is missing: it resolves to null / an empty result instead of throwing, unless said otherwise.

/** Open (or create) the scanner's IndexedDB database. Resolves to a store handle, or null without IndexedDB. */
export async function openScannerStore() {
  return null;
}

/**
 * Fetch the offline bundle for a location (GET `bundleUrl`?location_id=...) and keep it. Resolves to the bundle,
 * or null when offline (the kept bundle stays).
 */
export async function refreshBundle(store, { bundleUrl, locationId }) {
  return null;
}

/** Seconds since the kept status lists were fetched for this location, or null when there is no bundle. */
export async function statusListAge(store, { locationId, nowMs }) {
  return null;
}

/**
 * Verify a scanned code in the browser. Resolves to an object of the same shape as the server's VerificationRead
 * (valid, reason, message, presentation, code_checked, card, benefits, location_id) plus `offline: true` and
 * `status_list_age_seconds`; `message` is null (the page shows its own text for the reason). Null when there is
 * no bundle for this location (the page then says it cannot verify offline).
 */
export async function verifyOffline(store, { text, locationId, nowMs }) {
  return null;
}

/**
 * Queue a redemption made while offline. Resolves to the queued item
 * ({ client_nonce, text, benefit_id, location_id, quantity, occurred_at }).
 */
export async function queueRedemption(store, { text, benefitId, locationId, quantity, clientNonce, occurredAtMs }) {
  return null;
}

/** The redemptions waiting for upload, oldest first. */
export async function pendingRedemptions(store) {
  return [];
}

/**
 * Upload every queued redemption (POST `uploadUrl` with the CSRF token); each accepted item leaves the queue.
 * Resolves to { uploaded, flagged, failed } counts; offline, nothing happens and all counts are 0.
 */
export async function uploadQueued(store, { uploadUrl, csrf }) {
  return { uploaded: 0, flagged: 0, failed: 0 };
}

/** Register the scanner's service worker (`url`, with `scope`). Does nothing without service workers. */
export function registerScannerWorker(url, scope) {}
