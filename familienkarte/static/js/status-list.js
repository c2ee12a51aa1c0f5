// Status lists (CREDENTIAL.md, IETF Token Status List draft), for the browser and Node: which credentials are
// revoked or suspended. The same checks as familienkarte/credentials/status_list.py.
//
// Two bits per credential (0 valid, 1 revoked, 2 suspended), entry 0 in the least significant bits of byte 0,
// DEFLATE-compressed in the zlib format and base64url-encoded ({"bits": 2, "lst": ...}). The list travels as a
// JWT with header typ "statuslist+jwt", signed with an issuer key, so offline scanners can cache it.

import { ALG, DEFAULT_LEEWAY, JsonFloat, b64urlDecode, decodeJsonSegment, verifyEs256 } from "./fk1.js";

export const BITS = 2;
export const VALID = 0;
export const REVOKED = 1;
export const SUSPENDED = 2;
export const STATUS_LIST_TYP = "statuslist+jwt";
// 16 Mi entries (4 MiB uncompressed) is far beyond any city; the cap keeps a hostile list from inflating.
export const MAX_ENTRIES = 1 << 24;
const MAX_BYTES = (MAX_ENTRIES * BITS) / 8;
const PER_BYTE = 8 / BITS;
const MASK = (1 << BITS) - 1;
const MAX_TOKEN_LENGTH = 8 * 1024 * 1024;

/** An encoded status list or status list token that cannot be used. */
export class StatusListError extends Error {
  constructor(message) {
    super(message);
    this.name = "StatusListError";
  }
}

/**
 * The status of entry `index` (0 valid, 1 revoked, 2 suspended, 3 undefined) in the bytes of a decoded list.
 * An index outside the list counts as revoked (fail closed).
 */
export function statusAt(bytes, index) {
  if (!(bytes instanceof Uint8Array) || !Number.isInteger(index) || index < 0 || index >= bytes.length * PER_BYTE) {
    return REVOKED;
  }
  return (bytes[Math.floor(index / PER_BYTE)] >> ((index % PER_BYTE) * BITS)) & MASK;
}

// --- inflating exactly one zlib stream -----------------------------------------------------------------------------

// The inflated bytes of `data`; rejects when the data is not a complete zlib stream or inflates beyond `limit`.
// Environments differ in what they ignore after the end of the stream, so callers check that separately.
async function inflate(data, limit) {
  const stream = new DecompressionStream("deflate");
  const writer = stream.writable.getWriter();
  writer.write(data).catch(() => {});
  writer.close().catch(() => {});
  const reader = stream.readable.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    total += value.length;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw new StatusListError("lst is too large");
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; i += 5552) {
    const end = Math.min(i + 5552, bytes.length);
    for (let j = i; j < end; j += 1) {
      a += bytes[j];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

// Whether this environment reports a zlib stream cut short as an error (every current one does); only then can a
// stream one byte shorter than the data tell whether anything follows the end of the stream.
let truncationIsReported = null;
function reportsTruncation() {
  if (truncationIsReported === null) {
    // zlib of the bytes 01 02 03 04 without the last byte of its checksum.
    const cut = new Uint8Array([0x78, 0x9c, 0x63, 0x64, 0x62, 0x66, 0x01, 0x00, 0x00, 0x18, 0x00]);
    truncationIsReported = inflate(cut, 16).then(
      () => false,
      () => true,
    );
  }
  return truncationIsReported;
}

// The bytes of exactly one zlib stream: no truncation, nothing after its end, at most `limit` bytes inflated.
async function inflateExactly(data, limit) {
  let out;
  try {
    out = await inflate(data, limit);
  } catch (error) {
    if (error instanceof StatusListError) {
      throw error;
    }
    throw new StatusListError("lst is not base64url of zlib data");
  }
  // A zlib stream ends with the Adler-32 checksum of what it inflates to, big-endian.
  const end = data.length;
  const checksum =
    end < 4 ? -1 : ((data[end - 4] << 24) | (data[end - 3] << 16) | (data[end - 2] << 8) | data[end - 1]) >>> 0;
  let shorterInflates = false;
  if (await reportsTruncation()) {
    shorterInflates = await inflate(data.subarray(0, data.length - 1), limit).then(
      () => true,
      () => false,
    );
  }
  if (checksum !== adler32(out) || shorterInflates) {
    throw new StatusListError("lst is truncated, followed by other data, or too large");
  }
  return out;
}

// --- decoding ------------------------------------------------------------------------------------------------------

function member(object, name) {
  if (object instanceof Map) {
    return object.has(name) ? { present: true, value: object.get(name) } : { present: false, value: undefined };
  }
  return Object.prototype.hasOwnProperty.call(object, name)
    ? { present: true, value: object[name] }
    : { present: false, value: undefined };
}

function isJsonObject(value) {
  if (value instanceof Map) {
    return true;
  }
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof JsonFloat);
}

/**
 * The bytes of a decoded status list, from its `status_list` object {"bits": 2, "lst": base64url(zlib(bytes))}
 * (a plain object, or a Map as the token reader gives it). Four entries per byte; read them with statusAt.
 * Rejects with a StatusListError for anything else, including lists that would inflate beyond 4 MiB.
 */
export async function decodeStatusList(statusList) {
  if (!isJsonObject(statusList)) {
    throw new StatusListError("status_list must be an object");
  }
  const bits = member(statusList, "bits").value;
  const lst = member(statusList, "lst").value;
  if (typeof bits !== "number" || bits !== BITS) {
    throw new StatusListError(`only ${BITS}-bit status lists are used`);
  }
  if (typeof lst !== "string") {
    throw new StatusListError("lst must be a string");
  }
  let compressed;
  try {
    compressed = b64urlDecode(lst);
  } catch {
    throw new StatusListError("lst is not base64url of zlib data");
  }
  const data = await inflateExactly(compressed, MAX_BYTES);
  if (data.length === 0 || data.length > MAX_BYTES) {
    throw new StatusListError("a status list has 1 byte to 4 MiB");
  }
  return data;
}

// --- status list tokens --------------------------------------------------------------------------------------------

function issuerKey(keysByKid, kid) {
  if (typeof kid !== "string" || keysByKid === null || typeof keysByKid !== "object") {
    return undefined;
  }
  if (keysByKid instanceof Map) {
    return keysByKid.get(kid);
  }
  return Object.prototype.hasOwnProperty.call(keysByKid, kid) ? keysByKid[kid] : undefined;
}

// Header and claims (Maps) of a compact ES256 JWS signed by one of keysByKid; rejects with a StatusListError.
async function verifyJws(token, keysByKid) {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) {
    throw new StatusListError("not a token");
  }
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new StatusListError("a compact JWS has three parts");
  }
  const header = decodeJsonSegment(parts[0]);
  const payload = decodeJsonSegment(parts[1]);
  if (header === null || payload === null) {
    throw new StatusListError("header and payload must be base64url JSON objects");
  }
  if (header.has("crit")) {
    throw new StatusListError("no critical header extension is understood");
  }
  const key = issuerKey(keysByKid, header.get("kid"));
  if (key === undefined || key === null) {
    throw new StatusListError("unknown key");
  }
  let signature;
  try {
    signature = b64urlDecode(parts[2]);
  } catch {
    throw new StatusListError("signature is not base64url");
  }
  const signingInput = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  if (header.get("alg") !== ALG || !(await verifyEs256(key, signature, signingInput))) {
    throw new StatusListError("bad signature");
  }
  return { header, payload };
}

function optionalInt(payload, name) {
  if (!payload.has(name)) {
    return null;
  }
  const value = payload.get(name);
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new StatusListError(`${name} must be a non-negative integer`);
  }
  return value;
}

/**
 * Check a status list token (GET /api/v1/status-lists/{l}): ES256 by a key in keysByKid (see importJwks), header
 * typ "statuslist+jwt", not expired at `now` (unix seconds, with `leeway`, default 60 s), sub as expected if
 * `expectedSub` is given. Resolves to { sub, iat, exp, ttl, statusList } (exp and ttl null when absent;
 * statusList the decoded bytes, see statusAt). Rejects with a StatusListError, also for a bad signature or an
 * unknown key.
 */
export async function verifyStatusListToken(token, keysByKid, now, options = {}) {
  const { expectedSub = null, leeway = DEFAULT_LEEWAY } = options;
  if (typeof now !== "number" || !Number.isFinite(now) || typeof leeway !== "number" || !Number.isFinite(leeway)) {
    throw new TypeError("now and leeway must be finite numbers of seconds");
  }
  const { header, payload } = await verifyJws(token, keysByKid);
  if (header.get("typ") !== STATUS_LIST_TYP) {
    throw new StatusListError(`typ must be ${STATUS_LIST_TYP}`);
  }
  const sub = payload.get("sub");
  if (typeof sub !== "string" || sub === "") {
    throw new StatusListError("sub must be the list's URL");
  }
  if (expectedSub !== null && sub !== expectedSub) {
    throw new StatusListError("the token is for another list");
  }
  const iat = optionalInt(payload, "iat");
  if (iat === null) {
    throw new StatusListError("iat is required");
  }
  const exp = optionalInt(payload, "exp");
  const ttl = optionalInt(payload, "ttl");
  if (exp !== null && now >= exp + leeway) {
    throw new StatusListError("the status list token has expired");
  }
  if (!payload.has("status_list")) {
    throw new StatusListError("status_list is required");
  }
  const statusList = await decodeStatusList(payload.get("status_list"));
  return { sub, iat, exp, ttl, statusList };
}

/**
 * A statusLookup(l, s) for verifyPresentation, from the lists a verifier holds: a Map or an object from list
 * id (l) to the list's bytes (decodeStatusList) or to a verified token (verifyStatusListToken). A list id that
 * is not there, or an index outside its list, counts as revoked: fail closed.
 */
export function statusLookupFrom(lists) {
  const byId = new Map();
  const entries = lists instanceof Map ? lists.entries() : Object.entries(lists ?? {});
  for (const [id, list] of entries) {
    const bytes = list instanceof Uint8Array ? list : list && list.statusList;
    if (bytes instanceof Uint8Array) {
      byId.set(String(id), bytes);
    }
  }
  return (l, s) => {
    const bytes = byId.get(String(l));
    return bytes === undefined ? REVOKED : statusAt(bytes, s);
  };
}
