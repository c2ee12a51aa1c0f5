// The scanner page without a network: a cached bundle (JWKS, status lists, this location's benefits) in IndexedDB,
// verification in the browser exactly as the server does it (fk1.js, status-list.js), and a queue of redemptions
// with their nonces and the till's time, uploaded when the network is back.
//
// The interface the scanner page (scanner.js) uses. Every function is safe to call when IndexedDB or the network
// is missing: it resolves to null / an empty result instead of throwing, unless said otherwise.
//
// What is kept (IndexedDB database "familienkarte-scanner", apart from the card page's "familienkarte"):
// - bundles: the offline bundle of each location (GET /api/v1/pos/offline-bundle) and when it was fetched;
// - redemptions: the queue of redemptions made offline, by client nonce;
// - verifications: every verification made offline, for the statistics (reason, presentation, time, location:
//   no card, no person), uploaded with the redemptions;
// - rejected: queued redemptions the server refused (with its code), kept for the partner to look at.
//
// The verification is the server's, step for step: the issuer keys of the bundle's JWKS, each status list token
// verified (signature, typ, expiry, and that it is the list it is filed as) before use; a credential whose list is
// missing or expired counts as revoked (fail closed), as on the server. The benefits are filtered by the rules of
// familienkarte/benefits/rules.py on the city's date. Uses left per card and quotas cannot be known offline: they
// are null, and the server checks them on upload (and flags what broke a rule).

import { importJwks, verifyPresentation } from "./fk1.js";
import { statusLookupFrom, verifyStatusListToken } from "./status-list.js";

export const DB_NAME = "familienkarte-scanner";
const DB_VERSION = 1;
const BUNDLES = "bundles";
const REDEMPTIONS = "redemptions";
const VERIFICATIONS = "verifications";
const REJECTED = "rejected";
// What one upload request carries at most (the server's limits).
export const MAX_UPLOAD_REDEMPTIONS = 200;
export const MAX_UPLOAD_VERIFICATIONS = 1000;
const STATUS_LIST_PATH = "/api/v1/status-lists/";
const DEFAULT_LANGUAGE = "de";
const ALL_WEEKDAYS = 127;
// A till scans a family every few seconds; this many offline verifications are kept at most, the oldest dropped.
const MAX_KEPT_VERIFICATIONS = 20000;

// --- the store ---------------------------------------------------------------------------------------------------

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** A small store over one IndexedDB database: get, put, delete and all per object store. */
class ScannerStore {
  constructor(db) {
    this.db = db;
  }

  async run(name, mode, work) {
    const transaction = this.db.transaction(name, mode);
    const finished = new Promise((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error || new Error("aborted"));
    });
    const result = await work(transaction.objectStore(name));
    await finished;
    return result;
  }

  get(name, key) {
    return this.run(name, "readonly", (objects) => done(objects.get(key)));
  }

  put(name, value) {
    return this.run(name, "readwrite", (objects) => done(objects.put(value)));
  }

  delete(name, keys) {
    return this.run(name, "readwrite", (objects) => Promise.all(keys.map((key) => done(objects.delete(key)))));
  }

  all(name) {
    return this.run(name, "readonly", (objects) => done(objects.getAll()));
  }

  count(name) {
    return this.run(name, "readonly", (objects) => done(objects.count()));
  }
}

/**
 * Open (or create) the scanner's IndexedDB database. Resolves to a store handle, or null without IndexedDB.
 * `options.indexedDB` replaces the browser's factory (tests).
 */
export async function openScannerStore(options = {}) {
  const factory = options.indexedDB ?? globalThis.indexedDB;
  if (!factory) {
    return null;
  }
  try {
    const request = factory.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(BUNDLES)) {
        db.createObjectStore(BUNDLES, { keyPath: "locationId" });
      }
      if (!db.objectStoreNames.contains(REDEMPTIONS)) {
        db.createObjectStore(REDEMPTIONS, { keyPath: "client_nonce" });
      }
      if (!db.objectStoreNames.contains(VERIFICATIONS)) {
        db.createObjectStore(VERIFICATIONS, { keyPath: "id", autoIncrement: true });
      }
      if (!db.objectStoreNames.contains(REJECTED)) {
        db.createObjectStore(REJECTED, { keyPath: "client_nonce" });
      }
    };
    return new ScannerStore(await done(request));
  } catch {
    return null; // private mode, storage refused, or a broken database
  }
}

// --- the bundle --------------------------------------------------------------------------------------------------

function isBundle(value, locationId) {
  return (
    value !== null &&
    typeof value === "object" &&
    String(value.location_id) === String(locationId) &&
    value.jwks !== null &&
    typeof value.jwks === "object" &&
    Array.isArray(value.status_lists) &&
    Array.isArray(value.benefits) &&
    typeof value.timezone === "string"
  );
}

/**
 * Fetch the offline bundle for a location (GET `bundleUrl`?location_id=...) and keep it. Resolves to the bundle,
 * or null when offline (the kept bundle stays). `fetch` and `nowMs` (the time it counts as fetched) replace the
 * browser's (tests).
 */
export async function refreshBundle(
  store,
  { bundleUrl, locationId, fetch: fetchImpl = globalThis.fetch, nowMs = undefined },
) {
  if (!store || !locationId || !fetchImpl) {
    return null;
  }
  const url = `${bundleUrl}?location_id=${encodeURIComponent(locationId)}`;
  try {
    const response = await fetchImpl(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) {
      return null;
    }
    const bundle = await response.json();
    if (!isBundle(bundle, locationId)) {
      return null;
    }
    await store.put(BUNDLES, { locationId: String(locationId), fetchedAtMs: nowMs ?? Date.now(), bundle });
    return bundle;
  } catch {
    return null;
  }
}

async function keptBundle(store, locationId) {
  if (!store || !locationId) {
    return null;
  }
  try {
    const kept = await store.get(BUNDLES, String(locationId));
    return kept && isBundle(kept.bundle, locationId) ? kept : null;
  } catch {
    return null;
  }
}

function ageSeconds(kept, nowMs) {
  return Math.max(0, Math.floor((nowMs - kept.fetchedAtMs) / 1000));
}

/** Seconds since the kept status lists were fetched for this location, or null when there is no bundle. */
export async function statusListAge(store, { locationId, nowMs = Date.now() }) {
  const kept = await keptBundle(store, locationId);
  return kept ? ageSeconds(kept, nowMs) : null;
}

// --- dates, ages and benefit rules, as familienkarte/benefits/rules.py ----------------------------------------------

/** The city's date at `nowMs` as { year, month, day } in `timeZone`. */
export function cityDate(nowMs, timeZone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "numeric",
    day: "numeric",
  }).formatToParts(new Date(nowMs));
  const part = (type) => Number(parts.find((item) => item.type === type).value);
  return { year: part("year"), month: part("month"), day: part("day") };
}

function isoDate({ year, month, day }) {
  return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

/** Completed years on `on` (the birth month counts as complete), or null for a child not born by then. */
export function childAge(yearMonth, on) {
  const months = on.year * 12 + (on.month - 1) - (Math.floor(yearMonth / 100) * 12 + ((yearMonth % 100) - 1));
  return months < 0 ? null : Math.floor(months / 12);
}

function weekdayIndex(on) {
  // 0 Monday ... 6 Sunday, like Python's date.weekday().
  return (new Date(Date.UTC(on.year, on.month - 1, on.day)).getUTCDay() + 6) % 7;
}

/**
 * The first reason a family may not use a benefit on `on` (the codes of rules.NotEligible), or null when it may.
 * `family` is { adults, children: [YYYYMM, ...], flags }; `rules` the bundle's benefit fields.
 */
export function notEligible(rules, family, on) {
  const day = isoDate(on);
  if (rules.valid_from != null && day < rules.valid_from) {
    return "not_yet_valid";
  }
  if (rules.valid_until != null && day > rules.valid_until) {
    return "ended";
  }
  const weekdays = rules.weekdays ?? ALL_WEEKDAYS;
  if (!(weekdays & (1 << weekdayIndex(on)))) {
    return "wrong_weekday";
  }
  const born = family.children.map((ym) => childAge(ym, on)).filter((age) => age !== null);
  if (born.length < (rules.min_children ?? 0)) {
    return "too_few_children";
  }
  if (rules.child_age_min != null || rules.child_age_max != null) {
    const low = rules.child_age_min ?? 0;
    const high = rules.child_age_max ?? 10 ** 6;
    if (!born.some((age) => low <= age && age <= high)) {
      return "no_child_of_age";
    }
  }
  if (rules.requires_entitlement && !(family.flags & 1)) {
    return "not_entitled";
  }
  return null;
}

/** A partner's text in the reader's language, or German, or any language it has (rules.localized). */
export function localizedText(texts, locale) {
  const own = typeof texts?.[locale] === "string" ? texts[locale].trim() : "";
  if (own) {
    return own;
  }
  const german = typeof texts?.[DEFAULT_LANGUAGE] === "string" ? texts[DEFAULT_LANGUAGE].trim() : "";
  if (german) {
    return german;
  }
  for (const language of Object.keys(texts ?? {}).sort()) {
    const value = typeof texts[language] === "string" ? texts[language].trim() : "";
    if (value) {
      return value;
    }
  }
  return "";
}

// --- card numbers, as familienkarte/credentials/card_numbers.py ---------------------------------------------------

const CARD_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const CARD_SEPARATORS = new Set([" ", "-", "\u00a0", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\t"]);

/** The card number in typed text (spaces, dashes and lower case tolerated), or null if it is not one. */
export function normalizeCardNumber(text) {
  if (typeof text !== "string" || text.length > 64) {
    return null;
  }
  const number = [...text.toUpperCase()].filter((char) => !CARD_SEPARATORS.has(char)).join("");
  if (number.length !== 9 || [...number].some((char) => !CARD_ALPHABET.includes(char))) {
    return null;
  }
  let total = 0;
  for (let index = 0; index < 9; index += 1) {
    total += (9 - index) * CARD_ALPHABET.indexOf(number[index]);
  }
  return total % CARD_ALPHABET.length === 0 ? number : null;
}

/** A card number for people to read, as the server shows it: three groups of three (`7KX 3QM 9TB`). */
export function formatCardNumber(sub) {
  const normal = sub.length === 9 ? normalizeCardNumber(sub) : null;
  return normal === null ? sub : `${normal.slice(0, 3)} ${normal.slice(3, 6)} ${normal.slice(6)}`;
}

// --- verifying -----------------------------------------------------------------------------------------------------

function readerLanguage() {
  const lang = globalThis.document?.documentElement?.lang || DEFAULT_LANGUAGE;
  return lang.toLowerCase().split("-")[0];
}

// The status lists of the bundle whose tokens verify at `now` and are the lists they are filed as; the others
// are left out, so a credential on them counts as revoked.
async function verifiedLists(bundle, keys, now) {
  const lists = new Map();
  for (const entry of bundle.status_lists) {
    try {
      const list = await verifyStatusListToken(entry.token, keys, now, { leeway: bundle.leeway });
      if (list.sub.endsWith(`${STATUS_LIST_PATH}${entry.id}`)) {
        lists.set(String(entry.id), list);
      }
    } catch {
      // expired, forged or unreadable: missing
    }
  }
  return lists;
}

function cardFacts(claims, kind, timeZone, today) {
  const born = claims.c.map((ym) => childAge(ym, today)).filter((age) => age !== null);
  return {
    number: formatCardNumber(claims.sub),
    adults: claims.a,
    children_ages: born.sort((a, b) => b - a),
    expected_children: claims.c.length - born.length,
    // The server has the card's own date; offline, the last day the credential is valid, in the city.
    valid_until: isoDate(cityDate((claims.exp - 1) * 1000, timeZone)),
    ask_for_id: kind !== "phone",
  };
}

function offers(bundle, claims, today, locale) {
  const family = { adults: claims.a, children: [...claims.c], flags: claims.e };
  return bundle.benefits
    .filter((benefit) => notEligible(benefit, family, today) === null)
    .map((benefit) => ({
      benefit_id: benefit.benefit_id,
      title: localizedText(benefit.title, locale),
      kind: benefit.kind,
      value: benefit.value,
      max_quantity: benefit.max_quantity,
      limit_count: benefit.limit_count,
      limit_period: benefit.limit_period,
      uses_left: null,
      quota_left: null,
      available: true,
    }));
}

async function keepVerification(store, event) {
  try {
    await store.put(VERIFICATIONS, event);
    const kept = await store.count(VERIFICATIONS);
    if (kept > MAX_KEPT_VERIFICATIONS) {
      const oldest = (await store.all(VERIFICATIONS)).slice(0, kept - MAX_KEPT_VERIFICATIONS);
      await store.delete(VERIFICATIONS, oldest.map((item) => item.id));
    }
  } catch {
    // Statistics only: the verdict stands without it.
  }
}

/**
 * Verify a scanned code in the browser. Resolves to an object of the same shape as the server's VerificationRead
 * (valid, reason, message, presentation, code_checked, card, benefits, location_id) plus `offline: true` and
 * `status_list_age_seconds`; `message` is null (the page shows its own text for the reason). Null when there is
 * no bundle for this location (the page then says it cannot verify offline).
 *
 * Records the verification for the statistics (reason, presentation, time, location) in the store; it is sent
 * with the next upload. `locale` chooses the benefits' titles (default: the page's language, else German).
 */
export async function verifyOffline(store, { text, locationId, nowMs = Date.now(), locale = readerLanguage() }) {
  const kept = await keptBundle(store, locationId);
  if (!kept) {
    return null;
  }
  const { bundle } = kept;
  const now = nowMs / 1000;
  let keys;
  try {
    keys = await importJwks(bundle.jwks);
  } catch {
    return null; // a bundle this browser cannot use: as if there were none
  }
  const lists = await verifiedLists(bundle, keys, now);
  const verdict = await verifyPresentation(typeof text === "string" ? text : "", {
    keysByKid: keys,
    now,
    statusLookup: statusLookupFrom(lists),
    staleAfter: bundle.stale_after,
    leeway: bundle.leeway,
  });
  const today = cityDate(nowMs, bundle.timezone);
  const valid = verdict.reason === "ok";
  const result = {
    valid,
    reason: verdict.reason,
    message: null,
    presentation: verdict.kind,
    code_checked: true,
    card: verdict.claims ? cardFacts(verdict.claims, verdict.kind, bundle.timezone, today) : null,
    benefits: valid ? offers(bundle, verdict.claims, today, locale) : [],
    location_id: bundle.location_id,
    offline: true,
    status_list_age_seconds: ageSeconds(kept, nowMs),
  };
  await keepVerification(store, {
    reason: verdict.reason,
    presentation: verdict.kind,
    at: new Date(nowMs).toISOString(),
    location_id: String(bundle.location_id),
  });
  return result;
}

/** The verifications made offline and not yet uploaded, oldest first ({ reason, presentation, at, location_id }). */
export async function pendingVerifications(store) {
  if (!store) {
    return [];
  }
  try {
    return (await store.all(VERIFICATIONS)).map(({ id, ...event }) => event);
  } catch {
    return [];
  }
}

// --- the queue -----------------------------------------------------------------------------------------------------

function newNonce() {
  return globalThis.crypto.randomUUID();
}

function publicItem(item) {
  const { queued_at_ms, ...rest } = item;
  return rest;
}

/**
 * Queue a redemption made while offline. Resolves to the queued item
 * ({ client_nonce, text, benefit_id, location_id, quantity, occurred_at }).
 */
export async function queueRedemption(store, { text, benefitId, locationId, quantity, clientNonce, occurredAtMs }) {
  if (!store) {
    return null;
  }
  const item = {
    client_nonce: clientNonce || newNonce(),
    text,
    benefit_id: String(benefitId),
    location_id: String(locationId),
    quantity: Number(quantity) || 1,
    occurred_at: new Date(occurredAtMs ?? Date.now()).toISOString(),
    queued_at_ms: Date.now(),
  };
  try {
    // The same nonce again (a double tap) stays one redemption.
    const existing = await store.get(REDEMPTIONS, item.client_nonce);
    if (existing) {
      return publicItem(existing);
    }
    await store.put(REDEMPTIONS, item);
    return publicItem(item);
  } catch {
    return null;
  }
}

async function queued(store) {
  const items = await store.all(REDEMPTIONS);
  return items.sort((a, b) => a.occurred_at.localeCompare(b.occurred_at) || a.queued_at_ms - b.queued_at_ms);
}

/** The redemptions waiting for upload, oldest first. */
export async function pendingRedemptions(store) {
  if (!store) {
    return [];
  }
  try {
    return (await queued(store)).map(publicItem);
  } catch {
    return [];
  }
}

/** The queued redemptions the server refused, with its `code` (and `message` for a malformed one). */
export async function rejectedRedemptions(store) {
  if (!store) {
    return [];
  }
  try {
    return await store.all(REJECTED);
  } catch {
    return [];
  }
}

// --- the upload ----------------------------------------------------------------------------------------------------

const uploading = new WeakMap();
const ITEM_FIELD = /^\$?\.?(redemptions|verifications)\[(\d+)\]/;

async function post(fetchImpl, url, csrf, body) {
  const response = await fetchImpl(url, {
    method: "POST",
    credentials: "same-origin",
    cache: "no-store",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, ok: response.ok, data };
}

async function reject(store, item, code, message = null) {
  await store.put(REJECTED, { ...publicItem(item), code, message, rejected_at: new Date().toISOString() });
  await store.delete(REDEMPTIONS, [item.client_nonce]);
}

async function uploadRounds(store, uploadUrl, csrf, fetchImpl) {
  const counts = { uploaded: 0, flagged: 0, failed: 0, pending: 0, error: null };
  // Each round takes the oldest items; a round that cannot send anything ends the upload.
  for (let round = 0; round < 1000; round += 1) {
    const redemptions = (await queued(store)).slice(0, MAX_UPLOAD_REDEMPTIONS);
    const verifications = (await store.all(VERIFICATIONS)).slice(0, MAX_UPLOAD_VERIFICATIONS);
    if (redemptions.length === 0 && verifications.length === 0) {
      break;
    }
    let answer;
    try {
      answer = await post(fetchImpl, uploadUrl, csrf, {
        redemptions: redemptions.map(publicItem),
        verifications: verifications.map(({ id, ...event }) => event),
      });
    } catch {
      counts.error = "network";
      break;
    }
    if (answer.status === 422 && Array.isArray(answer.data?.errors)) {
      // Malformed items are named by index; they can never be accepted: set them aside and send the rest.
      const named = { redemptions: new Map(), verifications: new Set() };
      for (const error of answer.data.errors) {
        const match = ITEM_FIELD.exec(String(error.field ?? ""));
        if (match && match[1] === "redemptions") {
          named.redemptions.set(Number(match[2]), error.message ?? null);
        } else if (match) {
          named.verifications.add(Number(match[2]));
        }
      }
      if (named.redemptions.size === 0 && named.verifications.size === 0) {
        counts.error = "invalid";
        break;
      }
      for (const [index, message] of named.redemptions) {
        if (redemptions[index]) {
          await reject(store, redemptions[index], "invalid_input", message);
          counts.failed += 1;
        }
      }
      const dropped = [...named.verifications].filter((index) => verifications[index]);
      await store.delete(VERIFICATIONS, dropped.map((index) => verifications[index].id));
      continue;
    }
    if (!answer.ok || !answer.data || !Array.isArray(answer.data.redemptions)) {
      counts.error = answer.status === 401 ? "signed_out" : String(answer.status);
      break;
    }
    const accepted = [];
    let refused = 0;
    for (const [index, result] of answer.data.redemptions.entries()) {
      const item = redemptions[index];
      if (!item || result.client_nonce !== item.client_nonce) {
        continue; // not an answer to this item: it stays queued
      }
      if (result.status === "refused") {
        await reject(store, item, result.code ?? "refused");
        counts.failed += 1;
        refused += 1;
      } else {
        accepted.push(item.client_nonce);
        counts.uploaded += 1;
        if (Array.isArray(result.flags) && result.flags.length > 0) {
          counts.flagged += 1;
        }
      }
    }
    await store.delete(REDEMPTIONS, accepted);
    await store.delete(
      VERIFICATIONS,
      verifications.map((event) => event.id),
    );
    if (accepted.length + refused + verifications.length === 0) {
      counts.error = "unexpected";
      break; // an answer that settles nothing: try again later rather than forever now
    }
  }
  counts.pending = (await store.all(REDEMPTIONS)).length;
  return counts;
}

/**
 * Upload every queued redemption (POST `uploadUrl` with the CSRF token); each accepted item leaves the queue.
 * Resolves to { uploaded, flagged, failed } counts; offline, nothing happens and all counts are 0.
 *
 * Also uploads the verifications made offline. `uploaded` counts the redemptions the server has (recorded now or
 * before), `flagged` those of them that broke a rule, `failed` those it refused (kept as rejectedRedemptions).
 * Besides: `pending`, what is still queued, and `error`, null or why the upload stopped ("network",
 * "signed_out", an HTTP status). Two calls at once share one upload. `fetch` replaces the browser's (tests).
 */
export async function uploadQueued(store, { uploadUrl, csrf, fetch: fetchImpl = globalThis.fetch }) {
  const nothing = { uploaded: 0, flagged: 0, failed: 0, pending: 0, error: null };
  if (!store || !fetchImpl || globalThis.navigator?.onLine === false) {
    return { ...nothing, pending: (await pendingRedemptions(store)).length };
  }
  if (uploading.has(store)) {
    return uploading.get(store);
  }
  const running = uploadRounds(store, uploadUrl, csrf, fetchImpl)
    .catch(() => ({ ...nothing, error: "storage" }))
    .finally(() => uploading.delete(store));
  uploading.set(store, running);
  return running;
}

/** Register the scanner's service worker (`url`, with `scope`). Does nothing without service workers. */
export function registerScannerWorker(url, scope) {
  const container = globalThis.navigator?.serviceWorker;
  if (!container || typeof container.register !== "function") {
    return;
  }
  container.register(url, { scope, type: "classic" }).catch(() => {});
}
