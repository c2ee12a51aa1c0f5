// The card page's decisions, free of the DOM, so that Node's test runner can check them (tests/js/card.test.mjs).
//
// card.js wires these to the page; card-store.js keeps the device key and the credential in IndexedDB.

import { compressPublicKey, makePhonePresentation } from "./fk1.js";

/** The phone redraws its code this often (CREDENTIAL.md). */
export const REDRAW_SECONDS = 15;
/** More difference than this between the phone's clock and the server's is reported to the family. */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** A phone credential that expires within this time is renewed while the phone is online. */
export const RENEW_BEFORE_SECONDS = 7 * 24 * 60 * 60;
/** Quiet zone around the QR code, in modules (ISO/IEC 18004 asks for 4). */
export const QUIET_ZONE_MODULES = 4;

const ECDSA_P256 = Object.freeze({ name: "ECDSA", namedCurve: "P-256" });

/** Whole unix seconds of a millisecond clock reading (Date.now()). */
export function unixSeconds(nowMs) {
  return Math.floor(nowMs / 1000);
}

/**
 * Fill the {name} placeholders of a translated text. Unknown placeholders stay as they are, so a text with a
 * missing value is visible in tests instead of silently losing words.
 */
export function fillText(template, values = {}) {
  return String(template).replace(/\{([a-z_]+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole,
  );
}

/**
 * The translated texts from an element's dataset: data-text-renews-in="..." becomes texts.renewsIn. A missing
 * text falls back to its attribute name, so that a template that lacks one is noticed.
 */
export function textsFrom(dataset, names) {
  const texts = {};
  for (const name of names) {
    const key = `text${name.charAt(0).toUpperCase()}${name.slice(1)}`;
    const value = dataset[key];
    texts[name] = typeof value === "string" && value.trim() !== "" ? value : `data-text-${kebab(name)}`;
  }
  return texts;
}

function kebab(name) {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** Seconds until the next redraw, 1 to REDRAW_SECONDS, for a code drawn at drawnAtMs. */
export function secondsUntilRedraw(drawnAtMs, nowMs, period = REDRAW_SECONDS) {
  const left = period - Math.floor((nowMs - drawnAtMs) / 1000);
  return Math.min(period, Math.max(1, left));
}

/** The countdown text: the translated template with its {seconds} placeholder filled. */
export function countdownText(template, drawnAtMs, nowMs, period = REDRAW_SECONDS) {
  return fillText(template, { seconds: secondsUntilRedraw(drawnAtMs, nowMs, period) });
}

/**
 * The phone's clock minus the server's, in whole seconds, from a response's server_time (unix seconds) and the
 * phone's clock when the response arrived. null when server_time is missing or not a number.
 */
export function clockSkewSeconds(serverTime, receivedAtMs) {
  if (typeof serverTime !== "number" || !Number.isFinite(serverTime)) {
    return null;
  }
  return Math.round(receivedAtMs / 1000 - serverTime);
}

/** True when a measured skew is more than the tolerance in either direction; an unknown skew is no warning. */
export function clockIsOff(skewSeconds, tolerance = CLOCK_TOLERANCE_SECONDS) {
  return typeof skewSeconds === "number" && Number.isFinite(skewSeconds) && Math.abs(skewSeconds) > tolerance;
}

/**
 * Whether the stored credential should be renewed now: only while online, and when it expires within the
 * renewal window. The server's clock (the phone's corrected by the measured skew) decides, since the server
 * decides expiry.
 */
export function renewalDue({ exp, nowMs, online, skewSeconds = 0, window = RENEW_BEFORE_SECONDS }) {
  if (!online || typeof exp !== "number" || !Number.isFinite(exp)) {
    return false;
  }
  const serverNow = unixSeconds(nowMs) - (Number.isFinite(skewSeconds) ? skewSeconds : 0);
  return exp - serverNow <= window;
}

/** True when the credential has expired by the phone's clock: it no longer makes a useful code. */
export function credentialExpired(exp, nowMs) {
  return typeof exp !== "number" || !Number.isFinite(exp) || unixSeconds(nowMs) >= exp;
}

/**
 * A new device key pair: ECDSA P-256 with a private key that can never be exported (its public half always
 * can). The private key stays in this browser's IndexedDB; only the public key is sent to the server.
 */
export async function generateDeviceKeyPair(subtle = globalThis.crypto.subtle) {
  return subtle.generateKey(ECDSA_P256, false, ["sign", "verify"]);
}

/** The "device_key" of an activation: base64url of the public key's 33-byte compressed point. */
export async function deviceKeyText(publicKey, subtle = globalThis.crypto.subtle) {
  return compressPublicKey(await subtle.exportKey("raw", publicKey));
}

/** The JSON body of POST /api/v1/me/card/activations. */
export async function activationBody(keyPair, deviceName, subtle = globalThis.crypto.subtle) {
  return { device_key: await deviceKeyText(keyPair.publicKey, subtle), device_name: deviceName };
}

/**
 * A short, recognisable name for this device from its user agent ("Android · Firefox"), so the family can tell
 * their phones apart when one is lost. Platform and browser names are product names, not translated text.
 */
export function deviceNameFrom(userAgent) {
  const ua = String(userAgent || "");
  const platforms = [
    [/iPhone/, "iPhone"],
    [/iPad/, "iPad"],
    [/Android/, "Android"],
    [/Windows/, "Windows"],
    [/Mac OS X|Macintosh/, "Mac"],
    [/CrOS/, "ChromeOS"],
    [/Linux/, "Linux"],
  ];
  const browsers = [
    [/EdgA?\//, "Edge"],
    [/SamsungBrowser\//, "Samsung Internet"],
    [/OPR\/|Opera/, "Opera"],
    [/Firefox\/|FxiOS\//, "Firefox"],
    [/Chrome\/|CriOS\//, "Chrome"],
    [/Safari\//, "Safari"],
  ];
  const platform = platforms.find(([pattern]) => pattern.test(ua));
  const browser = browsers.find(([pattern]) => pattern.test(ua));
  const name = [platform && platform[1], browser && browser[1]].filter(Boolean).join(" · ");
  return name || "Browser";
}

/** The stored device record after an activation or renewal response. */
export function recordFromResponse(previous, body, receivedAtMs) {
  if (
    body === null ||
    typeof body !== "object" ||
    typeof body.credential !== "string" ||
    body.credential.split(".").length !== 3 ||
    typeof body.exp !== "number"
  ) {
    throw new TypeError("not a credential response");
  }
  const skew = clockSkewSeconds(body.server_time, receivedAtMs);
  return {
    ...previous,
    credential: body.credential,
    credentialId: body.credential_id ?? previous.credentialId ?? null,
    exp: body.exp,
    serverOffset: skew === null ? (previous.serverOffset ?? null) : skew,
  };
}

/**
 * The text a QR code shows at the phone's clock nowMs. t is the phone's own time (the verifier compares it
 * with its own clock); the server's time only tells the family that the clock is wrong.
 */
export async function presentationAt(credential, privateKey, nowMs) {
  return makePhonePresentation(credential, privateKey, unixSeconds(nowMs));
}

/**
 * The dark modules of a QR code as one SVG path ("M x y h1 v1 h-1 z" per module, runs merged per row), with the
 * quiet zone included in the coordinates. qr is a made qrcode-generator object (getModuleCount, isDark).
 * Returns { size, path } where size is the side of the viewBox in modules.
 */
export function qrPath(qr, quietZone = QUIET_ZONE_MODULES) {
  const count = qr.getModuleCount();
  const parts = [];
  for (let row = 0; row < count; row += 1) {
    let col = 0;
    while (col < count) {
      if (!qr.isDark(row, col)) {
        col += 1;
        continue;
      }
      const start = col;
      while (col < count && qr.isDark(row, col)) {
        col += 1;
      }
      parts.push(`M${start + quietZone} ${row + quietZone}h${col - start}v1h${start - col}z`);
    }
  }
  return { size: count + 2 * quietZone, path: parts.join("") };
}

/**
 * Encode text as a QR code with qrcode-generator (the factory from its ES module): byte mode, the smallest
 * version that fits, error correction M for screens (CREDENTIAL.md).
 */
export function makeQr(qrcodeFactory, text, errorCorrection = "M") {
  const qr = qrcodeFactory(0, errorCorrection);
  qr.addData(text, "Byte");
  qr.make();
  return qr;
}

/** The sentence to show for a failed request: the server's translated problem detail, else the fallback. */
export function problemText(problem, fallback) {
  if (problem !== null && typeof problem === "object" && typeof problem.detail === "string") {
    const detail = problem.detail.trim();
    if (detail !== "") {
      return detail;
    }
  }
  return fallback;
}
