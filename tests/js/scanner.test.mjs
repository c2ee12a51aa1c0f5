// The scanner page's logic (familienkarte/static/js/scanner-logic.js). Run with `make test-js`. The page itself
// (DOM, camera, the API) is exercised in a real browser (tests/browser/test_scanner.py).

import assert from "node:assert/strict";
import test from "node:test";

import {
  REASON_CODES,
  TapNonces,
  adjustOffer,
  classifyInput,
  factRows,
  fillText,
  formatDate,
  initialLocation,
  isNetworkError,
  locationStorageKey,
  mayTakeFocus,
  offerAvailable,
  offerLines,
  offlineNote,
  problemMessage,
  readQuantity,
  requestBody,
  verdictNotes,
  verdictSentence,
  voidOpen,
} from "../../familienkarte/static/js/scanner-logic.js";

const TEXTS = {
  typed: "Number typed: no code was checked. Ask for ID.",
  printed: "Printed card: ask for ID.",
  phone: "Phone code checked.",
  offlineChecked: "Offline: checked on this device; status list {minutes} minutes old.",
  cardNumber: "Card number",
  adults: "Adults",
  children: "Children (age in years)",
  noChildren: "none",
  expected: "Expected children",
  validUntil: "Valid until",
  usesLeft: "Uses left for this card: {n}",
  noLimit: "No limit for this card",
  limitOnUpload: "Uses left are checked when the redemption is sent.",
  quotaLeft: "Tickets left: {n}",
  unavailable: "Not available now: used up.",
  rateLimited: "Too many requests. Please wait a moment, then try again.",
  signedOut: "You are signed out. Please sign in again.",
  error: "Something went wrong. Please try again.",
};
const REASONS = Object.fromEntries(REASON_CODES.map((code) => [code, `page text for ${code}`]));
const CARD = {
  number: "7KX 3QM 9TB",
  adults: 2,
  children_ages: [9, 4],
  expected_children: 1,
  valid_until: "2027-03-31",
  ask_for_id: true,
};

test("input starting with FK1: is a scanned code, anything else a card number", () => {
  assert.deepEqual(classifyInput("FK1:abc.def.ghi.1.p"), { kind: "text", value: "FK1:abc.def.ghi.1.p" });
  assert.deepEqual(classifyInput("  FK1:abc\n"), { kind: "text", value: "FK1:abc" });
  // Some scanners change the case of letters; the prefix is still recognised, the rest left alone.
  assert.deepEqual(classifyInput("fk1:AbC"), { kind: "text", value: "FK1:AbC" });
  assert.deepEqual(classifyInput("7KX 3QM 9TB"), { kind: "card_number", value: "7KX 3QM 9TB" });
  assert.deepEqual(classifyInput("FK2:abc"), { kind: "card_number", value: "FK2:abc" });
  assert.deepEqual(classifyInput("FK1"), { kind: "card_number", value: "FK1" });
  assert.deepEqual(classifyInput("   "), { kind: "empty", value: "" });
  assert.deepEqual(classifyInput(null), { kind: "empty", value: "" });
});

test("the request body names the input's kind and the location", () => {
  assert.deepEqual(requestBody(classifyInput("FK1:x"), "loc-1"), { text: "FK1:x", location_id: "loc-1" });
  assert.deepEqual(requestBody(classifyInput("7KX3QM9TB"), "loc-2", { benefit_id: "b", quantity: 2 }), {
    card_number: "7KX3QM9TB",
    location_id: "loc-2",
    benefit_id: "b",
    quantity: 2,
  });
});

test("a quantity is a whole number from 1 to the benefit's maximum", () => {
  assert.deepEqual(readQuantity("1", 3), { ok: true, value: 1 });
  assert.deepEqual(readQuantity(" 3 ", 3), { ok: true, value: 3 });
  assert.deepEqual(readQuantity("4", 3), { ok: false, max: 3 });
  assert.deepEqual(readQuantity("0", 3), { ok: false, max: 3 });
  assert.deepEqual(readQuantity("-1", 3), { ok: false, max: 3 });
  assert.deepEqual(readQuantity("1.5", 3), { ok: false, max: 3 });
  assert.deepEqual(readQuantity("2e0", 3), { ok: false, max: 3 });
  assert.deepEqual(readQuantity("", 3), { ok: false, max: 3 });
  assert.deepEqual(readQuantity("99999999999999999999", 3), { ok: false, max: 3 });
  // Without a quantity field (max 1) nothing typed means one.
  assert.deepEqual(readQuantity("", 1), { ok: true, value: 1 });
  assert.deepEqual(readQuantity("2", 1), { ok: false, max: 1 });
});

test("online, the verdict's sentence is the server's message", () => {
  const result = { valid: false, reason: "revoked", message: "Die Karte wurde gesperrt." };
  assert.equal(verdictSentence(result, REASONS), "Die Karte wurde gesperrt.");
});

test("offline, every reason code gets the page's own sentence", () => {
  for (const reason of REASON_CODES) {
    const result = { valid: reason === "ok", reason, message: null, offline: true };
    assert.equal(verdictSentence(result, REASONS), `page text for ${reason}`);
  }
  // Even when an offline result carries a message, the page's text for the reason is used.
  assert.equal(verdictSentence({ reason: "stale", message: "x", offline: true }, REASONS), "page text for stale");
  // A reason the page does not know reads like a code that is not a family card's.
  assert.equal(verdictSentence({ reason: "new_reason", message: null }, REASONS), "page text for malformed");
});

test("the notes say when nothing proves the holder, and how old the offline status list is", () => {
  const typed = { valid: true, reason: "ok", presentation: "manual", code_checked: false, card: CARD };
  assert.deepEqual(verdictNotes(typed, TEXTS), [TEXTS.typed]);
  // A refused card needs no ID check.
  const unknown = { valid: false, reason: "unknown_card", presentation: "manual", code_checked: false, card: null };
  assert.deepEqual(verdictNotes(unknown, TEXTS), []);
  const revokedPrint = { valid: false, reason: "revoked", presentation: "printed", code_checked: true, card: CARD };
  assert.deepEqual(verdictNotes(revokedPrint, TEXTS), []);
  const printed = { valid: true, reason: "ok", presentation: "printed", code_checked: true, card: CARD };
  assert.deepEqual(verdictNotes(printed, TEXTS), [TEXTS.printed]);
  const phone = { valid: true, reason: "ok", presentation: "phone", code_checked: true, card: CARD };
  assert.deepEqual(verdictNotes(phone, TEXTS), [TEXTS.phone]);
  const forged = { valid: false, reason: "bad_signature", presentation: null, code_checked: true, card: null };
  assert.deepEqual(verdictNotes(forged, TEXTS), []);
  const offline = { ...phone, offline: true, status_list_age_seconds: 754 };
  assert.deepEqual(verdictNotes(offline, TEXTS), [
    TEXTS.phone,
    "Offline: checked on this device; status list 12 minutes old.",
  ]);
  assert.equal(offlineNote(null, TEXTS), "Offline: checked on this device; status list 0 minutes old.");
});

test("the card's facts read in the reader's language", () => {
  assert.deepEqual(factRows(CARD, TEXTS, "en"), [
    ["Card number", "7KX 3QM 9TB"],
    ["Adults", "2"],
    ["Children (age in years)", "9, 4"],
    ["Expected children", "1"],
    ["Valid until", "March 31, 2027"],
  ]);
  const german = factRows({ ...CARD, children_ages: [], expected_children: 0 }, TEXTS, "de");
  assert.deepEqual(german, [
    ["Card number", "7KX 3QM 9TB"],
    ["Adults", "2"],
    ["Children (age in years)", "none"],
    ["Valid until", "31. März 2027"],
  ]);
  assert.deepEqual(factRows(null, TEXTS, "de"), []);
});

test("a date is the calendar day it names in every time zone", () => {
  assert.equal(formatDate("2027-01-01", "de"), "1. Januar 2027");
  assert.equal(formatDate("", "de"), "");
  assert.equal(formatDate("not a date", "de"), "not a date");
});

test("uses left, quota left and availability of a benefit", () => {
  const limited = { uses_left: 2, quota_left: null, available: true };
  assert.deepEqual(offerLines(limited, TEXTS), ["Uses left for this card: 2"]);
  const free = { uses_left: null, quota_left: 40, available: true };
  assert.deepEqual(offerLines(free, TEXTS), ["No limit for this card", "Tickets left: 40"]);
  const usedUp = { uses_left: 0, quota_left: 5, available: false };
  assert.deepEqual(offerLines(usedUp, TEXTS), [
    "Uses left for this card: 0",
    "Tickets left: 5",
    "Not available now: used up.",
  ]);
  assert.equal(offerAvailable(usedUp), false);
  assert.equal(offerAvailable({ uses_left: null, quota_left: 0 }), false);
  assert.equal(offerAvailable(limited), true);
  // Checked offline: the limit is known, the uses left are not.
  const offline = { uses_left: null, quota_left: null, limit_count: 1, limit_period: "month", available: true };
  assert.deepEqual(offerLines(offline, TEXTS), ["Uses left are checked when the redemption is sent."]);
});

test("a redemption and its void change the counts as the server does", () => {
  const offer = { benefit_id: "b", uses_left: 1, quota_left: 3, available: true };
  const after = adjustOffer(offer, 2, -1);
  assert.deepEqual(after, { benefit_id: "b", uses_left: 0, quota_left: 1, available: false });
  assert.deepEqual(adjustOffer(after, 2, 1), offer);
  const unlimited = { benefit_id: "c", uses_left: null, quota_left: null, available: true };
  assert.deepEqual(adjustOffer(unlimited, 1, -1), unlimited);
  assert.equal(adjustOffer({ uses_left: 0, quota_left: 0 }, 5, -1).quota_left, 0);
});

test("a tap keeps its nonce until the server has answered; the next tap gets a fresh one", () => {
  let counter = 0;
  const nonces = new TapNonces(() => `nonce-${++counter}`);
  const first = nonces.nonceFor("1:benefit");
  // A double tap or a retry after a timeout: the same nonce, so the server records it once.
  assert.equal(nonces.nonceFor("1:benefit"), first);
  assert.notEqual(nonces.nonceFor("1:other"), first);
  nonces.settle("1:benefit");
  const second = nonces.nonceFor("1:benefit");
  assert.notEqual(second, first);
  nonces.clear();
  assert.notEqual(nonces.nonceFor("1:benefit"), second);
  // By default a UUID from the platform.
  assert.match(new TapNonces().nonceFor("x"), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("problems in words: rate limits, a lost session, refusals and field errors", () => {
  assert.deepEqual(problemMessage(429, { code: "rate_limited", detail: "Zu viele." }, TEXTS), {
    message: TEXTS.rateLimited,
    fields: {},
    signedOut: false,
    retry: true,
  });
  assert.equal(problemMessage(401, { code: "not_authenticated" }, TEXTS).message, TEXTS.signedOut);
  assert.equal(problemMessage(401, null, TEXTS).signedOut, true);
  assert.equal(problemMessage(403, { code: "csrf_failed" }, TEXTS).signedOut, true);
  const suspended = problemMessage(403, { code: "partner_suspended", detail: "Not approved." }, TEXTS);
  assert.deepEqual([suspended.message, suspended.signedOut], ["Not approved.", false]);
  for (const code of ["limit_reached", "quota_exhausted", "not_eligible", "benefit_paused", "not_at_location"]) {
    const words = problemMessage(409, { code, detail: `detail of ${code}` }, TEXTS);
    assert.deepEqual([words.message, words.retry], [`detail of ${code}`, false]);
  }
  const field = problemMessage(
    422,
    { code: "invalid_input", detail: "Please correct.", errors: [{ field: "reason", message: "Say why." }] },
    TEXTS,
  );
  assert.deepEqual(field.fields, { reason: "Say why." });
  assert.equal(field.message, "Please correct. Say why.");
  assert.equal(problemMessage(500, "<html>", TEXTS).message, TEXTS.error);
  assert.equal(problemMessage(503, {}, TEXTS).retry, true);
});

test("only a fetch that threw is a network error", () => {
  assert.equal(isNetworkError(new TypeError("Failed to fetch")), true);
  assert.equal(isNetworkError(new DOMException("timed out", "TimeoutError")), true);
  assert.equal(isNetworkError(new DOMException("aborted", "AbortError")), true);
  assert.equal(isNetworkError(new Error("other")), false);
  assert.equal(isNetworkError(undefined), false);
});

test("the location: the only one, else the remembered one while it is still offered", () => {
  assert.equal(initialLocation(["", "a"], null), "a");
  assert.equal(initialLocation(["", "a", "b"], "b"), "b");
  assert.equal(initialLocation(["", "a", "b"], "gone"), "");
  assert.equal(initialLocation(["", "a", "b"], null), "");
  assert.equal(locationStorageKey("p-1"), "fk-scanner-location:p-1");
  assert.notEqual(locationStorageKey("p-1"), locationStorageKey("p-2"));
});

test("the void window", () => {
  assert.equal(voidOpen(0, 14 * 60_000, 15), true);
  assert.equal(voidOpen(0, 15 * 60_000, 15), false);
});

test("focus returns to the scan input, but not away from another field in use", () => {
  const scan = { tagName: "INPUT" };
  assert.equal(mayTakeFocus(null, scan), true);
  assert.equal(mayTakeFocus(scan, scan), true);
  assert.equal(mayTakeFocus({ tagName: "BUTTON" }, scan), true);
  assert.equal(mayTakeFocus({ tagName: "INPUT" }, scan), false);
  assert.equal(mayTakeFocus({ tagName: "SELECT" }, scan), false);
  assert.equal(mayTakeFocus({ tagName: "TEXTAREA" }, scan), false);
  assert.equal(mayTakeFocus({ tagName: "DIV", isContentEditable: true }, scan), false);
});

test("placeholders are filled, unknown ones left", () => {
  assert.equal(fillText("Redeemed: {title} (quantity {quantity}).", { title: "Eintritt", quantity: 2 }),
    "Redeemed: Eintritt (quantity 2).");
  assert.equal(fillText("{a} {b}", { a: 1 }), "1 {b}");
});
