// The scanner page's rules without the DOM: what the input is, which sentence a verdict gets, how the card's
// facts and the uses left read, which quantity is allowed, which nonce a redemption carries, and how a problem
// answered by the API reads. Tested in Node (tests/js/scanner.test.mjs); scanner.js wires it to the page.

/** The prefix of a scanned card code (CREDENTIAL.md). */
export const CODE_PREFIX = "FK1:";

/** The reason codes a verdict may carry: those of CREDENTIAL.md, and unknown_card for a typed number. */
export const REASON_CODES = Object.freeze([
  "ok",
  "malformed",
  "unknown_key",
  "bad_signature",
  "expired",
  "not_yet_valid",
  "presentation_missing",
  "bad_proof",
  "stale",
  "revoked",
  "suspended",
  "unknown_card",
]);

/**
 * What the cashier entered: a scanned code (`text`), a card number typed by hand (`card_number`) or nothing.
 * A barcode scanner types the whole code; the prefix is compared without regard to case, since some scanners
 * send letters in the other case.
 */
export function classifyInput(raw) {
  const value = String(raw ?? "").trim();
  if (!value) {
    return { kind: "empty", value: "" };
  }
  if (value.slice(0, CODE_PREFIX.length).toUpperCase() === CODE_PREFIX) {
    return { kind: "text", value: CODE_PREFIX + value.slice(CODE_PREFIX.length) };
  }
  return { kind: "card_number", value };
}

/** The JSON body of a verification (or, with `extra`, a redemption) for the classified input. */
export function requestBody(input, locationId, extra = {}) {
  return { [input.kind]: input.value, location_id: locationId, ...extra };
}

/** Replace `{name}` placeholders in a translated text. */
export function fillText(template, values = {}) {
  return String(template ?? "").replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(values, name) ? String(values[name]) : whole,
  );
}

/**
 * The quantity typed for a benefit: a whole number from 1 to `max`. Resolves to `{ ok: true, value }` or
 * `{ ok: false, max }` (the page then says which numbers are allowed).
 */
export function readQuantity(raw, max) {
  const limit = Math.max(1, Number.isInteger(max) ? max : 1);
  const text = String(raw ?? "").trim();
  if (text === "" && limit === 1) {
    return { ok: true, value: 1 };
  }
  if (!/^\d+$/.test(text)) {
    return { ok: false, max: limit };
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1 || value > limit) {
    return { ok: false, max: limit };
  }
  return { ok: true, value };
}

/**
 * The sentence for a verdict. Online, the server's `message` (already in the reader's language); offline (or
 * without a message), the page's own text for the reason code, and the text for `malformed` for a code the page
 * does not know.
 */
export function verdictSentence(result, reasonTexts) {
  if (!result.offline && result.message) {
    return result.message;
  }
  return reasonTexts[result.reason] ?? reasonTexts.malformed ?? "";
}

/** The notes under the verdict: how the card was presented, and the offline state. */
export function verdictNotes(result, texts) {
  const notes = [];
  // Who holds the card matters only for a card that is accepted.
  if (result.valid && (result.presentation === "manual" || result.code_checked === false)) {
    notes.push(texts.typed);
  } else if (result.valid && result.presentation === "printed") {
    notes.push(texts.printed);
  } else if (result.valid && result.presentation === "phone") {
    notes.push(texts.phone);
  }
  if (result.offline) {
    notes.push(offlineNote(result.status_list_age_seconds, texts));
  }
  return notes;
}

/** "Offline: checked on this device; status list N minutes old." */
export function offlineNote(ageSeconds, texts) {
  const minutes = Number.isFinite(ageSeconds) ? Math.max(0, Math.floor(ageSeconds / 60)) : 0;
  return fillText(texts.offlineChecked, { minutes });
}

/** A date of the API (`YYYY-MM-DD`) for the reader's locale, as the calendar day it names. */
export function formatDate(isoDate, locale) {
  if (!isoDate) {
    return "";
  }
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoDate);
  if (!match) {
    return String(isoDate);
  }
  const day = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return new Intl.DateTimeFormat(locale, { dateStyle: "long", timeZone: "UTC" }).format(day);
}

/** A time of day for the reader's locale (the void deadline). */
export function formatTime(ms, locale) {
  return new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
}

/** The card's facts as [label, value] pairs, in the order a cashier reads them. */
export function factRows(card, texts, locale) {
  if (!card) {
    return [];
  }
  const list = new Intl.ListFormat(locale, { style: "short", type: "unit" });
  const ages = card.children_ages ?? [];
  const rows = [
    [texts.cardNumber, card.number],
    [texts.adults, String(card.adults)],
    [texts.children, ages.length ? list.format(ages.map(String)) : texts.noChildren],
  ];
  if (card.expected_children) {
    rows.push([texts.expected, String(card.expected_children)]);
  }
  if (card.valid_until) {
    rows.push([texts.validUntil, formatDate(card.valid_until, locale)]);
  }
  return rows;
}

/**
 * The lines under a benefit: uses left for this card, tickets left of the quota, and whether it is available.
 * Checked on this device without a network, the uses left of a limited benefit are unknown (`uses_left` null with
 * a `limit_count`): the server checks the limit when the redemption is sent.
 */
export function offerLines(offer, texts) {
  const unknownUses = offer.uses_left === null || offer.uses_left === undefined;
  const limited = offer.limit_count !== null && offer.limit_count !== undefined;
  const lines = [
    unknownUses
      ? limited
        ? texts.limitOnUpload
        : texts.noLimit
      : fillText(texts.usesLeft, { n: offer.uses_left }),
  ];
  if (offer.quota_left !== null && offer.quota_left !== undefined) {
    lines.push(fillText(texts.quotaLeft, { n: offer.quota_left }));
  }
  if (!offerAvailable(offer)) {
    lines.push(texts.unavailable);
  }
  return lines;
}

export function offerAvailable(offer) {
  return offer.available !== false && offer.uses_left !== 0 && offer.quota_left !== 0;
}

/** The offer after a redemption of `quantity` (`sign` -1) or after voiding it (`sign` +1), as the server counts. */
export function adjustOffer(offer, quantity, sign = -1) {
  const step = (left, by) => (left === null || left === undefined ? left : Math.max(0, left + sign * by));
  const next = { ...offer, uses_left: step(offer.uses_left, 1), quota_left: step(offer.quota_left, quantity) };
  next.available = next.uses_left !== 0 && next.quota_left !== 0;
  return next;
}

/**
 * The nonces of redemption taps. A tap (one benefit of one verification) keeps its nonce until the server has
 * answered for certain, so that a double tap or a retry after a timeout is the same redemption to the server;
 * the next tap after an answer gets a fresh one.
 */
export class TapNonces {
  constructor(fresh = () => globalThis.crypto.randomUUID()) {
    this.fresh = fresh;
    this.open = new Map();
  }

  /** The nonce for this tap: the one still open for it, or a fresh one. */
  nonceFor(tapKey) {
    let nonce = this.open.get(tapKey);
    if (!nonce) {
      nonce = this.fresh();
      this.open.set(tapKey, nonce);
    }
    return nonce;
  }

  /** The server answered (recorded or refused): the next tap is a new redemption. */
  settle(tapKey) {
    this.open.delete(tapKey);
  }

  /** A new card was scanned: no tap of the last one will be retried. */
  clear() {
    this.open.clear();
  }
}

/** A fetch that threw (no network, aborted after a timeout) rather than answered. */
export function isNetworkError(error) {
  return error instanceof TypeError || error?.name === "AbortError" || error?.name === "TimeoutError";
}

/**
 * A problem answered by the API (problem+json, with `code`, `detail` and maybe `errors`) in words for the cashier.
 * Resolves to `{ message, fields, signedOut, retry }`: `fields` maps a field name to its message.
 */
export function problemMessage(status, problem, texts) {
  const body = problem && typeof problem === "object" ? problem : {};
  const code = typeof body.code === "string" ? body.code : "";
  const fields = {};
  for (const item of Array.isArray(body.errors) ? body.errors : []) {
    if (item && typeof item.field === "string" && typeof item.message === "string") {
      fields[item.field] = item.message;
    }
  }
  if (status === 429 || code === "rate_limited") {
    return { message: texts.rateLimited, fields, signedOut: false, retry: true };
  }
  if (status === 401 || (status === 403 && code !== "partner_suspended")) {
    return { message: texts.signedOut, fields, signedOut: true, retry: false };
  }
  const detail = typeof body.detail === "string" && body.detail ? body.detail : "";
  const fieldText = Object.values(fields).join(" ");
  let message = detail || texts.error;
  if (fieldText && !detail.includes(fieldText)) {
    message = detail ? `${detail} ${fieldText}` : fieldText;
  }
  return { message, fields, signedOut: false, retry: status >= 500 };
}

/** The localStorage key of the location chosen last on this device, per partner. */
export function locationStorageKey(partnerId) {
  return `fk-scanner-location:${partnerId}`;
}

/** The location to preselect: the only one, else the remembered one if it is still offered, else none. */
export function initialLocation(optionIds, remembered) {
  const ids = optionIds.filter(Boolean);
  if (ids.length === 1) {
    return ids[0];
  }
  return remembered && ids.includes(remembered) ? remembered : "";
}

/** Whether a redemption recorded at `recordedMs` may still be voided at `nowMs`. */
export function voidOpen(recordedMs, nowMs, windowMinutes) {
  return nowMs - recordedMs < windowMinutes * 60_000;
}

/**
 * Whether the page may move focus back to the scan input: not while the cashier is using another field
 * (a quantity, a void reason, the location).
 */
export function mayTakeFocus(active, scanInput) {
  if (!active || active === scanInput) {
    return true;
  }
  const tag = String(active.tagName ?? "").toUpperCase();
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") {
    return false;
  }
  return !active.isContentEditable;
}
