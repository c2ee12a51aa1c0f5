// The browser status list reader (familienkarte/static/js/status-list.js) against the shared vectors and the
// Python choices. Run with `make test-js` (node --test tests/js/).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import test from "node:test";
import { deflateRawSync, deflateSync } from "node:zlib";

import { b64urlEncode, importJwks, verifyPresentation } from "../../familienkarte/static/js/fk1.js";
import {
  MAX_ENTRIES,
  StatusListError,
  decodeStatusList,
  statusAt,
  statusLookupFrom,
  verifyStatusListToken,
} from "../../familienkarte/static/js/status-list.js";

const VECTORS = JSON.parse(readFileSync(new URL("../vectors/fk1.json", import.meta.url), "utf8"));
const STATUS_LIST_URL = "https://familienkarte.example/api/v1/status-lists/";
const { subtle } = globalThis.crypto;
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" };
const ascii = new TextEncoder();
const KEYS = await importJwks(VECTORS.jwks);

async function issuerSigningKey(kid) {
  const { kty, crv, x, y, d } = VECTORS.test_only_issuer_private_keys.find((jwk) => jwk.kid === kid);
  return subtle.importKey("jwk", { kty, crv, x, y, d }, ECDSA_P256, false, ["sign"]);
}

const ISSUER_1 = await issuerSigningKey("test-k1");
const UNPUBLISHED = await issuerSigningKey("test-k9");

// A compact JWS over header and payload JSON texts, signed with a test-only issuer key.
async function signJws(headerJson, payloadJson, key = ISSUER_1) {
  const signingInput = `${b64urlEncode(ascii.encode(headerJson))}.${b64urlEncode(ascii.encode(payloadJson))}`;
  const signature = await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, ascii.encode(signingInput));
  return `${signingInput}.${b64urlEncode(signature)}`;
}

const HEADER = JSON.stringify({ alg: "ES256", kid: "test-k1", typ: "statuslist+jwt" });
const NOW = VECTORS.now;

function claims(changes = {}) {
  return {
    sub: `${STATUS_LIST_URL}1`,
    iat: NOW - 60,
    exp: NOW + 86400,
    ttl: 300,
    status_list: VECTORS.status_lists["1"],
    ...changes,
  };
}

async function token(changes = {}, header = HEADER, key = ISSUER_1) {
  return signJws(header, JSON.stringify(claims(changes)), key);
}

function lst(bytes) {
  return { bits: 2, lst: b64urlEncode(deflateSync(bytes, { level: 9 })) };
}

// The statuses the vector generator sets (tests/vectors/make_fk1_vectors.py, status_lists()).
const EXPECTED = {
  1: { size: 64, set: { 3: 1, 4: 2, 5: 3, 6: 1, 7: 2 } },
  2: { size: 16, set: { 1: 1 } },
};

// --- decoding ------------------------------------------------------------------------------------------------------

test("the vector status lists decode to the right statuses", async () => {
  for (const [id, { size, set }] of Object.entries(EXPECTED)) {
    const bytes = await decodeStatusList(VECTORS.status_lists[id]);
    assert.equal(bytes.length * 4, size);
    for (let index = 0; index < size; index += 1) {
      assert.equal(statusAt(bytes, index), set[index] ?? 0, `list ${id} index ${index}`);
    }
    assert.equal(statusAt(bytes, size), 1, "an index outside the list counts as revoked");
  }
});

test("entry 0 is in the least significant bits of byte 0", () => {
  const bytes = new Uint8Array([0b11_10_01_00, 0b00_00_00_10]);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7].map((index) => statusAt(bytes, index)),
    [0, 1, 2, 3, 2, 0, 0, 0],
  );
  for (const index of [-1, 8, 1.5, Number.NaN, "1", null, 2 ** 31]) {
    assert.equal(statusAt(bytes, index), 1, String(index));
  }
  assert.equal(statusAt([0], 0), 1, "not bytes: fail closed");
});

test("statusLookupFrom fails closed for unknown lists and indexes outside a list", async () => {
  const first = await decodeStatusList(VECTORS.status_lists["1"]);
  const second = await decodeStatusList(VECTORS.status_lists["2"]);
  for (const lists of [
    { 1: first, 2: second },
    new Map([
      [1, first],
      ["2", second],
    ]),
    { 1: { statusList: first }, 2: { statusList: second } },
  ]) {
    const lookup = statusLookupFrom(lists);
    assert.equal(lookup(1, 0), 0);
    assert.equal(lookup(1, 3), 1);
    assert.equal(lookup(1, 4), 2);
    assert.equal(lookup(1, 5), 3);
    assert.equal(lookup(2, 1), 1);
    assert.equal(lookup(2, 3), 0);
    assert.equal(lookup(1, 64), 1);
    assert.equal(lookup(7, 0), 1);
  }
  assert.equal(statusLookupFrom({})(1, 0), 1);
  assert.equal(statusLookupFrom({ constructor: first })(1, 0), 1);
});

test("decodeStatusList is as strict as the server", async () => {
  const valid = deflateSync(new Uint8Array([1, 2, 3, 4]));
  const bad = [
    null,
    [],
    "x",
    { lst: VECTORS.status_lists["1"].lst },
    { bits: 1, lst: VECTORS.status_lists["1"].lst },
    { bits: "2", lst: VECTORS.status_lists["1"].lst },
    { bits: 2 },
    { bits: 2, lst: 1 },
    { bits: 2, lst: `${VECTORS.status_lists["1"].lst}=` },
    { bits: 2, lst: VECTORS.status_lists["1"].lst.replace(/.$/, "g") }, // non-canonical last character
    { bits: 2, lst: "" },
    { bits: 2, lst: b64urlEncode(valid.subarray(0, -1)) }, // truncated
    { bits: 2, lst: b64urlEncode(Buffer.concat([valid, Buffer.from([0])])) }, // one byte after the stream
    { bits: 2, lst: b64urlEncode(Buffer.concat([valid, valid])) }, // a second stream after the first
    { bits: 2, lst: b64urlEncode(deflateRawSync(new Uint8Array([1]))) }, // deflate without the zlib wrapper
    { bits: 2, lst: b64urlEncode(Buffer.concat([valid.subarray(0, -1), Buffer.from([valid.at(-1) ^ 1])])) },
    lst(new Uint8Array(0)), // an empty list
    lst(new Uint8Array((MAX_ENTRIES * 2) / 8 + 1)), // beyond 16 Mi entries
  ];
  for (const value of bad) {
    await assert.rejects(decodeStatusList(value), StatusListError, JSON.stringify(value)?.slice(0, 80));
  }
  const largest = await decodeStatusList(lst(new Uint8Array((MAX_ENTRIES * 2) / 8)));
  assert.equal(largest.length * 4, MAX_ENTRIES);
  assert.deepEqual(await decodeStatusList(lst(new Uint8Array([1, 2, 3, 4]))), new Uint8Array([1, 2, 3, 4]));
});

// --- tokens --------------------------------------------------------------------------------------------------------

test("the vector status list tokens verify and match the lists", async () => {
  for (const [id, encoded] of Object.entries(VECTORS.status_list_tokens)) {
    const verified = await verifyStatusListToken(encoded, KEYS, NOW, { expectedSub: `${STATUS_LIST_URL}${id}` });
    assert.equal(verified.sub, `${STATUS_LIST_URL}${id}`);
    assert.equal(verified.iat, NOW - 60);
    assert.equal(verified.exp, NOW + 86400);
    assert.equal(verified.ttl, 300);
    assert.deepEqual(verified.statusList, await decodeStatusList(VECTORS.status_lists[id]));
  }
});

test("verified tokens drive verifyPresentation exactly as the decoded vector lists do", async () => {
  const lists = new Map();
  for (const [id, encoded] of Object.entries(VECTORS.status_list_tokens)) {
    lists.set(Number(id), await verifyStatusListToken(encoded, KEYS, NOW));
  }
  const statusLookup = statusLookupFrom(lists);
  for (const entry of VECTORS.cases) {
    const result = await verifyPresentation(entry.presentation, { keysByKid: KEYS, now: NOW, statusLookup });
    assert.equal(result.reason, entry.expected, entry.name);
  }
});

test("a token expires at exp + leeway", async () => {
  const encoded = VECTORS.status_list_tokens["1"];
  const exp = NOW + 86400;
  await verifyStatusListToken(encoded, KEYS, exp + 59);
  await assert.rejects(verifyStatusListToken(encoded, KEYS, exp + 60), /expired/);
  await assert.rejects(verifyStatusListToken(encoded, KEYS, exp + 1, { leeway: 0 }), /expired/);
  const noExp = await verifyStatusListToken(await token({ exp: undefined, ttl: undefined }), KEYS, NOW + 10 ** 9);
  assert.equal(noExp.exp, null);
  assert.equal(noExp.ttl, null);
});

test("status list tokens that are refused", async () => {
  const valid = await token();
  const [h, p, s] = valid.split(".");
  const cases = [
    ["not a string", null, /not a token/],
    ["two parts", `${h}.${p}`, /three parts/],
    ["four parts", `${valid}.x`, /three parts/],
    ["header not JSON", `${b64urlEncode(ascii.encode("x"))}.${p}.${s}`, /JSON objects/],
    ["payload an array", await signJws(HEADER, "[]"), /JSON objects/],
    ["crit", await token({}, '{"alg":"ES256","kid":"test-k1","typ":"statuslist+jwt","crit":["x"]}'), /critical/],
    ["unknown kid", await token({}, '{"alg":"ES256","kid":"test-k9","typ":"statuslist+jwt"}', UNPUBLISHED), /unknown/],
    ["kid not a string", await token({}, '{"alg":"ES256","kid":1,"typ":"statuslist+jwt"}'), /unknown/],
    ["signature not base64url", `${h}.${p}.${s}=`, /not base64url/],
    ["changed payload", `${h}.${b64urlEncode(ascii.encode(JSON.stringify(claims({ ttl: 1 }))))}.${s}`, /bad signature/],
    ["alg none", `${b64urlEncode(ascii.encode('{"alg":"none","kid":"test-k1","typ":"statuslist+jwt"}'))}.${p}.`, /bad/],
    ["alg HS256 label", await token({}, '{"alg":"HS256","kid":"test-k1","typ":"statuslist+jwt"}'), /bad signature/],
    ["no typ", await token({}, '{"alg":"ES256","kid":"test-k1"}'), /typ/],
    ["typ JWT", await token({}, '{"alg":"ES256","kid":"test-k1","typ":"JWT"}'), /typ/],
    ["no sub", await token({ sub: undefined }), /sub/],
    ["empty sub", await token({ sub: "" }), /sub/],
    ["no iat", await token({ iat: undefined }), /iat is required/],
    ["iat negative", await token({ iat: -1 }), /iat/],
    ["iat null", await token({ iat: null }), /iat/],
    ["iat a string", await token({ iat: String(NOW) }), /iat/],
    ["exp null", await token({ exp: null }), /exp/],
    ["ttl negative", await token({ ttl: -1 }), /ttl/],
    ["no status_list", await token({ status_list: undefined }), /status_list is required/],
    ["bits 1", await token({ status_list: { bits: 1, lst: VECTORS.status_lists["1"].lst } }), /bit/],
    ["status_list a string", await token({ status_list: "x" }), /object/],
  ];
  const floats = [
    ["iat 1.0", JSON.stringify(claims()).replace(/"iat":\d+/, `"iat":${NOW - 60}.0`), /iat/],
    ["exp 1e10", JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e10'), /exp/],
    ["bits 2.0", JSON.stringify(claims()).replace('"bits":2', '"bits":2.0'), /bit/],
  ];
  for (const [name, payload, message] of floats) {
    cases.push([name, await signJws(HEADER, payload), message]);
  }
  for (const [name, encoded, message] of cases) {
    await assert.rejects(verifyStatusListToken(encoded, KEYS, NOW), (error) => {
      assert.ok(error instanceof StatusListError, name);
      assert.match(error.message, message, name);
      return true;
    });
  }
  await assert.rejects(
    verifyStatusListToken(valid, KEYS, NOW, { expectedSub: `${STATUS_LIST_URL}2` }),
    /another list/,
  );
  await assert.rejects(verifyStatusListToken(valid, KEYS, undefined), TypeError);
});
