// The card page's logic (familienkarte/static/js/card-logic.js), its service worker's file list and its manifest.
// Run with `make test-js`. The page itself (DOM, IndexedDB, service worker) is exercised in a real browser.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import test from "node:test";

import {
  CLOCK_TOLERANCE_SECONDS,
  QUIET_ZONE_MODULES,
  REDRAW_SECONDS,
  RENEW_BEFORE_SECONDS,
  activationBody,
  clockIsOff,
  clockSkewSeconds,
  countdownText,
  credentialExpired,
  deviceKeyText,
  deviceNameFrom,
  fillText,
  generateDeviceKeyPair,
  makeQr,
  presentationAt,
  problemText,
  qrPath,
  recordFromResponse,
  renewalDue,
  secondsUntilRedraw,
  textsFrom,
  unixSeconds,
} from "../../familienkarte/static/js/card-logic.js";
import { b64urlDecode, b64urlEncode, importJwks, verifyPresentation } from "../../familienkarte/static/js/fk1.js";
import { decodeStatusList, statusLookupFrom } from "../../familienkarte/static/js/status-list.js";
import qrcode from "../../node_modules/qrcode-generator/dist/qrcode.mjs";

const ROOT = new URL("../../", import.meta.url);
const VECTORS = JSON.parse(readFileSync(new URL("tests/vectors/fk1.json", ROOT), "utf8"));
const { subtle } = globalThis.crypto;
const ascii = new TextEncoder();

const KEYS = await importJwks(VECTORS.jwks);
const LISTS = {};
for (const [id, encoded] of Object.entries(VECTORS.status_lists)) {
  LISTS[id] = await decodeStatusList(encoded);
}
const LOOKUP = statusLookupFrom(LISTS);
const NOW_MS = VECTORS.now * 1000;

function verifyAt(presentation, now) {
  return verifyPresentation(presentation, {
    keysByKid: KEYS,
    now,
    statusLookup: LOOKUP,
    staleAfter: VECTORS.stale_after,
    leeway: VECTORS.leeway,
  });
}

async function issuerKey() {
  const jwk = VECTORS.test_only_issuer_private_keys.find((entry) => entry.kid === "test-k1");
  const { kty, crv, x, y, d } = jwk;
  return subtle.importKey("jwk", { kty, crv, x, y, d }, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
}

// What the server does on activation: a credential bound to the phone's key, signed with the test issuer key.
async function issueFor(k, claims = {}) {
  const header = b64urlEncode(ascii.encode(JSON.stringify({ alg: "ES256", kid: "test-k1" })));
  const payload = b64urlEncode(
    ascii.encode(
      JSON.stringify({ sub: "32BZ25XZV", exp: 1769817600, a: 2, c: [201503, 201807, 202201], s: 1, k, ...claims }),
    ),
  );
  const signature = await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, await issuerKey(), ascii.encode(`${header}.${payload}`));
  return `${header}.${payload}.${b64urlEncode(signature)}`;
}

// --- texts ---------------------------------------------------------------------------------------------------------

test("fillText fills {placeholders} and leaves unknown ones visible", () => {
  assert.equal(fillText("Neuer Code in {seconds} s", { seconds: 7 }), "Neuer Code in 7 s");
  assert.equal(fillText("{seconds} ثانية", { seconds: 3 }), "3 ثانية");
  assert.equal(fillText("in {seconds} s ({other})", { seconds: 1 }), "in 1 s ({other})");
  assert.equal(fillText("no placeholder"), "no placeholder");
});

test("textsFrom reads data-text-* attributes and names a missing one", () => {
  const dataset = { textRenewsIn: "Neuer Code in {seconds} s", textLive: "Der Code ist gültig.", textError: "  " };
  const texts = textsFrom(dataset, ["renewsIn", "live", "error", "offline"]);
  assert.equal(texts.renewsIn, "Neuer Code in {seconds} s");
  assert.equal(texts.live, "Der Code ist gültig.");
  assert.equal(texts.error, "data-text-error");
  assert.equal(texts.offline, "data-text-offline");
});

test("problemText shows the server's translated detail, else the page's fallback", () => {
  assert.equal(problemText({ code: "card_not_active", detail: "Die Karte ist gesperrt." }, "Fehler"), "Die Karte ist gesperrt.");
  assert.equal(problemText({ code: "x", detail: "  " }, "Fehler"), "Fehler");
  assert.equal(problemText({ code: "x" }, "Fehler"), "Fehler");
  assert.equal(problemText(null, "Fehler"), "Fehler");
  assert.equal(problemText("oops", "Fehler"), "Fehler");
});

// --- countdown -----------------------------------------------------------------------------------------------------

test("the countdown counts from 15 down to 1 between redraws", () => {
  assert.equal(REDRAW_SECONDS, 15);
  const drawn = 1_000_000;
  assert.equal(secondsUntilRedraw(drawn, drawn), 15);
  assert.equal(secondsUntilRedraw(drawn, drawn + 999), 15);
  assert.equal(secondsUntilRedraw(drawn, drawn + 1000), 14);
  assert.equal(secondsUntilRedraw(drawn, drawn + 14_000), 1);
  assert.equal(secondsUntilRedraw(drawn, drawn + 20_000), 1, "never zero or negative");
  assert.equal(secondsUntilRedraw(drawn, drawn - 5000), 15, "a clock set back does not count up");
  assert.equal(countdownText("Neuer Code in {seconds} s", drawn, drawn + 4500), "Neuer Code in 11 s");
});

// --- clock -------------------------------------------------------------------------------------------------------

test("clock skew: the phone's clock minus the server's, warned beyond 30 s either way", () => {
  assert.equal(CLOCK_TOLERANCE_SECONDS, 30);
  assert.equal(clockSkewSeconds(1000, 1_030_000), 30);
  assert.equal(clockSkewSeconds(1000, 969_000), -31);
  assert.equal(clockSkewSeconds(undefined, 1_000_000), null);
  assert.equal(clockSkewSeconds("1000", 1_000_000), null);
  assert.equal(clockIsOff(30), false);
  assert.equal(clockIsOff(-30), false);
  assert.equal(clockIsOff(31), true);
  assert.equal(clockIsOff(-31), true);
  assert.equal(clockIsOff(null), false);
  assert.equal(clockIsOff(Number.NaN), false);
});

test("t is the phone's own clock, whatever the server's clock says", async () => {
  const keyPair = await generateDeviceKeyPair();
  const credential = await issueFor(await deviceKeyText(keyPair.publicKey));
  const text = await presentationAt(credential, keyPair.privateKey, NOW_MS + 999);
  assert.equal(text.split(".")[3], String(VECTORS.now));
  assert.equal(unixSeconds(NOW_MS + 999), VECTORS.now);
});

// --- renewal and expiry --------------------------------------------------------------------------------------------

test("renewal is due only online and within 7 days of exp, by the server's clock", () => {
  assert.equal(RENEW_BEFORE_SECONDS, 604_800);
  const now = 1_767_225_600;
  const nowMs = now * 1000;
  assert.equal(renewalDue({ exp: now + RENEW_BEFORE_SECONDS + 1, nowMs, online: true }), false);
  assert.equal(renewalDue({ exp: now + RENEW_BEFORE_SECONDS, nowMs, online: true }), true);
  assert.equal(renewalDue({ exp: now + 3600, nowMs, online: true }), true);
  assert.equal(renewalDue({ exp: now + 3600, nowMs, online: false }), false, "offline keeps the stored credential");
  assert.equal(renewalDue({ exp: undefined, nowMs, online: true }), false);
  // The phone runs 100 s slow: by the server's clock the credential is inside the window.
  assert.equal(renewalDue({ exp: now + RENEW_BEFORE_SECONDS + 50, nowMs, online: true, skewSeconds: -100 }), true);
  assert.equal(renewalDue({ exp: now + RENEW_BEFORE_SECONDS + 50, nowMs, online: true, skewSeconds: 0 }), false);
});

test("an expired credential is not drawn", () => {
  assert.equal(credentialExpired(1000, 999_999), false);
  assert.equal(credentialExpired(1000, 1_000_000), true);
  assert.equal(credentialExpired(undefined, 0), true);
});

test("recordFromResponse keeps the key pair and stores credential, id, exp and the measured clock offset", () => {
  const keyPair = { publicKey: "pub", privateKey: "priv" };
  const body = { credential_id: "c1", credential: "a.b.c", exp: 2000, server_time: 1000 };
  const record = recordFromResponse({ keyPair }, body, 1_040_000);
  assert.deepEqual(record, { keyPair, credential: "a.b.c", credentialId: "c1", exp: 2000, serverOffset: 40 });
  const renewed = recordFromResponse(record, { credential: "d.e.f", exp: 3000 }, 0);
  assert.deepEqual(renewed, { keyPair, credential: "d.e.f", credentialId: "c1", exp: 3000, serverOffset: 40 });
  assert.throws(() => recordFromResponse({}, { credential: "a.b", exp: 1 }, 0), TypeError);
  assert.throws(() => recordFromResponse({}, { credential: "a.b.c" }, 0), TypeError);
  assert.throws(() => recordFromResponse({}, null, 0), TypeError);
});

// --- the device key and the code -----------------------------------------------------------------------------------

test("the device key: private half never exportable, public half sent as a 33-byte compressed point", async () => {
  const keyPair = await generateDeviceKeyPair();
  assert.equal(keyPair.privateKey.extractable, false);
  assert.deepEqual([...keyPair.privateKey.usages], ["sign"]);
  await assert.rejects(subtle.exportKey("pkcs8", keyPair.privateKey));
  await assert.rejects(subtle.exportKey("jwk", keyPair.privateKey));
  const body = await activationBody(keyPair, "Android · Firefox");
  assert.deepEqual(Object.keys(body).sort(), ["device_key", "device_name"]);
  assert.equal(body.device_name, "Android · Firefox");
  const point = b64urlDecode(body.device_key);
  assert.equal(point.length, 33);
  assert.ok(point[0] === 2 || point[0] === 3);
  const raw = new Uint8Array(await subtle.exportKey("raw", keyPair.publicKey));
  assert.deepEqual(point.subarray(1), raw.subarray(1, 33));
  const other = await generateDeviceKeyPair();
  assert.notEqual(await deviceKeyText(other.publicKey), body.device_key, "each phone has its own key");
});

test("a code drawn on the phone verifies as ok against the vectors' issuer key, and is stale 91 s later", async () => {
  const keyPair = await generateDeviceKeyPair();
  const credential = await issueFor(await deviceKeyText(keyPair.publicKey));
  const text = await presentationAt(credential, keyPair.privateKey, NOW_MS);
  assert.ok(text.startsWith(`FK1:${credential}.${VECTORS.now}.`));
  assert.equal((await verifyAt(text, VECTORS.now)).reason, "ok");
  assert.equal((await verifyAt(text, VECTORS.now + 90)).reason, "ok");
  assert.equal((await verifyAt(text, VECTORS.now + 91)).reason, "stale");
  const next = await presentationAt(credential, keyPair.privateKey, NOW_MS + REDRAW_SECONDS * 1000);
  assert.notEqual(next, text);
  assert.equal((await verifyAt(next, VECTORS.now + 91)).reason, "ok", "the redrawn code is live again");
});

test("a code signed by another phone's key is refused as bad_proof", async () => {
  const phone = await generateDeviceKeyPair();
  const thief = await generateDeviceKeyPair();
  const credential = await issueFor(await deviceKeyText(phone.publicKey));
  const text = await presentationAt(credential, thief.privateKey, NOW_MS);
  assert.equal((await verifyAt(text, VECTORS.now)).reason, "bad_proof");
});

// --- the QR code ---------------------------------------------------------------------------------------------------

test("the phone's largest code fits QR version 16 at error correction M", async () => {
  const keyPair = await generateDeviceKeyPair();
  const credential = await issueFor(await deviceKeyText(keyPair.publicKey), { sub: "32BZ25XZV", s: 999_999 });
  const text = await presentationAt(credential, keyPair.privateKey, NOW_MS);
  assert.ok(text.length <= 420, `${text.length} characters`);
  const qr = makeQr(qrcode, text, "M");
  const version = (qr.getModuleCount() - 17) / 4;
  assert.ok(version >= 1 && version <= 16, `version ${version}`);
});

test("qrPath draws each run of dark modules once, offset by the quiet zone", () => {
  const grid = ["##.#", "....", ".###", "#..#"];
  const fake = { getModuleCount: () => 4, isDark: (row, col) => grid[row][col] === "#" };
  const { size, path } = qrPath(fake, 4);
  assert.equal(size, 12);
  assert.equal(path, "M4 4h2v1h-2zM7 4h1v1h-1zM5 6h3v1h-3zM4 7h1v1h-1zM7 7h1v1h-1z");
  assert.equal(QUIET_ZONE_MODULES, 4);
});

test("qrPath of a real code covers exactly its dark modules", () => {
  const qr = makeQr(qrcode, "FK1:test", "M");
  const { size, path } = qrPath(qr);
  assert.equal(size, qr.getModuleCount() + 2 * QUIET_ZONE_MODULES);
  let dark = 0;
  for (let row = 0; row < qr.getModuleCount(); row += 1) {
    for (let col = 0; col < qr.getModuleCount(); col += 1) {
      dark += qr.isDark(row, col) ? 1 : 0;
    }
  }
  const drawn = [...path.matchAll(/h(\d+)v1/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  assert.equal(drawn, dark);
});

// --- device name ---------------------------------------------------------------------------------------------------

test("deviceNameFrom names platform and browser, never more of the user agent", () => {
  const firefoxAndroid = "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0";
  const safariIphone =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
  const chromeAndroid =
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
  const samsung =
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36";
  assert.equal(deviceNameFrom(firefoxAndroid), "Android · Firefox");
  assert.equal(deviceNameFrom(safariIphone), "iPhone · Safari");
  assert.equal(deviceNameFrom(chromeAndroid), "Android · Chrome");
  assert.equal(deviceNameFrom(samsung), "Android · Samsung Internet");
  assert.equal(deviceNameFrom(""), "Browser");
  assert.equal(deviceNameFrom(undefined), "Browser");
});

// --- offline files -------------------------------------------------------------------------------------------------

// Where the app serves each URL from (familienkarte/app.py: /static, and the vendor mount of qrcode-generator).
function fileFor(url) {
  if (url.startsWith("/static/vendor/qrcode-generator/")) {
    return new URL(`node_modules/qrcode-generator/dist/${url.slice("/static/vendor/qrcode-generator/".length)}`, ROOT);
  }
  assert.ok(url.startsWith("/static/"), url);
  return new URL(`familienkarte${url}`, ROOT);
}

test("the service worker caches files that exist, including every module the page imports", () => {
  const worker = readFileSync(new URL("familienkarte/static/js/card-sw.js", ROOT), "utf8");
  const list = worker.match(/const STATIC_FILES = \[([^\]]*)\]/);
  assert.ok(list, "STATIC_FILES list");
  const files = [...list[1].matchAll(/"([^"]+)"/g)].map((match) => match[1]);
  for (const url of files) {
    assert.ok(existsSync(fileFor(url)), `${url} is missing`);
  }
  const page = readFileSync(new URL("familienkarte/static/js/card.js", ROOT), "utf8");
  const imported = [...page.matchAll(/from "\.\/([^"]+)"/g)].map((match) => `/static/js/${match[1]}`);
  imported.push(page.match(/QR_LIBRARY = "([^"]+)"/)[1]);
  const logic = readFileSync(new URL("familienkarte/static/js/card-logic.js", ROOT), "utf8");
  imported.push(...[...logic.matchAll(/from "\.\/([^"]+)"/g)].map((match) => `/static/js/${match[1]}`));
  for (const url of ["/static/js/card.js", ...imported]) {
    assert.ok(files.includes(url), `${url} is not cached for offline use`);
  }
  // The caching itself is shared with the scanner page's worker; the browser keeps imported scripts with the worker.
  for (const name of ["card-sw.js", "scanner-sw.js"]) {
    const source = readFileSync(new URL(`familienkarte/static/js/${name}`, ROOT), "utf8");
    const shared = source.match(/importScripts\("([^"]+)"\)/);
    assert.ok(shared, `${name} imports the shared worker code`);
    assert.ok(existsSync(fileFor(shared[1])), `${shared[1]} is missing`);
  }
});

test("the manifest starts the installed app on the card page, with icons that exist", () => {
  const manifest = JSON.parse(readFileSync(new URL("familienkarte/static/manifest.webmanifest", ROOT), "utf8"));
  assert.equal(manifest.name, "Familienkarte");
  assert.equal(manifest.start_url, "/card");
  assert.equal(manifest.display, "standalone");
  assert.ok(manifest.icons.length >= 1);
  for (const icon of manifest.icons) {
    assert.ok(existsSync(fileFor(icon.src)), `${icon.src} is missing`);
  }
});

test("every text card.js shows is one of the data-text-* attributes it reads", () => {
  const page = readFileSync(new URL("familienkarte/static/js/card.js", ROOT), "utf8");
  const names = [...page.match(/const TEXT_NAMES = \[([^\]]*)\]/)[1].matchAll(/"([^"]+)"/g)].map((match) => match[1]);
  const used = new Set([...page.matchAll(/this\.texts\.([A-Za-z]+)/g)].map((match) => match[1]));
  for (const name of used) {
    assert.ok(names.includes(name), `${name} is shown but not read from the page`);
  }
  assert.deepEqual(
    names.map((name) => `data-text-${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`),
    [
      "data-text-activate",
      "data-text-activating",
      "data-text-live",
      "data-text-renews-in",
      "data-text-offline",
      "data-text-expired",
      "data-text-error-network",
      "data-text-error",
      "data-text-unsupported",
    ],
  );
  assert.doesNotMatch(page, /\.textContent = ["'`]/, "no literal text in card.js");
});
