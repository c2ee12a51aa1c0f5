// The scanner page offline (familienkarte/static/js/scanner-offline.js): the same verdicts as the server on the
// shared vectors, the same benefit rules as familienkarte/benefits/rules.py, the queue and the upload.
// Run with `make test-js` (node --test tests/js/). IndexedDB is fake-indexeddb's, a complete implementation.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import test from "node:test";

import { IDBFactory } from "fake-indexeddb";

import {
  b64urlDecode,
  b64urlEncode,
  makePrintedPresentation,
} from "../../familienkarte/static/js/fk1.js";
import {
  cityDate,
  formatCardNumber,
  localizedText,
  notEligible,
  openScannerStore,
  pendingRedemptions,
  pendingVerifications,
  queueRedemption,
  refreshBundle,
  rejectedRedemptions,
  statusListAge,
  uploadQueued,
  verifyOffline,
} from "../../familienkarte/static/js/scanner-offline.js";

const ROOT = new URL("../../", import.meta.url);
const VECTORS = JSON.parse(readFileSync(new URL("tests/vectors/fk1.json", ROOT), "utf8"));
const NOW_MS = VECTORS.now * 1000;
const LOCATION = "3f1c2a9e-8d7b-4c55-9a61-0b2e4f6d8a10";
const BENEFIT = "9b0e6f4a-2c1d-4e8f-b7a5-6d3c2b1a0f9e";
const { subtle } = globalThis.crypto;
const ascii = new TextEncoder();

function vector(name) {
  const entry = VECTORS.cases.find((item) => item.name === name);
  assert.ok(entry, `no vector ${name}`);
  return entry.presentation;
}

function benefitOf(fields = {}) {
  return {
    benefit_id: BENEFIT,
    title: { de: "Freier Eintritt", en: "Free entry" },
    kind: "free_entry",
    value: null,
    max_quantity: 2,
    limit_count: 1,
    limit_period: "month",
    min_children: 0,
    child_age_min: null,
    child_age_max: null,
    requires_entitlement: false,
    weekdays: 127,
    valid_from: null,
    valid_until: null,
    ...fields,
  };
}

// The bundle the server would send for the vectors' keys and status lists.
function vectorBundle(changes = {}) {
  return {
    generated_at: new Date(NOW_MS).toISOString(),
    location_id: LOCATION,
    timezone: "Europe/Berlin",
    jwks: VECTORS.jwks,
    status_lists: Object.entries(VECTORS.status_list_tokens).map(([id, token]) => ({ id: Number(id), token })),
    stale_after: VECTORS.stale_after,
    leeway: VECTORS.leeway,
    benefits: [benefitOf()],
    ...changes,
  };
}

function jsonResponse(status, data) {
  return {
    ok: status >= 200 && status < 300,
    status,
    json: async () => data,
  };
}

async function storeWith(bundle = vectorBundle()) {
  const store = await openScannerStore({ indexedDB: new IDBFactory() });
  assert.ok(store);
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, init });
    return jsonResponse(200, bundle);
  };
  const kept = await refreshBundle(store, {
    bundleUrl: "/api/v1/pos/offline-bundle",
    locationId: LOCATION,
    fetch,
    nowMs: NOW_MS,
  });
  assert.deepEqual(kept, bundle);
  assert.equal(requests[0].url, `/api/v1/pos/offline-bundle?location_id=${LOCATION}`);
  return store;
}

// --- the shared vectors ------------------------------------------------------------------------------------------

const STORE = await storeWith();

for (const entry of VECTORS.cases) {
  test(`offline, vector ${entry.name}: ${entry.expected}`, async () => {
    const result = await verifyOffline(STORE, { text: entry.presentation, locationId: LOCATION, nowMs: NOW_MS });
    assert.equal(result.reason, entry.expected, entry.description);
    assert.equal(result.presentation, entry.kind);
    assert.equal(result.valid, entry.expected === "ok");
    assert.equal(result.offline, true);
    assert.equal(result.code_checked, true);
    assert.equal(result.message, null);
    assert.equal(result.benefits.length > 0, entry.expected === "ok");
  });
}

test("an ok result has the server's shape, facts and benefits", async () => {
  const store = await storeWith(
    vectorBundle({
      benefits: [
        benefitOf(),
        benefitOf({ benefit_id: "b2", title: { de: "Nur für Jugendliche" }, child_age_min: 14 }),
        benefitOf({ benefit_id: "b3", title: { fr: "Seulement en français" }, max_quantity: 1, limit_count: null,
          limit_period: null }),
      ],
    }),
  );
  const result = await verifyOffline(store, {
    text: vector("ok_printed"),
    locationId: LOCATION,
    nowMs: NOW_MS + 125_000,
    locale: "en",
  });
  // The vector's family: 2 adults, children born 2015-03, 2018-07, 2022-01; on 2026-01-01 aged 10, 7 and 4 (the
  // birth month counts as complete). The code's exp is 2027-01-01T00:00Z: its last second is already 1 January in
  // the city, as the server reckons a card's last day from a code.
  const sub = JSON.parse(new TextDecoder().decode(b64urlDecode(vector("ok_printed").split(".")[1]))).sub;
  assert.deepEqual(Object.keys(result).sort(), [
    "benefits",
    "card",
    "code_checked",
    "location_id",
    "message",
    "offline",
    "presentation",
    "reason",
    "status_list_age_seconds",
    "valid",
  ]);
  assert.equal(result.status_list_age_seconds, 125);
  assert.equal(result.location_id, LOCATION);
  assert.deepEqual(result.card, {
    number: formatCardNumber(sub),
    adults: 2,
    children_ages: [10, 7, 4],
    expected_children: 0,
    valid_until: "2027-01-01",
    ask_for_id: true,
  });
  assert.equal(result.card.number.length, 11);
  assert.deepEqual(result.benefits, [
    {
      benefit_id: BENEFIT,
      title: "Free entry",
      kind: "free_entry",
      value: null,
      max_quantity: 2,
      limit_count: 1,
      limit_period: "month",
      uses_left: null,
      quota_left: null,
      available: true,
    },
    {
      benefit_id: "b3",
      title: "Seulement en français",
      kind: "free_entry",
      value: null,
      max_quantity: 1,
      limit_count: null,
      limit_period: null,
      uses_left: null,
      quota_left: null,
      available: true,
    },
  ]);
  const phone = await verifyOffline(store, { text: vector("ok_phone"), locationId: LOCATION, nowMs: NOW_MS });
  assert.equal(phone.card.ask_for_id, false);
  assert.equal(phone.benefits[0].title, "Freier Eintritt"); // the page's language here is German
});

test("without a bundle for the location there is no offline verdict", async () => {
  const empty = await openScannerStore({ indexedDB: new IDBFactory() });
  assert.equal(await verifyOffline(empty, { text: vector("ok_printed"), locationId: LOCATION, nowMs: NOW_MS }), null);
  assert.equal(await statusListAge(empty, { locationId: LOCATION, nowMs: NOW_MS }), null);
  assert.equal(
    await verifyOffline(STORE, { text: vector("ok_printed"), locationId: "another", nowMs: NOW_MS }),
    null,
  );
  // Without IndexedDB at all, every call is harmless.
  assert.equal(await openScannerStore({ indexedDB: null }), null);
  assert.equal(await verifyOffline(null, { text: "x", locationId: LOCATION, nowMs: NOW_MS }), null);
  assert.deepEqual(await pendingRedemptions(null), []);
  assert.equal(await queueRedemption(null, { text: "x", benefitId: BENEFIT, locationId: LOCATION }), null);
  assert.deepEqual(await uploadQueued(null, { uploadUrl: "/u", csrf: "c", fetch: () => assert.fail("no fetch") }), {
    uploaded: 0,
    flagged: 0,
    failed: 0,
    pending: 0,
    error: null,
  });
});

test("a failed refresh keeps the kept bundle", async () => {
  const store = await storeWith();
  const offline = async () => {
    throw new TypeError("Failed to fetch");
  };
  assert.equal(await refreshBundle(store, { bundleUrl: "/b", locationId: LOCATION, fetch: offline }), null);
  const refused = async () => jsonResponse(403, { code: "partner_suspended" });
  assert.equal(await refreshBundle(store, { bundleUrl: "/b", locationId: LOCATION, fetch: refused }), null);
  const result = await verifyOffline(store, { text: vector("ok_printed"), locationId: LOCATION, nowMs: NOW_MS });
  assert.equal(result.reason, "ok");
});

test("status lists fail closed: expired, forged or filed under another id count as revoked", async () => {
  const text = vector("ok_printed");
  const tokenExp = JSON.parse(
    new TextDecoder().decode(b64urlDecode(VECTORS.status_list_tokens["1"].split(".")[1])),
  ).exp;
  // The code itself is valid long after the list expired (exp + leeway): the list is the reason.
  const late = (tokenExp + VECTORS.leeway) * 1000;
  assert.equal((await verifyOffline(STORE, { text, locationId: LOCATION, nowMs: late - 1000 })).reason, "ok");
  assert.equal((await verifyOffline(STORE, { text, locationId: LOCATION, nowMs: late })).reason, "revoked");

  const [head, payload, signature] = VECTORS.status_list_tokens["1"].split(".");
  const bytes = b64urlDecode(signature);
  bytes[10] ^= 1;
  const forged = `${head}.${payload}.${b64urlEncode(bytes)}`;
  const cases = {
    forged: [{ id: 1, token: forged }],
    swapped: [
      { id: 1, token: VECTORS.status_list_tokens["2"] },
      { id: 2, token: VECTORS.status_list_tokens["1"] },
    ],
    missing: [{ id: 2, token: VECTORS.status_list_tokens["2"] }],
  };
  for (const [name, statusLists] of Object.entries(cases)) {
    const store = await storeWith(vectorBundle({ status_lists: statusLists }));
    const result = await verifyOffline(store, { text, locationId: LOCATION, nowMs: NOW_MS });
    assert.equal(result.reason, "revoked", name);
    assert.deepEqual(result.benefits, [], name);
  }
});

test("every offline verification is kept for the statistics, without the card", async () => {
  const store = await storeWith();
  await verifyOffline(store, { text: vector("ok_phone"), locationId: LOCATION, nowMs: NOW_MS });
  await verifyOffline(store, { text: "garbage", locationId: LOCATION, nowMs: NOW_MS + 1500 });
  assert.deepEqual(await pendingVerifications(store), [
    { reason: "ok", presentation: "phone", at: new Date(NOW_MS).toISOString(), location_id: LOCATION },
    { reason: "malformed", presentation: null, at: new Date(NOW_MS + 1500).toISOString(), location_id: LOCATION },
  ]);
});

// --- the benefit rules, against familienkarte/benefits/rules.py ---------------------------------------------------

function python() {
  const venv = new URL(".venv/bin/python", ROOT);
  return existsSync(venv) ? venv.pathname : "python3";
}

const PYTHON_RULES = `
import datetime as dt, json, sys
from familienkarte.benefits import rules
out = []
for case in json.load(sys.stdin):
    r = case["rules"]
    benefit = rules.BenefitRules(
        min_children=r["min_children"], child_age_min=r["child_age_min"], child_age_max=r["child_age_max"],
        requires_entitlement=r["requires_entitlement"], weekdays=r["weekdays"],
        valid_from=dt.date.fromisoformat(r["valid_from"]) if r["valid_from"] else None,
        valid_until=dt.date.fromisoformat(r["valid_until"]) if r["valid_until"] else None)
    f = case["family"]
    family = rules.FamilyFacts(adults=f["adults"], children=tuple(f["children"]), flags=f["flags"])
    why = rules.check(benefit, family, dt.date.fromisoformat(case["on"]))
    out.append(None if why is None else why.value)
print(json.dumps(out))
`;

test("benefits are filtered exactly as rules.py does", () => {
  const ruleSets = [
    benefitOf(),
    benefitOf({ min_children: 2 }),
    benefitOf({ min_children: 3 }),
    benefitOf({ child_age_min: 6 }),
    benefitOf({ child_age_max: 5 }),
    benefitOf({ child_age_min: 3, child_age_max: 3 }),
    benefitOf({ child_age_min: 11, child_age_max: 17 }),
    benefitOf({ requires_entitlement: true }),
    benefitOf({ weekdays: 0b0000001 }), // Mondays
    benefitOf({ weekdays: 0b1100000 }), // weekends
    benefitOf({ valid_from: "2026-03-01" }),
    benefitOf({ valid_until: "2026-02-28" }),
    benefitOf({ valid_from: "2026-02-28", valid_until: "2026-02-28", min_children: 1, child_age_max: 0 }),
  ];
  const families = [
    { adults: 1, children: [], flags: 0 },
    { adults: 2, children: [201503, 201807, 202201], flags: 0 },
    { adults: 2, children: [202302, 202609], flags: 1 }, // the second one expected in September 2026
    { adults: 1, children: [202602], flags: 1 }, // born in February 2026: 0 from then on
    { adults: 2, children: [200903], flags: 0 }, // turns 17 in March 2026
  ];
  const days = ["2026-01-05", "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02", "2026-09-30", "2027-01-01"];
  const cases = [];
  for (const rules of ruleSets) {
    for (const family of families) {
      for (const on of days) {
        cases.push({ rules, family, on });
      }
    }
  }
  const run = spawnSync(python(), ["-c", PYTHON_RULES], {
    cwd: ROOT.pathname,
    input: JSON.stringify(cases),
    encoding: "utf8",
  });
  assert.equal(run.status, 0, run.stderr);
  const expected = JSON.parse(run.stdout);
  const actual = cases.map(({ rules, family, on }) => {
    const [year, month, day] = on.split("-").map(Number);
    return notEligible(rules, family, { year, month, day });
  });
  assert.deepEqual(actual, expected);
  // Not a trivial agreement: every reason occurs, and so does "may use it".
  assert.deepEqual(
    new Set(expected),
    new Set([null, "not_yet_valid", "ended", "wrong_weekday", "too_few_children", "no_child_of_age", "not_entitled"]),
  );
});

test("the city's date, titles and card numbers as the server gives them", () => {
  // 23:30 UTC on 31 December is already 1 January in Berlin.
  assert.deepEqual(cityDate(Date.UTC(2026, 11, 31, 23, 30), "Europe/Berlin"), { year: 2027, month: 1, day: 1 });
  assert.deepEqual(cityDate(Date.UTC(2026, 11, 31, 22, 30), "Europe/Berlin"), { year: 2026, month: 12, day: 31 });
  assert.equal(localizedText({ de: "Eintritt", en: " Entry " }, "en"), "Entry");
  assert.equal(localizedText({ de: "Eintritt", en: "  " }, "en"), "Eintritt");
  assert.equal(localizedText({ tr: "Giriş", fr: "Entrée" }, "en"), "Entrée");
  assert.equal(localizedText({}, "en"), "");
  assert.equal(formatCardNumber("32BZ25XZV"), "32B Z25 XZV");
  assert.equal(formatCardNumber("A1"), "A1");
});

// --- the queue and the upload ---------------------------------------------------------------------------------------

function uploadServer(answer) {
  const calls = [];
  const fetch = async (url, init) => {
    const body = JSON.parse(init.body);
    calls.push({ url, init, body });
    return answer(body, calls.length);
  };
  return { calls, fetch };
}

function recordedAll(body, flagsFor = () => []) {
  return jsonResponse(200, {
    redemptions: body.redemptions.map((item, index) => ({
      client_nonce: item.client_nonce,
      id: `r-${item.client_nonce}`,
      status: "recorded",
      flags: flagsFor(item, index),
      code: null,
    })),
    verifications: body.verifications.map(() => ({ status: "recorded", code: null })),
  });
}

async function queueThree(store) {
  const items = [];
  for (const [nonce, at] of [
    ["n-2", NOW_MS + 2000],
    ["n-1", NOW_MS + 1000],
    ["n-3", NOW_MS + 3000],
  ]) {
    items.push(
      await queueRedemption(store, {
        text: vector("ok_phone"),
        benefitId: BENEFIT,
        locationId: LOCATION,
        quantity: 2,
        clientNonce: nonce,
        occurredAtMs: at,
      }),
    );
  }
  return items;
}

test("redemptions are queued with their nonce and the till's time, oldest first, once per nonce", async () => {
  const store = await storeWith();
  const [first] = await queueThree(store);
  assert.deepEqual(first, {
    client_nonce: "n-2",
    text: vector("ok_phone"),
    benefit_id: BENEFIT,
    location_id: LOCATION,
    quantity: 2,
    occurred_at: new Date(NOW_MS + 2000).toISOString(),
  });
  // A second tap with the same nonce stays one redemption.
  const again = { text: "x", benefitId: BENEFIT, locationId: LOCATION, quantity: 1, clientNonce: "n-2" };
  assert.equal((await queueRedemption(store, again)).text, vector("ok_phone"));
  const pending = await pendingRedemptions(store);
  assert.deepEqual(
    pending.map((item) => item.client_nonce),
    ["n-1", "n-2", "n-3"],
  );
  assert.equal(pending[1].quantity, 2);
  const fresh = await queueRedemption(store, { text: "y", benefitId: BENEFIT, locationId: LOCATION, quantity: 1 });
  assert.match(fresh.client_nonce, /^[0-9a-f-]{36}$/);
});

test("the upload sends the queue and the verifications, and empties both", async () => {
  const store = await storeWith();
  await queueThree(store);
  await verifyOffline(store, { text: vector("ok_phone"), locationId: LOCATION, nowMs: NOW_MS });
  const server = uploadServer((body) =>
    recordedAll(body, (item) => (item.client_nonce === "n-3" ? ["limit_reached"] : [])),
  );
  const uploadUrl = "/api/v1/redemptions/uploads";
  const counts = await uploadQueued(store, { uploadUrl, csrf: "token", fetch: server.fetch });
  assert.deepEqual(counts, { uploaded: 3, flagged: 1, failed: 0, pending: 0, error: null });
  assert.equal(server.calls.length, 1);
  const [call] = server.calls;
  assert.equal(call.url, "/api/v1/redemptions/uploads");
  assert.equal(call.init.method, "POST");
  assert.equal(call.init.headers["X-CSRF-Token"], "token");
  assert.deepEqual(
    call.body.redemptions.map((item) => item.client_nonce),
    ["n-1", "n-2", "n-3"],
  );
  assert.deepEqual(Object.keys(call.body.redemptions[0]).sort(), [
    "benefit_id",
    "client_nonce",
    "location_id",
    "occurred_at",
    "quantity",
    "text",
  ]);
  assert.deepEqual(call.body.verifications, [
    { reason: "ok", presentation: "phone", at: new Date(NOW_MS).toISOString(), location_id: LOCATION },
  ]);
  assert.deepEqual(await pendingRedemptions(store), []);
  assert.deepEqual(await pendingVerifications(store), []);
  // Nothing left: no request at all.
  assert.deepEqual(await uploadQueued(store, { uploadUrl: "/u", csrf: "t", fetch: server.fetch }), {
    uploaded: 0,
    flagged: 0,
    failed: 0,
    pending: 0,
    error: null,
  });
  assert.equal(server.calls.length, 1);
});

test("refused and malformed items leave the queue for the rejected list; the rest is sent", async () => {
  const store = await storeWith();
  await queueThree(store);
  const server = uploadServer((body, call) => {
    if (call === 1) {
      return jsonResponse(422, {
        code: "invalid_input",
        errors: [{ field: "redemptions[1].occurred_at", message: "Check the till's clock." }],
      });
    }
    return jsonResponse(200, {
      redemptions: body.redemptions.map((item) =>
        item.client_nonce === "n-1"
          ? { client_nonce: "n-1", id: null, status: "refused", flags: [], code: "benefit_not_found" }
          : { client_nonce: item.client_nonce, id: "r", status: "replayed", flags: [], code: null },
      ),
      verifications: [],
    });
  });
  const counts = await uploadQueued(store, { uploadUrl: "/u", csrf: "t", fetch: server.fetch });
  assert.deepEqual(counts, { uploaded: 1, flagged: 0, failed: 2, pending: 0, error: null });
  assert.deepEqual(
    server.calls[1].body.redemptions.map((item) => item.client_nonce),
    ["n-1", "n-3"],
  );
  const rejected = (await rejectedRedemptions(store)).sort((a, b) => a.client_nonce.localeCompare(b.client_nonce));
  assert.deepEqual(
    rejected.map(({ client_nonce, code, message }) => [client_nonce, code, message]),
    [
      ["n-1", "benefit_not_found", null],
      ["n-2", "invalid_input", "Check the till's clock."],
    ],
  );
});

test("without a network, signed out or on a server error, everything stays queued", async () => {
  const store = await storeWith();
  await queueThree(store);
  const failing = [
    [async () => { throw new TypeError("Failed to fetch"); }, "network"],
    [async () => jsonResponse(401, { code: "not_authenticated" }), "signed_out"],
    [async () => jsonResponse(503, { code: "unavailable" }), "503"],
    [async () => jsonResponse(200, { something: "else" }), "200"],
  ];
  for (const [fetch, error] of failing) {
    const counts = await uploadQueued(store, { uploadUrl: "/u", csrf: "t", fetch });
    assert.deepEqual(counts, { uploaded: 0, flagged: 0, failed: 0, pending: 3, error });
  }
  assert.equal((await pendingRedemptions(store)).length, 3);
  // The browser says it is offline: not even a try.
  const navigator = Object.getOwnPropertyDescriptor(globalThis, "navigator");
  Object.defineProperty(globalThis, "navigator", { value: { onLine: false }, configurable: true });
  try {
    const counts = await uploadQueued(store, { uploadUrl: "/u", csrf: "t", fetch: () => assert.fail("fetched") });
    assert.deepEqual(counts, { uploaded: 0, flagged: 0, failed: 0, pending: 3, error: null });
  } finally {
    if (navigator) {
      Object.defineProperty(globalThis, "navigator", navigator);
    } else {
      delete globalThis.navigator;
    }
  }
});

test("two uploads at once send the queue once", async () => {
  const store = await storeWith();
  await queueThree(store);
  const server = uploadServer(async (body) => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return recordedAll(body);
  });
  const [a, b] = await Promise.all([
    uploadQueued(store, { uploadUrl: "/u", csrf: "t", fetch: server.fetch }),
    uploadQueued(store, { uploadUrl: "/u", csrf: "t", fetch: server.fetch }),
  ]);
  assert.equal(server.calls.length, 1);
  assert.deepEqual(a, b);
  assert.equal(a.uploaded, 3);
});

test("a large queue goes up in uploads of at most the server's size", async () => {
  const store = await storeWith();
  for (let index = 0; index < 205; index += 1) {
    await queueRedemption(store, {
      text: "FK1:x",
      benefitId: BENEFIT,
      locationId: LOCATION,
      quantity: 1,
      clientNonce: `n-${String(index).padStart(3, "0")}`,
      occurredAtMs: NOW_MS + index,
    });
  }
  const server = uploadServer((body) => recordedAll(body));
  const counts = await uploadQueued(store, { uploadUrl: "/u", csrf: "t", fetch: server.fetch });
  assert.equal(counts.uploaded, 205);
  assert.deepEqual(
    server.calls.map((call) => call.body.redemptions.length),
    [200, 5],
  );
});

// --- the service worker ---------------------------------------------------------------------------------------------

// Where the app serves each URL from (familienkarte/app.py: /static, and the vendor mounts).
function fileFor(url) {
  const vendor = {
    "/static/vendor/barcode-detector/": "node_modules/barcode-detector/dist/",
    "/static/vendor/zxing-wasm/": "node_modules/zxing-wasm/dist/reader/",
  };
  for (const [prefix, folder] of Object.entries(vendor)) {
    if (url.startsWith(prefix)) {
      return new URL(`${folder}${url.slice(prefix.length)}`, ROOT);
    }
  }
  assert.ok(url.startsWith("/static/"), url);
  return new URL(`familienkarte${url}`, ROOT);
}

function imports(path) {
  const source = readFileSync(new URL(path, ROOT), "utf8");
  return [...source.matchAll(/from "\.\/([^"]+)"/g)].map((match) => `/static/js/${match[1]}`);
}

test("the scanner's service worker caches files that exist, including everything the page loads", () => {
  const worker = readFileSync(new URL("familienkarte/static/js/scanner-sw.js", ROOT), "utf8");
  const list = worker.match(/const STATIC_FILES = \[([^\]]*)\]/);
  assert.ok(list, "STATIC_FILES list");
  const files = [...list[1].matchAll(/"([^"]+)"/g)].map((match) => match[1]);
  for (const url of files) {
    assert.ok(existsSync(fileFor(url)), `${url} is missing`);
  }
  const page = readFileSync(new URL("partner_portal/templates/partner/scanner.html", ROOT), "utf8");
  const base = readFileSync(new URL("familienkarte/templates/base.html", ROOT), "utf8");
  const loaded = [...`${base}\n${page}`.matchAll(/(?:href|src)="(\/static\/[^"]+)"/g)].map((match) => match[1]);
  // The camera's QR reader, for browsers without their own, is named by data attributes.
  loaded.push(...[...page.matchAll(/data-(?:polyfill|wasm)-url="([^"]+)"/g)].map((match) => match[1]));
  assert.ok(loaded.includes("/static/js/scanner.js"), "the page loads scanner.js");
  const modules = ["familienkarte/static/js/scanner.js", "familienkarte/static/js/scanner-logic.js",
    "familienkarte/static/js/scanner-offline.js", "familienkarte/static/js/status-list.js"];
  for (const url of [...loaded, ...modules.flatMap(imports)]) {
    assert.ok(files.includes(url), `${url} is not cached for offline use`);
  }
  assert.match(worker, /const PAGE = "\/partner\/scanner";/);
});
