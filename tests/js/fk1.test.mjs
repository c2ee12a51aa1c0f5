// The browser FK1 verifier (familienkarte/static/js/fk1.js) against the shared vectors and the Python choices.
// Run with `make test-js` (node --test tests/js/).

import assert from "node:assert/strict";
import { ECDH } from "node:crypto";
import { readFileSync } from "node:fs";
import test from "node:test";

import {
  MAX_PRESENTATION_LENGTH,
  Reason,
  b64urlDecode,
  b64urlEncode,
  compressPublicKey,
  decompressPublicKey,
  importJwks,
  makePhonePresentation,
  makePrintedPresentation,
  parseJson,
  JsonFloat,
  verifyPresentation,
} from "../../familienkarte/static/js/fk1.js";
import { decodeStatusList, statusLookupFrom } from "../../familienkarte/static/js/status-list.js";

const VECTORS = JSON.parse(readFileSync(new URL("../vectors/fk1.json", import.meta.url), "utf8"));
const { subtle } = globalThis.crypto;
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" };
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" };
const ascii = new TextEncoder();

const KEYS = await importJwks(VECTORS.jwks);
const LISTS = {};
for (const [id, encoded] of Object.entries(VECTORS.status_lists)) {
  LISTS[id] = await decodeStatusList(encoded);
}
const LOOKUP = statusLookupFrom(LISTS);

// As tests/unit/test_fk1_vectors.py does: the vector file's keys, clock, limits and status lists.
function verify(presentation, now = VECTORS.now, overrides = {}) {
  return verifyPresentation(presentation, {
    keysByKid: KEYS,
    now,
    statusLookup: LOOKUP,
    staleAfter: VECTORS.stale_after,
    leeway: VECTORS.leeway,
    ...overrides,
  });
}

function vector(name) {
  const found = VECTORS.cases.find((entry) => entry.name === name);
  assert.ok(found, `no vector ${name}`);
  return found.presentation;
}

function credentialOf(presentation) {
  return presentation.slice("FK1:".length).split(".").slice(0, 3).join(".");
}

function privateJwk(list, kid) {
  const jwk = list.find((entry) => entry.kid === kid);
  assert.ok(jwk, `no test-only key ${kid}`);
  const { kty, crv, x, y, d } = jwk;
  return { kty, crv, x, y, d };
}

async function signingKey(jwk) {
  return subtle.importKey("jwk", jwk, ECDSA_P256, false, ["sign"]);
}

const ISSUER_1 = await signingKey(privateJwk(VECTORS.test_only_issuer_private_keys, "test-k1"));
const DEVICE_1 = await signingKey(privateJwk(VECTORS.test_only_device_private_keys, "test-d1"));

// A compact JWS over the given header and payload JSON text, signed with a test-only issuer key.
async function signJws(headerJson, payloadJson, key = ISSUER_1) {
  const signingInput = `${b64urlEncode(ascii.encode(headerJson))}.${b64urlEncode(ascii.encode(payloadJson))}`;
  const signature = await subtle.sign(ECDSA_SHA256, key, ascii.encode(signingInput));
  return `${signingInput}.${b64urlEncode(signature)}`;
}

const HEADER_1 = JSON.stringify({ alg: "ES256", kid: "test-k1" });
const PRINTED_PAYLOAD = parseJsonPlain(credentialOf(vector("ok_printed")).split(".")[1]);

function parseJsonPlain(segment) {
  return JSON.parse(new TextDecoder().decode(b64urlDecode(segment)));
}

// A printed presentation over payload JSON text, validly signed by test-k1.
async function printedWithPayload(payloadJson) {
  return makePrintedPresentation(await signJws(HEADER_1, payloadJson));
}

// Replaces `"name":value` in the compact JSON of the printed vector's claims with `"name":<text>`.
function payloadWith(name, text) {
  const json = JSON.stringify(PRINTED_PAYLOAD);
  const pattern = new RegExp(`"${name}":(\\[[^\\]]*\\]|"[^"]*"|[^,}]*)`);
  assert.match(json, pattern);
  return json.replace(pattern, `"${name}":${text}`);
}

// --- the shared vectors --------------------------------------------------------------------------------------------

test("the vector file holds every reason code", () => {
  assert.deepEqual(new Set(VECTORS.cases.map((entry) => entry.expected)), new Set(Object.values(Reason)));
});

for (const entry of VECTORS.cases) {
  test(`vector ${entry.name}: ${entry.expected}`, async () => {
    const result = await verify(entry.presentation);
    assert.equal(result.reason, entry.expected, entry.description);
    assert.equal(result.kind, entry.kind);
    if (entry.expected === Reason.MALFORMED) {
      assert.deepEqual(result, { reason: "malformed", claims: null, kind: null, kid: null, t: null });
    }
  });
}

test("claims are given once the issuer signature verified, never before", async () => {
  const ok = await verify(vector("ok_phone"));
  assert.equal(ok.kid, "test-k1");
  assert.equal(ok.t, VECTORS.now - 5);
  assert.deepEqual(
    { ...ok.claims, c: [...ok.claims.c] },
    { ...PRINTED_PAYLOAD, exp: ok.claims.exp, s: 1, e: 0, l: 1, k: VECTORS.device_keys["test-d1"], nbf: null },
  );
  assert.ok(Object.isFrozen(ok.claims));
  for (const name of ["unknown_key", "bad_signature_changed_claim", "bad_signature_alg_none"]) {
    assert.equal((await verify(vector(name))).claims, null, name);
  }
  for (const name of ["expired", "not_yet_valid", "presentation_missing", "bad_proof_changed_t", "stale_91s_old"]) {
    assert.equal((await verify(vector(name))).claims.sub, PRINTED_PAYLOAD.sub, name);
  }
  const printed = await verify(vector("ok_printed"));
  assert.equal(printed.kind, "printed");
  assert.equal(printed.t, null);
  assert.equal(printed.claims.k, null);
});

test("the clock boundaries: expired at exp + leeway, stale beyond |now - t| > staleAfter", async () => {
  const printed = vector("ok_printed");
  const { exp } = (await verify(printed)).claims;
  assert.equal((await verify(printed, exp + 59)).reason, "ok");
  assert.equal((await verify(printed, exp + 60)).reason, "expired");
  assert.equal((await verify(printed, exp + 59.5)).reason, "ok");
  const phone = vector("ok_phone");
  const t = VECTORS.now - 5;
  assert.equal((await verify(phone, t + 90)).reason, "ok");
  assert.equal((await verify(phone, t + 90.5)).reason, "stale");
  assert.equal((await verify(phone, t - 90)).reason, "ok");
  assert.equal((await verify(phone, t - 91)).reason, "stale");
  assert.equal((await verify(phone, t + 100, { staleAfter: 120 })).reason, "ok");
  // The defaults are 90 s and 60 s.
  const defaults = { keysByKid: KEYS, now: t + 91, statusLookup: LOOKUP };
  assert.equal((await verifyPresentation(phone, defaults)).reason, "stale");
});

// --- phone presentations drawn here --------------------------------------------------------------------------------

test("a code drawn with the test device key verifies, and is stale 91 s later", async () => {
  const credential = credentialOf(vector("ok_phone"));
  const now = VECTORS.now + 1000;
  const presentation = await makePhonePresentation(credential, DEVICE_1, now);
  assert.match(presentation, /^FK1:[^.]+\.[^.]+\.[^.]+\.\d+\.[A-Za-z0-9_-]{86}$/);
  assert.ok(presentation.startsWith(`FK1:${credential}.${now}.`));
  const ok = await verify(presentation, now);
  assert.equal(ok.reason, "ok");
  assert.equal(ok.kind, "phone");
  assert.equal(ok.t, now);
  assert.equal((await verify(presentation, now + 91)).reason, "stale");
  assert.equal((await verify(presentation, now - 91)).reason, "stale");
});

test("activation: a fresh non-extractable device key, its k, an issued credential and its codes", async () => {
  const device = await subtle.generateKey(ECDSA_P256, false, ["sign", "verify"]);
  const k = compressPublicKey(await subtle.exportKey("raw", device.publicKey));
  const payload = { ...PRINTED_PAYLOAD, exp: VECTORS.now + 86400, s: 2, k };
  const credential = await signJws(HEADER_1, JSON.stringify(payload));
  const now = VECTORS.now;
  const code = await makePhonePresentation(credential, device.privateKey, now - 15);
  assert.equal((await verify(code, now)).reason, "ok");
  assert.equal((await verify(makePrintedPresentation(credential), now)).reason, "presentation_missing");
  const other = await subtle.generateKey(ECDSA_P256, false, ["sign", "verify"]);
  assert.equal((await verify(await makePhonePresentation(credential, other.privateKey, now), now)).reason, "bad_proof");
  assert.equal((await verify(await makePhonePresentation(credential, DEVICE_1, now), now)).reason, "bad_proof");
});

test("makePhonePresentation refuses a t that is not a non-negative integer, and a text that is not a JWS", async () => {
  const credential = credentialOf(vector("ok_phone"));
  for (const t of [-1, 1.5, Number.NaN, Infinity, 2 ** 53, "1767225600", null, undefined]) {
    await assert.rejects(makePhonePresentation(credential, DEVICE_1, t), TypeError, String(t));
  }
  await assert.rejects(makePhonePresentation(vector("ok_phone"), DEVICE_1, 1), TypeError);
  await assert.rejects(makePhonePresentation(null, DEVICE_1, 1), TypeError);
});

// --- device keys: compressed points --------------------------------------------------------------------------------

test("compressPublicKey gives the vector file's k for the test device keys, and decompresses back", () => {
  for (const jwk of VECTORS.test_only_device_private_keys) {
    const raw = new Uint8Array([4, ...b64urlDecode(jwk.x), ...b64urlDecode(jwk.y)]);
    const k = compressPublicKey(raw);
    assert.equal(k, VECTORS.device_keys[jwk.kid]);
    assert.deepEqual(decompressPublicKey(k), raw);
    assert.equal(compressPublicKey(b64urlDecode(k)), k);
    assert.equal(compressPublicKey(raw.buffer), k);
  }
});

test("compression round trip for fresh WebCrypto keys of both parities, checked against node:crypto", async () => {
  const parities = new Set();
  for (let i = 0; i < 64; i += 1) {
    const pair = await subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
    const raw = new Uint8Array(await subtle.exportKey("raw", pair.publicKey));
    const k = compressPublicKey(raw);
    const compressed = b64urlDecode(k);
    parities.add(compressed[0]);
    const expected = ECDH.convertKey(Buffer.from(raw), "prime256v1", undefined, undefined, "compressed");
    assert.deepEqual(compressed, new Uint8Array(expected));
    const decompressed = decompressPublicKey(k);
    assert.deepEqual(decompressed, raw);
    await subtle.importKey("raw", decompressed, ECDSA_P256, false, ["verify"]);
  }
  assert.deepEqual(parities, new Set([2, 3]));
});

test("points that are not on P-256 are refused", () => {
  const k = b64urlDecode(VECTORS.device_keys["test-d1"]);
  const notOnCurve = b64urlDecode(
    parseJsonPlain(credentialOf(vector("bad_proof_device_key_not_on_curve")).split(".")[1]).k,
  );
  assert.throws(() => decompressPublicKey(notOnCurve), TypeError);
  assert.throws(() => compressPublicKey(notOnCurve), TypeError);
  // x >= p, even when x - p has a point.
  const p = b64urlDecode("_____wAAAAEAAAAAAAAAAAAAAAD___________________8");
  const beyond = new Uint8Array(33);
  beyond[0] = 2;
  let carry = 0;
  for (let i = 31; i >= 0; i -= 1) {
    const sum = p[i] + k[i + 1] + carry;
    beyond[i + 1] = sum & 0xff;
    carry = sum >> 8;
  }
  if (carry === 0) {
    assert.throws(() => decompressPublicKey(beyond), TypeError);
  }
  assert.throws(() => decompressPublicKey(new Uint8Array([4, ...k.subarray(1)])), TypeError);
  assert.throws(() => decompressPublicKey(k.subarray(0, 32)), TypeError);
  assert.throws(() => compressPublicKey(new Uint8Array(65)), TypeError);
  const raw = decompressPublicKey(k);
  raw[64] ^= 1;
  assert.throws(() => compressPublicKey(raw), TypeError);
  raw[64] ^= 1;
  raw[0] = 6; // hybrid form: refused, as on the server
  assert.throws(() => compressPublicKey(raw), TypeError);
  assert.throws(() => compressPublicKey("not bytes"), TypeError);
});

// --- issuer keys ---------------------------------------------------------------------------------------------------

test("importJwks imports the P-256 ES256 keys and skips others", async () => {
  assert.deepEqual([...KEYS.keys()], ["test-k1", "test-k2"]);
  const [first, second] = VECTORS.jwks.keys;
  const mixed = {
    keys: [
      { kty: "RSA", kid: "rsa", n: "AQAB", e: "AQAB" },
      { ...first, kid: "p384", crv: "P-384" },
      { ...first, kid: "es384", alg: "ES384" },
      { ...first, kid: "nullalg", alg: null },
      { ...second, d: privateJwk(VECTORS.test_only_issuer_private_keys, "test-k2").d },
      { kty: "EC", crv: "P-256", x: first.x, y: first.y, kid: "noalg" },
    ],
  };
  const keys = await importJwks(mixed);
  assert.deepEqual([...keys.keys()], ["test-k2", "noalg"]);
  assert.equal(keys.get("test-k2").type, "public");
  assert.deepEqual(keys.get("test-k2").usages, ["verify"]);
});

test("importJwks refuses malformed P-256 keys, as the server does", async () => {
  const [first] = VECTORS.jwks.keys;
  const bad = [
    null,
    {},
    { keys: "none" },
    { keys: [1] },
    { keys: [{ ...first, use: "enc" }] },
    { keys: [{ ...first, kid: undefined }] },
    { keys: [{ ...first, kid: "nine-long" }] },
    { keys: [{ ...first, x: first.x.slice(1) }] },
    { keys: [{ ...first, x: `${first.x}=` }] },
    { keys: [{ ...first, y: first.x }] },
    { keys: [first, first] },
  ];
  for (const jwks of bad) {
    await assert.rejects(importJwks(jwks), Error, JSON.stringify(jwks));
  }
});

test("keysByKid may also be a plain object; a kid on Object.prototype is not a key", async () => {
  const keys = Object.fromEntries(KEYS);
  assert.equal((await verify(vector("ok_printed"), VECTORS.now, { keysByKid: keys })).reason, "ok");
  const payload = JSON.stringify(PRINTED_PAYLOAD);
  for (const kid of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
    const text = makePrintedPresentation(await signJws(JSON.stringify({ alg: "ES256", kid }), payload));
    assert.equal((await verify(text, VECTORS.now, { keysByKid: keys })).reason, "unknown_key", kid);
    assert.equal((await verify(text)).reason, "unknown_key", kid);
  }
});

// --- strictness beyond the vectors ---------------------------------------------------------------------------------

test("integer claims must be JSON integers within the safe range", async () => {
  const cases = [
    ["exp", "1798761600.0", "malformed"],
    ["exp", "1.7987616e9", "malformed"],
    ["exp", "1798761600E0", "malformed"],
    ["exp", "9007199254740991", "ok"],
    ["exp", "9007199254740992", "malformed"],
    ["exp", "9007199254740993", "malformed"],
    ["exp", `1${"0".repeat(400)}`, "malformed"],
    ["exp", "true", "malformed"],
    ["exp", "null", "malformed"],
    ["s", "-0", "ok"],
    ["s", "0.0", "malformed"],
    ["s", "2147483647", "revoked"],
    ["s", "2147483648", "malformed"],
    ["a", "99", "ok"],
    ["a", "100", "malformed"],
    ["a", "2.5", "malformed"],
    ["c", "[]", "ok"],
    ["c", `[${Array(32).fill(201503).join(",")}]`, "ok"],
    ["c", `[${Array(33).fill(201503).join(",")}]`, "malformed"],
    ["c", "[190001,999912]", "ok"],
    ["c", "[190000]", "malformed"],
    ["c", "[201500]", "malformed"],
    ["c", "[201503.0]", "malformed"],
    ["c", '["201503"]', "malformed"],
    ["c", "{}", "malformed"],
    ["sub", '"A"', "ok"],
    ["sub", `"${"A".repeat(32)}"`, "ok"],
    ["sub", `"${"A".repeat(33)}"`, "malformed"],
    ["sub", '""', "malformed"],
    ["sub", '"ABC\\n"', "malformed"],
    ["sub", '"\\u0041BC"', "ok"],
    ["sub", "1", "malformed"],
  ];
  for (const [name, text, expected] of cases) {
    const result = await verify(await printedWithPayload(payloadWith(name, text)));
    assert.equal(result.reason, expected, `${name}: ${text}`);
  }
  const optional = [
    [',"e":0', "ok"],
    [',"e":2147483647', "ok"],
    [',"e":2147483648', "malformed"],
    [',"e":-1', "malformed"],
    [',"e":1.0', "malformed"],
    [',"e":null', "malformed"],
    [',"l":0', "revoked"],
    [',"l":2', "ok"],
    [',"l":null', "malformed"],
    [',"nbf":0', "ok"],
    [',"nbf":-1', "malformed"],
    [',"nbf":null', "malformed"],
    [',"nbf":1767225660.0', "malformed"],
    [',"k":null', "malformed"],
    [',"k":1', "malformed"],
    [',"k":""', "malformed"],
    [`,"k":"${VECTORS.device_keys["test-d1"]}="`, "malformed"],
    [`,"k":"${VECTORS.device_keys["test-d1"]}"`, "presentation_missing"],
    [',"x":NaN', "malformed"],
    [',"x":Infinity', "malformed"],
    [',"x":-Infinity', "malformed"],
    [',"x":1e400', "ok"],
    [',"x":{"__proto__":{"k":"x"}},"__proto__":{"k":"x"}', "ok"],
    [',"x":"\\ud800"', "ok"],
    [',"x":"\\x41"', "malformed"],
    [',"x":"\\u00g1"', "malformed"],
    [',"x":[1,]', "malformed"],
    [',"x":01', "malformed"],
    [',"x":.5', "malformed"],
    [',"x":1.', "malformed"],
    [',"x":+1', "malformed"],
    [',"x":"tab\there"', "malformed"],
    [',"x":"del\u007f"', "ok"],
    [`,"x":${"[".repeat(50)}${"]".repeat(50)}`, "ok"],
    [`,"x":${"[".repeat(50)}${"]".repeat(49)}`, "malformed"],
  ];
  const base = JSON.stringify(PRINTED_PAYLOAD);
  for (const [extra, expected] of optional) {
    const payload = `${base.slice(0, -1)}${extra}}`;
    const presentation = await printedWithPayload(payload);
    assert.ok(presentation.length <= MAX_PRESENTATION_LENGTH);
    assert.equal((await verify(presentation)).reason, expected, extra.slice(0, 40));
  }
  // Integer literals of more than 4300 digits are refused, as the server's reader refuses them (they cannot fit
  // in a presentation, but they can in a status list token).
  assert.equal(parseJson(`[${"9".repeat(4300)}]`)[0], Infinity);
  assert.equal(parseJson(`[-${"9".repeat(4300)}]`)[0], -Infinity);
  assert.throws(() => parseJson(`[${"9".repeat(4301)}]`), SyntaxError);
  assert.throws(() => parseJson(`[-${"9".repeat(4301)}]`), SyntaxError);
  assert.ok(parseJson(`[${"9".repeat(5000)}.5]`)[0] instanceof JsonFloat);
});

test("duplicate claims: the last one counts, as on the server", async () => {
  const base = JSON.stringify(PRINTED_PAYLOAD);
  const later = `${base.slice(0, -1)},"a":100}`;
  assert.equal((await verify(await printedWithPayload(later))).reason, "malformed");
  const fixed = `{"a":100,${base.slice(1)}`;
  assert.equal((await verify(await printedWithPayload(fixed))).reason, "ok");
});

test("header and payload JSON: whitespace is fine; a byte order mark, a non-object or bad UTF-8 is not", async () => {
  const payload = JSON.stringify(PRINTED_PAYLOAD);
  const sign = async (header, body = payload) => makePrintedPresentation(await signJws(header, body));
  assert.equal((await verify(await sign(' \t\r\n{ "alg" : "ES256" , "kid" : "test-k1" }\n'))).reason, "ok");
  assert.equal((await verify(await sign(HEADER_1, ` ${payload} `))).reason, "ok");
  assert.equal((await verify(await sign(`\ufeff${HEADER_1}`))).reason, "malformed");
  assert.equal((await verify(await sign(HEADER_1, `\ufeff${payload}`))).reason, "malformed");
  assert.equal((await verify(await sign("null"))).reason, "malformed");
  assert.equal((await verify(await sign(HEADER_1, "[]"))).reason, "malformed");
  assert.equal((await verify(await sign('{"alg":"ES256","kid":"test-k1","typ":null}'))).reason, "malformed");
  assert.equal((await verify(await sign('{"alg":"ES256","kid":"test-k1","crit":[]}'))).reason, "malformed");
  assert.equal((await verify(await sign('{"alg":"ES256","kid":"test-k1","jku":"x"}'))).reason, "ok");
  assert.equal((await verify(await sign('{"alg":["ES256"],"kid":"test-k1"}'))).reason, "malformed");
  assert.equal((await verify(await sign('{"alg":"ES256","kid":"test-\\u006b1"}'))).reason, "ok");
  // Invalid UTF-8 (a lone continuation byte) in the payload.
  const bytes = ascii.encode(payload);
  const broken = new Uint8Array([...bytes.subarray(0, -1), 0x80, 0x7d]);
  const signingInput = `${b64urlEncode(ascii.encode(HEADER_1))}.${b64urlEncode(broken)}`;
  const signature = await subtle.sign(ECDSA_SHA256, ISSUER_1, ascii.encode(signingInput));
  assert.equal((await verify(`FK1:${signingInput}.${b64urlEncode(signature)}`)).reason, "malformed");
});

test("five parts of a credential without k: bad_proof; t as canonical decimal", async () => {
  const printed = credentialOf(vector("ok_printed"));
  const phone = credentialOf(vector("ok_phone"));
  const p = vector("ok_phone").split(".").pop();
  assert.equal((await verify(`FK1:${printed}.${VECTORS.now}.${p}`)).reason, "bad_proof");
  assert.equal((await verify(`FK1:${phone}.0.${p}`)).reason, "bad_proof");
  assert.equal((await verify(`FK1:${phone}.99999999999.${p}`)).reason, "bad_proof");
  assert.equal((await verify(`FK1:${phone}.100000000000.${p}`)).reason, "malformed");
  for (const t of ["1767225595.0", " 1767225595", "1767225595 ", "0x1", "١٢", "1_000"]) {
    assert.equal((await verify(`FK1:${phone}.${t}.${p}`)).reason, "malformed", t);
  }
});

test("the base64url reader is strict", () => {
  assert.deepEqual(b64urlDecode(""), new Uint8Array(0));
  assert.deepEqual(b64urlDecode("AA"), new Uint8Array([0]));
  assert.deepEqual(b64urlDecode("AAA"), new Uint8Array([0, 0]));
  assert.deepEqual(b64urlDecode("_-8"), new Uint8Array([0xff, 0xef]));
  for (const text of ["A", "AAAAA", "AB", "AAB", "AA==", "AA=", "+/8", "AA A", "AA\n", "ÄA", null, 1]) {
    assert.throws(() => b64urlDecode(text), TypeError, String(text));
  }
  for (let length = 0; length < 40; length += 1) {
    const bytes = new Uint8Array(length).map((_, i) => (i * 97 + length * 31) & 0xff);
    const text = b64urlEncode(bytes);
    assert.equal(text, Buffer.from(bytes).toString("base64url"));
    assert.deepEqual(b64urlDecode(text), bytes);
  }
});

test("parseJson accepts exactly what JSON.parse accepts, and tells integers from other numbers", () => {
  const texts = [
    "0", "-0", "1", "-1", "1.5", "1e3", "1E+3", "1e-3", "[]", "{}", '{"a":[1,{"b":null}]}', '""', '"\\u00e9"',
    " [ 1 , 2 ] ", "true", "false", "null", "", " ", "[", "]", "{", "}", "[1,]", "{,}", '{"a"}', '{"a":}',
    '{"a":1,}', "{1:2}", "'a'", "01", "-", "--1", "1.", ".1", "1e", "1e+", "NaN", "nul", "truex", '"\\u12"',
    '"\\uD83D\\uDE00"', '"\u2028"', '"\\"', "[1 2]", '{"a":1 "b":2}', "\ufeff1", "1\ufeff", "\u00a01", '"\t"',
    "[-]", "[1e1.5]", '{"__proto__":1}', "[[[]]]", "[[[]]", "2 3",
  ];
  for (const text of texts) {
    let expected = true;
    try {
      JSON.parse(text);
    } catch {
      expected = false;
    }
    let actual = true;
    try {
      parseJson(text);
    } catch (error) {
      assert.ok(error instanceof SyntaxError || error instanceof RangeError);
      actual = false;
    }
    assert.equal(actual, expected, JSON.stringify(text));
  }
  assert.equal(parseJson("42"), 42);
  assert.ok(Object.is(parseJson("-0"), 0));
  assert.ok(parseJson("1.0") instanceof JsonFloat);
  assert.equal(parseJson("1e3").value, 1000);
  const object = parseJson('{"__proto__":{"x":1},"a":1,"a":2}');
  assert.ok(object instanceof Map);
  assert.equal(object.get("a"), 2);
  assert.ok(object.get("__proto__") instanceof Map);
});

test("a presentation may be 2048 characters long, not more", async () => {
  assert.equal(vector("ok_length_2048").length, 2048);
  assert.equal((await verify(vector("ok_length_2048"))).reason, "ok");
  assert.equal((await verify(`${vector("ok_printed")}${"A".repeat(3000)}`)).reason, "malformed");
});

// --- robustness ----------------------------------------------------------------------------------------------------

test("never rejects, whatever the text", async () => {
  const texts = [
    undefined, null, 0, 42, true, {}, [], ["FK1:"], Symbol("FK1"), () => "FK1:", new String(vector("ok_printed")),
    "FK1:....", "FK1:.", "FK1:a.b.c", "FK1:e30.e30.", "FK1:e30.e30..0.", "FK1:\u0000", "FK1:\ud800.\udfff.x",
    "x".repeat(100000), `FK1:${"A".repeat(5000)}`, `FK1:${".".repeat(4)}`,
  ];
  for (const text of texts) {
    const result = await verify(text);
    assert.equal(result.reason, "malformed", String(typeof text === "symbol" ? "symbol" : text).slice(0, 40));
  }
});

test("a status lookup that fails counts as revoked; an async lookup is awaited", async () => {
  const failing = () => {
    throw new Error("no list");
  };
  assert.equal((await verify(vector("ok_printed"), VECTORS.now, { statusLookup: failing })).reason, "revoked");
  const rejecting = async () => {
    throw new Error("no list");
  };
  assert.equal((await verify(vector("ok_printed"), VECTORS.now, { statusLookup: rejecting })).reason, "revoked");
  for (const [status, reason] of [
    [0, "ok"], [1, "revoked"], [2, "suspended"], [3, "revoked"], [-1, "revoked"], ["0", "revoked"], [null, "revoked"],
  ]) {
    const lookup = async () => status;
    assert.equal((await verify(vector("ok_printed"), VECTORS.now, { statusLookup: lookup })).reason, reason);
  }
  const seen = [];
  await verify(vector("ok_entitlement_and_list_2"), VECTORS.now, { statusLookup: (l, s) => seen.push([l, s]) && 0 });
  assert.deepEqual(seen, [[2, 3]]);
});

test("wrong options are a programming error: rejected, never a verdict", async () => {
  const text = vector("ok_printed");
  const options = { keysByKid: KEYS, now: VECTORS.now, statusLookup: LOOKUP };
  for (const change of [
    { now: undefined }, { now: "1767225600" }, { now: Number.NaN }, { keysByKid: null }, { statusLookup: null },
    { staleAfter: "90" }, { leeway: Infinity },
  ]) {
    await assert.rejects(verifyPresentation(text, { ...options, ...change }), TypeError, JSON.stringify(change));
  }
  await assert.rejects(verifyPresentation(text), TypeError);
});

// A small seeded generator, so a failing mutation can be reproduced.
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

const FUZZ_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/: \n\u00e9\u0000{}\"";

function mutate(text, random) {
  const pick = (n) => Math.floor(random() * n);
  const character = () => FUZZ_CHARACTERS[pick(FUZZ_CHARACTERS.length)];
  const at = pick(text.length);
  switch (pick(8)) {
    case 0:
      return text.slice(0, at) + character() + text.slice(at + 1); // replace a character
    case 1:
      return text.slice(0, at) + character() + text.slice(at); // insert one
    case 2:
      return text.slice(0, at) + text.slice(at + 1); // delete one
    case 3: {
      const code = text.charCodeAt(at) ^ (1 << pick(7)); // flip a bit
      return text.slice(0, at) + String.fromCharCode(code) + text.slice(at + 1);
    }
    case 4:
      return text.slice(0, at); // truncate
    case 5: {
      const other = pick(text.length); // swap two characters
      const chars = [...text];
      [chars[at], chars[other]] = [chars[other], chars[at]];
      return chars.join("");
    }
    case 6: {
      const length = 1 + pick(20); // duplicate a run
      return text.slice(0, at) + text.slice(at, at + length) + text.slice(at);
    }
    default: {
      const parts = text.split("."); // drop, repeat or swap whole parts
      const i = pick(parts.length);
      const j = pick(parts.length);
      const choice = pick(3);
      if (choice === 0) {
        parts.splice(i, 1);
      } else if (choice === 1) {
        parts.splice(i, 0, parts[j]);
      } else {
        [parts[i], parts[j]] = [parts[j], parts[i]];
      }
      return parts.join(".");
    }
  }
}

test("2,000 random mutations of valid presentations never reject and never give ok", async () => {
  const random = generator(20260101);
  const bases = [vector("ok_phone"), vector("ok_printed"), vector("ok_entitlement_and_list_2")];
  const reasons = new Map();
  let mutations = 0;
  while (mutations < 2000) {
    const base = bases[mutations % bases.length];
    let text = mutate(base, random);
    if (random() < 0.3) {
      text = mutate(text, random);
    }
    if (text === base) {
      continue; // an unchanged text is no mutation
    }
    mutations += 1;
    const result = await verify(text);
    assert.notEqual(result.reason, "ok", `mutation ${mutations} of a valid presentation verified: ${text}`);
    assert.ok(Object.values(Reason).includes(result.reason));
    reasons.set(result.reason, (reasons.get(result.reason) ?? 0) + 1);
  }
  // The mutations reach past the first step.
  assert.ok(reasons.get("malformed") > 0 && reasons.get("bad_signature") > 0 && reasons.get("bad_proof") > 0);
});
