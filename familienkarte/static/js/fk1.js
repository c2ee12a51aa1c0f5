// FK1: the card credential, its two presentations, and the verifier (CREDENTIAL.md), for the browser and Node.
//
// The same checks as familienkarte/credentials/fk1.py, step for step, with the same choices where the contract
// leaves room; both verifiers are tested against the shared vectors in tests/vectors/fk1.json:
//
// - Base64url parts are strict: the URL-safe alphabet only, no padding, and canonical (the unused low bits of the
//   last character are zero). Anything else is "malformed".
// - JSON is read as strictly as the server reads it: no byte order mark, no NaN or Infinity, and an integer is
//   told apart from a number written with a fraction or an exponent (1.0 and 1e3 are not integers).
// - The header must be a JSON object with string "alg" and "kid", without "typ" or "crit".
// - Integer claims must be JSON integers within Number.MAX_SAFE_INTEGER; unknown claims are ignored.
// - "t" is canonical decimal: digits only, no sign, no leading zero, at most 11 digits; "p" is exactly 64 bytes.
// - A five-part presentation of a credential without "k" is "bad_proof".
// - A status other than 0 (valid) and 2 (suspended) counts as "revoked": unknown values fail closed.
//
// Issuer signatures and device proofs are ES256 in the raw 64-byte r||s form, which is what WebCrypto's ECDSA
// sign and verify use. The device key travels as a 33-byte compressed P-256 point; WebCrypto imports only
// uncompressed points, so the point is decompressed here.

export const PREFIX = "FK1:";
export const ALG = "ES256";
export const MAX_PRESENTATION_LENGTH = 2048;
export const DEFAULT_STALE_AFTER = 90;
export const DEFAULT_LEEWAY = 60;

/** The stable reason codes of CREDENTIAL.md, in the order the steps run. */
export const Reason = Object.freeze({
  MALFORMED: "malformed",
  UNKNOWN_KEY: "unknown_key",
  BAD_SIGNATURE: "bad_signature",
  EXPIRED: "expired",
  NOT_YET_VALID: "not_yet_valid",
  PRESENTATION_MISSING: "presentation_missing",
  BAD_PROOF: "bad_proof",
  STALE: "stale",
  REVOKED: "revoked",
  SUSPENDED: "suspended",
  OK: "ok",
});

const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER; // 2**53 - 1, as on the server
const MAX_INDEX = 2 ** 31 - 1;
const MAX_CHILDREN = 32;
const MAX_ADULTS = 99;
// The server's JSON reader refuses integer literals with more digits than this (its integer conversion limit).
const MAX_INTEGER_DIGITS = 4300;

const B64URL = /^[A-Za-z0-9_-]*$/;
const SUB = /^[A-Za-z0-9_-]{1,32}$/;
const KID = /^[A-Za-z0-9_-]{1,8}$/;
const T = /^(?:0|[1-9][0-9]{0,10})$/;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

const ECDSA_P256 = Object.freeze({ name: "ECDSA", namedCurve: "P-256" });
const ECDSA_SHA256 = Object.freeze({ name: "ECDSA", hash: "SHA-256" });

const asciiEncoder = new TextEncoder();
// fatal: invalid UTF-8 is an error; ignoreBOM: a byte order mark stays in the text, where JSON refuses it.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function subtle() {
  const value = globalThis.crypto && globalThis.crypto.subtle;
  if (!value) {
    throw new Error("WebCrypto (crypto.subtle) is not available; browsers offer it only on https pages");
  }
  return value;
}

// --- base64url -----------------------------------------------------------------------------------------------------

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ALPHABET_INDEX = new Uint8Array(128);
for (let index = 0; index < ALPHABET.length; index += 1) {
  ALPHABET_INDEX[ALPHABET.charCodeAt(index)] = index;
}

function toBytes(data) {
  if (data instanceof Uint8Array) {
    return data;
  }
  if (data instanceof ArrayBuffer) {
    return new Uint8Array(data);
  }
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new TypeError("expected bytes (Uint8Array, ArrayBuffer or another ArrayBuffer view)");
}

/** Base64url without padding (RFC 7515, section 2). */
export function b64urlEncode(data) {
  const bytes = toBytes(data);
  let out = "";
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
  }
  return out;
}

/** Strict base64url: URL-safe alphabet, no padding, canonical. Throws a TypeError otherwise. */
export function b64urlDecode(text) {
  if (typeof text !== "string" || !B64URL.test(text) || text.length % 4 === 1) {
    throw new TypeError("not base64url");
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i += 1) {
    buffer = ((buffer << 6) | ALPHABET_INDEX[text.charCodeAt(i)]) & 0xffffff; // the pattern above admits only ASCII
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o] = (buffer >> bits) & 0xff;
      o += 1;
    }
  }
  // Canonical: the bits left over after the last whole byte (2 or 4 of them) must be zero.
  if (bits > 0 && (buffer & ((1 << bits) - 1)) !== 0) {
    throw new TypeError("not canonical base64url");
  }
  return out;
}

// --- JSON, read like the server reads it ---------------------------------------------------------------------------

/** A JSON number written with a fraction or an exponent: never an integer claim, whatever its value. */
export class JsonFloat {
  constructor(value) {
    this.value = value;
  }
}

/**
 * Parse JSON text (RFC 8259). Objects become Maps (so no key can touch a prototype), integers become numbers,
 * numbers with a fraction or an exponent become JsonFloat. Throws a SyntaxError for anything that is not JSON,
 * including a byte order mark, NaN and Infinity, and integer literals longer than the server accepts.
 */
export function parseJson(text) {
  if (typeof text !== "string") {
    throw new SyntaxError("JSON text must be a string");
  }
  const n = text.length;
  let i = 0;

  const fail = () => {
    throw new SyntaxError(`not JSON (at character ${i})`);
  };
  const whitespace = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) {
        return;
      }
      i += 1;
    }
  };
  const literal = (word, value) => {
    if (!text.startsWith(word, i)) {
      fail();
    }
    i += word.length;
    return value;
  };

  const string = () => {
    i += 1; // the opening quote
    let out = "";
    let start = i;
    for (;;) {
      if (i >= n) {
        fail();
      }
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i += 1;
        return out;
      }
      if (c < 0x20) {
        fail();
      }
      if (c !== 0x5c) {
        i += 1;
        continue;
      }
      out += text.slice(start, i);
      const escape = text[i + 1];
      switch (escape) {
        case '"':
        case "\\":
        case "/":
          out += escape;
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "u": {
          const hex = text.slice(i + 2, i + 6);
          if (!HEX4.test(hex)) {
            fail();
          }
          out += String.fromCharCode(Number.parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          fail();
      }
      i += 2;
      start = i;
    }
  };

  const number = () => {
    NUMBER.lastIndex = i;
    const match = NUMBER.exec(text);
    if (match === null) {
      fail();
    }
    const source = match[0];
    i += source.length;
    if (match[1] !== undefined || match[2] !== undefined) {
      return new JsonFloat(Number(source));
    }
    const digits = source.startsWith("-") ? source.length - 1 : source.length;
    if (digits > MAX_INTEGER_DIGITS) {
      fail();
    }
    const value = Number(source);
    return value === 0 ? 0 : value; // -0 is the integer 0
  };

  const array = () => {
    i += 1;
    const out = [];
    whitespace();
    if (text[i] === "]") {
      i += 1;
      return out;
    }
    for (;;) {
      out.push(value());
      whitespace();
      if (text[i] === ",") {
        i += 1;
        whitespace();
      } else if (text[i] === "]") {
        i += 1;
        return out;
      } else {
        fail();
      }
    }
  };

  const object = () => {
    i += 1;
    const out = new Map();
    whitespace();
    if (text[i] === "}") {
      i += 1;
      return out;
    }
    for (;;) {
      if (text[i] !== '"') {
        fail();
      }
      const key = string();
      whitespace();
      if (text[i] !== ":") {
        fail();
      }
      i += 1;
      whitespace();
      out.set(key, value());
      whitespace();
      if (text[i] === ",") {
        i += 1;
        whitespace();
      } else if (text[i] === "}") {
        i += 1;
        return out;
      } else {
        fail();
      }
    }
  };

  const value = () => {
    switch (text[i]) {
      case "{":
        return object();
      case "[":
        return array();
      case '"':
        return string();
      case "n":
        return literal("null", null);
      case "t":
        return literal("true", true);
      case "f":
        return literal("false", false);
      default:
        return number();
    }
  };

  whitespace();
  const result = value();
  whitespace();
  if (i !== n) {
    fail();
  }
  return result;
}

/** The JSON object (a Map) in a base64url segment, or null for anything else. Never throws. */
export function decodeJsonSegment(segment) {
  try {
    const value = parseJson(utf8Decoder.decode(b64urlDecode(segment)));
    return value instanceof Map ? value : null;
  } catch {
    return null; // not base64url, not UTF-8, not JSON, or nested too deeply
  }
}

// --- ES256 and -----------------------------------------------------------------------------------------------------

/** Check a raw 64-byte r||s ES256 signature; any wrong length, key or value is simply false. */
export async function verifyEs256(publicKey, signature, data) {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    return false;
  }
  try {
    return await subtle().verify(ECDSA_SHA256, publicKey, signature, data);
  } catch {
    return false;
  }
}

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const SQRT_EXPONENT = (P + 1n) / 4n; // P is 3 mod 4, so a square root of v is v ** ((P + 1) / 4)

function modPow(base, exponent, modulus) {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) {
      result = (result * b) % modulus;
    }
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

function curveRightSide(x) {
  // y^2 = x^3 - 3x + b (mod p)
  return (((((x * x) % P) * x - 3n * x + B) % P) + P) % P;
}

function bytesToBigInt(bytes) {
  let value = 0n;
  for (const byte of bytes) {
    value = (value << 8n) | BigInt(byte);
  }
  return value;
}

function bigIntTo32Bytes(value) {
  const out = new Uint8Array(32);
  let v = value;
  for (let i = 31; i >= 0; i -= 1) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function isOnCurve(x, y) {
  return x < P && y < P && (y * y) % P === curveRightSide(x);
}

// The 65-byte uncompressed point (04 || x || y) of a 33-byte compressed point (02 or 03 || x), or null if the
// bytes are not a compressed point on P-256.
function decompress(bytes) {
  if (bytes.length !== 33 || (bytes[0] !== 2 && bytes[0] !== 3)) {
    return null;
  }
  const x = bytesToBigInt(bytes.subarray(1));
  if (x >= P) {
    return null;
  }
  const ySquared = curveRightSide(x);
  let y = modPow(ySquared, SQRT_EXPONENT, P);
  if ((y * y) % P !== ySquared) {
    return null; // no point on the curve has this x
  }
  if ((y & 1n) !== BigInt(bytes[0] & 1)) {
    y = (P - y) % P;
    if ((y & 1n) !== BigInt(bytes[0] & 1)) {
      return null; // y = 0 has no odd root
    }
  }
  const out = new Uint8Array(65);
  out[0] = 4;
  out.set(bytes.subarray(1), 1);
  out.set(bigIntTo32Bytes(y), 33);
  return out;
}

/**
 * The "k" claim for a device key: base64url of its 33-byte compressed P-256 point. Takes the 65-byte
 * uncompressed point that crypto.subtle.exportKey("raw", publicKey) gives (or an already compressed point).
 * Throws a TypeError for anything that is not a point on P-256.
 */
export function compressPublicKey(raw) {
  const bytes = toBytes(raw);
  if (bytes.length === 33) {
    if (decompress(bytes) === null) {
      throw new TypeError("not a compressed P-256 point");
    }
    return b64urlEncode(bytes);
  }
  if (bytes.length !== 65 || bytes[0] !== 4) {
    throw new TypeError("expected a 65-byte uncompressed P-256 point (04 || x || y)");
  }
  const x = bytesToBigInt(bytes.subarray(1, 33));
  const y = bytesToBigInt(bytes.subarray(33));
  if (!isOnCurve(x, y)) {
    throw new TypeError("not a point on P-256");
  }
  const out = new Uint8Array(33);
  out[0] = 2 | Number(y & 1n);
  out.set(bytes.subarray(1, 33), 1);
  return b64urlEncode(out);
}

/**
 * The 65-byte uncompressed point (04 || x || y) of a "k" claim (base64url of a 33-byte compressed point) or of
 * the 33 bytes themselves. Throws a TypeError if it is not a compressed P-256 point.
 */
export function decompressPublicKey(k) {
  const point = decompress(typeof k === "string" ? b64urlDecode(k) : toBytes(k));
  if (point === null) {
    throw new TypeError("not a compressed P-256 point");
  }
  return point;
}

// --- issuer keys ---------------------------------------------------------------------------------------------------

function has(object, name) {
  return Object.prototype.hasOwnProperty.call(object, name);
}

function coordinate(jwk, name) {
  const value = jwk[name];
  let raw = new Uint8Array(0);
  if (typeof value === "string") {
    try {
      raw = b64urlDecode(value);
    } catch {
      // reported below
    }
  }
  if (raw.length !== 32) {
    throw new Error(`JWK ${name} must be base64url of 32 bytes`);
  }
  return value;
}

/**
 * The verifying keys of a JWKS (the document at /.well-known/jwks.json), as a Map from kid to CryptoKey.
 * Keys of another type, curve or algorithm are skipped (forward compatibility); a malformed P-256 ES256 entry,
 * a point that is not on the curve or a kid used twice is an Error, as on the server.
 */
export async function importJwks(jwks) {
  const entries = jwks !== null && typeof jwks === "object" ? jwks.keys : undefined;
  if (!Array.isArray(entries)) {
    throw new Error("a JWKS has a list of keys");
  }
  const keys = new Map();
  for (const entry of entries) {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw new Error("each JWKS entry is an object");
    }
    const alg = has(entry, "alg") ? entry.alg : ALG;
    if (entry.kty !== "EC" || entry.crv !== "P-256" || alg !== ALG) {
      continue;
    }
    if ((has(entry, "use") ? entry.use : "sig") !== "sig") {
      throw new Error(`only ${ALG} signing keys are used`);
    }
    const kid = entry.kid;
    if (typeof kid !== "string" || !KID.test(kid)) {
      throw new Error("kid must be 1 to 8 characters of A-Z, a-z, 0-9, '-' or '_'");
    }
    const x = coordinate(entry, "x");
    const y = coordinate(entry, "y");
    if (!isOnCurve(bytesToBigInt(b64urlDecode(x)), bytesToBigInt(b64urlDecode(y)))) {
      throw new Error(`key ${kid} is not a point on P-256`);
    }
    if (keys.has(kid)) {
      throw new Error(`kid ${kid} is used twice`);
    }
    const publicJwk = { kty: "EC", crv: "P-256", x, y, ext: true };
    keys.set(kid, await subtle().importKey("jwk", publicJwk, ECDSA_P256, false, ["verify"]));
  }
  return keys;
}

// --- claims --------------------------------------------------------------------------------------------------------

function isInt(value, low = 0, high = MAX_SAFE_INTEGER) {
  return typeof value === "number" && Number.isInteger(value) && low <= value && value <= high;
}

function isYearMonth(value) {
  return isInt(value, 190001, 999912) && value % 100 >= 1 && value % 100 <= 12;
}

function isCompressedPointText(k) {
  if (typeof k !== "string") {
    return false;
  }
  let raw;
  try {
    raw = b64urlDecode(k);
  } catch {
    return false;
  }
  return raw.length === 33 && (raw[0] === 2 || raw[0] === 3);
}

// The claims of a credential from its decoded claims set (a Map), or null if a required claim is missing or a
// value is wrong.
function claimsFromPayload(payload) {
  for (const name of ["sub", "exp", "a", "c", "s"]) {
    if (!payload.has(name)) {
      return null;
    }
  }
  for (const name of ["e", "l", "k", "nbf"]) {
    if (payload.has(name) && payload.get(name) === null) {
      return null;
    }
  }
  const children = payload.get("c");
  if (!Array.isArray(children)) {
    return null;
  }
  const claims = {
    sub: payload.get("sub"),
    exp: payload.get("exp"),
    a: payload.get("a"),
    c: [...children],
    s: payload.get("s"),
    e: payload.has("e") ? payload.get("e") : 0,
    l: payload.has("l") ? payload.get("l") : 1,
    k: payload.has("k") ? payload.get("k") : null,
    nbf: payload.has("nbf") ? payload.get("nbf") : null,
  };
  const fine =
    typeof claims.sub === "string" &&
    SUB.test(claims.sub) &&
    isInt(claims.exp) &&
    (claims.nbf === null || isInt(claims.nbf)) &&
    isInt(claims.a, 0, MAX_ADULTS) &&
    claims.c.length <= MAX_CHILDREN &&
    claims.c.every(isYearMonth) &&
    isInt(claims.e, 0, MAX_INDEX) &&
    isInt(claims.s, 0, MAX_INDEX) &&
    isInt(claims.l, 0, MAX_INDEX) &&
    (claims.k === null || isCompressedPointText(claims.k));
  return fine ? Object.freeze({ ...claims, c: Object.freeze(claims.c) }) : null;
}

// --- presenting ----------------------------------------------------------------------------------------------------

/** The bytes a device signs: "<credential signature part>.<t>" in ASCII. */
export function proofMessage(credential, t) {
  const parts = String(credential).split(".");
  return asciiEncoder.encode(`${parts[parts.length - 1]}.${t}`);
}

/**
 * The QR text a phone shows at unix time t (seconds): "FK1:" + credential + "." + t + "." + p, where p is the
 * device key's raw ES256 signature over "<credential signature part>.<t>". deviceKey is the phone's private
 * ECDSA P-256 CryptoKey (non-extractable is fine). Throws a TypeError for a t that is not a non-negative integer.
 */
export async function makePhonePresentation(credential, deviceKey, t) {
  if (typeof credential !== "string" || credential.split(".").length !== 3) {
    throw new TypeError("credential must be a compact JWS (three dot-separated parts)");
  }
  if (!isInt(t)) {
    throw new TypeError("t must be a non-negative integer (unix seconds)");
  }
  const signature = await subtle().sign(ECDSA_SHA256, deviceKey, proofMessage(credential, t));
  return `${PREFIX}${credential}.${t}.${b64urlEncode(signature)}`;
}

/** The QR text of a printed card. */
export function makePrintedPresentation(credential) {
  return PREFIX + credential;
}

// --- verifying -----------------------------------------------------------------------------------------------------

// Step one: the structure of a presentation, or null if it is malformed.
function parse(text) {
  if (typeof text !== "string" || text.length > MAX_PRESENTATION_LENGTH || !text.startsWith(PREFIX)) {
    return null;
  }
  const parts = text.slice(PREFIX.length).split(".");
  if (parts.length !== 3 && parts.length !== 5) {
    return null;
  }
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = decodeJsonSegment(headerPart);
  const payload = decodeJsonSegment(payloadPart);
  if (header === null || payload === null) {
    return null;
  }
  const alg = header.get("alg");
  const kid = header.get("kid");
  if (typeof alg !== "string" || typeof kid !== "string" || header.has("typ") || header.has("crit")) {
    return null;
  }
  const claims = claimsFromPayload(payload);
  if (claims === null) {
    return null;
  }
  let signature;
  try {
    signature = b64urlDecode(signaturePart);
  } catch {
    return null;
  }
  let t = null;
  let tText = null;
  let proof = null;
  if (parts.length === 5) {
    tText = parts[3];
    if (!T.test(tText)) {
      return null;
    }
    try {
      proof = b64urlDecode(parts[4]);
    } catch {
      return null;
    }
    if (proof.length !== 64) {
      return null;
    }
    t = Number(tText);
  }
  return {
    alg,
    kid,
    claims,
    signingInput: asciiEncoder.encode(`${headerPart}.${payloadPart}`),
    signature,
    signaturePart,
    t,
    tText,
    proof,
  };
}

function issuerKey(keysByKid, kid) {
  if (keysByKid instanceof Map) {
    return keysByKid.get(kid);
  }
  return has(keysByKid, kid) ? keysByKid[kid] : undefined;
}

async function proofVerifies(parsed) {
  if (parsed.claims.k === null || parsed.proof === null || parsed.tText === null) {
    return false;
  }
  const point = decompress(b64urlDecode(parsed.claims.k));
  if (point === null) {
    return false;
  }
  let deviceKey;
  try {
    deviceKey = await subtle().importKey("raw", point, ECDSA_P256, false, ["verify"]);
  } catch {
    return false;
  }
  const message = asciiEncoder.encode(`${parsed.signaturePart}.${parsed.tText}`);
  return verifyEs256(deviceKey, parsed.proof, message);
}

function checkOptions({ keysByKid, now, statusLookup, staleAfter, leeway }) {
  if (keysByKid === null || typeof keysByKid !== "object") {
    throw new TypeError("keysByKid must be a Map (see importJwks) or an object from kid to CryptoKey");
  }
  if (typeof statusLookup !== "function") {
    throw new TypeError("statusLookup(l, s) must be a function");
  }
  for (const [name, value] of [
    ["now", now],
    ["staleAfter", staleAfter],
    ["leeway", leeway],
  ]) {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new TypeError(`${name} must be a finite number of seconds`);
    }
  }
  subtle();
}

/**
 * Verify the text of a scanned or typed FK1 code; the first failing step of CREDENTIAL.md wins.
 *
 * options: keysByKid (Map kid -> CryptoKey, see importJwks), now (unix seconds), statusLookup(l, s) (the status
 * of index s in list l, 0 valid, 1 revoked, 2 suspended; may return a promise; a lookup that throws counts as
 * revoked), staleAfter (seconds, default 90), leeway (clock tolerance for exp and nbf, default 60).
 *
 * Resolves to { reason, claims, kind, kid, t }: reason is one of Reason; claims (frozen: sub, exp, a, c, s, e,
 * l, k, nbf) are set only once the issuer signature has verified; kind is "phone" (five parts), "printed"
 * (three) or null when malformed; t is the phone's drawing time. It never rejects for any text; it rejects only
 * for wrong options or when WebCrypto is missing.
 */
export async function verifyPresentation(text, options) {
  const {
    keysByKid,
    now,
    statusLookup,
    staleAfter = DEFAULT_STALE_AFTER,
    leeway = DEFAULT_LEEWAY,
  } = options ?? {};
  checkOptions({ keysByKid, now, statusLookup, staleAfter, leeway });

  let parsed = null;
  try {
    parsed = parse(text);
  } catch {
    parsed = null;
  }
  if (parsed === null) {
    return { reason: Reason.MALFORMED, claims: null, kind: null, kid: null, t: null };
  }
  const kind = parsed.t === null ? "printed" : "phone";
  const result = (reason, claims = null) => ({ reason, claims, kind, kid: parsed.kid, t: parsed.t });

  const key = issuerKey(keysByKid, parsed.kid);
  if (key === undefined || key === null) {
    return result(Reason.UNKNOWN_KEY);
  }
  if (parsed.alg !== ALG || !(await verifyEs256(key, parsed.signature, parsed.signingInput))) {
    return result(Reason.BAD_SIGNATURE);
  }
  const { claims } = parsed;
  if (now >= claims.exp + leeway) {
    return result(Reason.EXPIRED, claims);
  }
  if (claims.nbf !== null && claims.nbf > now + leeway) {
    return result(Reason.NOT_YET_VALID, claims);
  }
  if (parsed.t === null) {
    if (claims.k !== null) {
      return result(Reason.PRESENTATION_MISSING, claims);
    }
  } else {
    if (!(await proofVerifies(parsed))) {
      return result(Reason.BAD_PROOF, claims);
    }
    if (Math.abs(now - parsed.t) > staleAfter) {
      return result(Reason.STALE, claims);
    }
  }
  let status;
  try {
    status = await statusLookup(claims.l, claims.s);
  } catch {
    status = 1; // fail closed
  }
  if (status === 0) {
    return result(Reason.OK, claims);
  }
  if (status === 2) {
    return result(Reason.SUSPENDED, claims);
  }
  return result(Reason.REVOKED, claims);
}
