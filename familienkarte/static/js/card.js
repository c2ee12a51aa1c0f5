// The card page (/card): activates the card on this phone and shows a QR code that changes every 15 s.
//
// The decisions live in card-logic.js (tested in Node); this module only wires them to the page. Every text it
// shows comes from the page's data-text-* attributes, which the server fills in the reader's language.

import {
  REDRAW_SECONDS,
  activationBody,
  clockIsOff,
  clockSkewSeconds,
  countdownText,
  credentialExpired,
  deviceNameFrom,
  generateDeviceKeyPair,
  makeQr,
  presentationAt,
  problemText,
  qrPath,
  recordFromResponse,
  renewalDue,
  textsFrom,
} from "./card-logic.js";
import { loadDevice, openCardDatabase, saveDevice } from "./card-store.js";

const QR_LIBRARY = "/static/vendor/qrcode-generator/qrcode.mjs";
const SERVICE_WORKER = "/card-sw.js";
const SERVICE_WORKER_SCOPE = "/card";
const SVG = "http://www.w3.org/2000/svg";

const TEXT_NAMES = [
  "activate",
  "activating",
  "live",
  "renewsIn",
  "offline",
  "expired",
  "errorNetwork",
  "error",
  "unsupported",
];

class ProblemError extends Error {
  constructor(status, problem) {
    super(`HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

class NetworkError extends Error {}

async function requestJson(url, { method = "GET", csrf = null, body = undefined } = {}) {
  const headers = { Accept: "application/json" };
  if (csrf) {
    headers["X-CSRF-Token"] = csrf;
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new NetworkError();
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    json = null;
  }
  if (!response.ok) {
    throw new ProblemError(response.status, json);
  }
  return json;
}

function registerServiceWorker(url) {
  if (!("serviceWorker" in navigator)) {
    return;
  }
  navigator.serviceWorker.register(url, { scope: SERVICE_WORKER_SCOPE }).catch(() => {
    // Without a service worker the page still works while online.
  });
}

class CardPage {
  constructor(section) {
    this.section = section;
    this.data = section.dataset;
    this.texts = textsFrom(section.dataset, TEXT_NAMES);
    this.qrBox = document.getElementById("qr");
    this.status = document.getElementById("qr-status");
    this.clockWarning = document.getElementById("clock-warning");
    this.countdown = document.getElementById("qr-countdown") || this.makeCountdown();
    this.db = null;
    this.record = null;
    this.qrcode = null;
    this.timer = null;
    this.drawnAt = 0;
    this.drawing = false;
    this.notice = null;
    this.activateBox = null;
    this.skew = null;
    this.refreshing = false;
  }

  makeCountdown() {
    const element = document.createElement("p");
    element.id = "qr-countdown";
    element.className = "qr-countdown";
    element.hidden = true;
    this.qrBox.after(element);
    return element;
  }

  say(text) {
    if (this.status.textContent !== text) {
      this.status.textContent = text;
    }
  }

  async start() {
    registerServiceWorker(this.data.serviceWorker || SERVICE_WORKER);
    if (!globalThis.crypto || !crypto.subtle || !globalThis.indexedDB) {
      this.say(this.texts.unsupported);
      return;
    }
    try {
      this.db = await openCardDatabase();
      this.record = await loadDevice(this.db);
    } catch {
      this.say(this.texts.unsupported);
      return;
    }
    this.showClockWarning();
    if (this.hasUsableCredential()) {
      await this.show();
    } else {
      this.showActivate(this.record && this.record.credential ? this.texts.expired : null);
    }
    window.addEventListener("online", () => this.refresh());
    window.addEventListener("offline", () => this.updateStatus());
    document.addEventListener("visibilitychange", () => this.onVisibility());
    await this.refresh();
  }

  hasUsableCredential() {
    return Boolean(this.record && this.record.credential && this.record.keyPair) &&
      !credentialExpired(this.record.exp, Date.now());
  }

  showClockWarning() {
    if (this.clockWarning) {
      const stored = this.record ? this.record.serverOffset : null;
      this.clockWarning.hidden = !clockIsOff(this.skew ?? stored);
    }
  }

  // --- activation --------------------------------------------------------------------------------------------

  showActivate(message) {
    this.stopTimer();
    this.qrBox.hidden = true;
    this.countdown.hidden = true;
    if (message) {
      this.say(message);
    }
    if (this.activateBox) {
      return;
    }
    this.activateBox = document.createElement("div");
    this.activateBox.className = "card-activate";
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = this.texts.activate;
    button.addEventListener("click", () => this.activate(button));
    this.activateBox.append(button);
    this.qrBox.before(this.activateBox);
  }

  async activate(button) {
    // aria-disabled rather than disabled: the button keeps keyboard focus while the request runs.
    if (button.getAttribute("aria-disabled") === "true") {
      return;
    }
    button.setAttribute("aria-disabled", "true");
    button.setAttribute("aria-busy", "true");
    this.say(this.texts.activating);
    try {
      const keyPair = await generateDeviceKeyPair();
      const body = await activationBody(keyPair, deviceNameFrom(navigator.userAgent));
      const response = await requestJson(this.data.activateApi, { method: "POST", csrf: this.data.csrf, body });
      const record = recordFromResponse({ keyPair }, response, Date.now());
      this.record = await saveDevice(this.db, record);
      this.skew = record.serverOffset;
    } catch (error) {
      button.removeAttribute("aria-disabled");
      button.removeAttribute("aria-busy");
      this.say(this.failureText(error));
      return;
    }
    this.activateBox.remove();
    this.activateBox = null;
    this.notice = null;
    this.showClockWarning();
    await this.show();
    this.qrBox.focus();
    await this.refreshDevices();
  }

  // The list of phones and printed cards as the server renders it now, so that the new phone is listed
  // without a reload. Offline or on any error the list stays as it was.
  async refreshDevices() {
    const section = document.getElementById("devices");
    if (!section) {
      return;
    }
    try {
      const response = await fetch(window.location.pathname, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        return;
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("devices");
      if (fresh) {
        section.replaceChildren(...fresh.childNodes);
      }
    } catch {
      // keep the list as it is
    }
  }

  failureText(error) {
    if (error instanceof ProblemError) {
      return problemText(error.problem, this.texts.error);
    }
    return error instanceof NetworkError ? this.texts.errorNetwork : this.texts.error;
  }

  // --- drawing -----------------------------------------------------------------------------------------------

  async loadQrLibrary() {
    if (!this.qrcode) {
      const module = await import(QR_LIBRARY);
      this.qrcode = module.default || module.qrcode;
    }
    return this.qrcode;
  }

  async show() {
    try {
      await this.loadQrLibrary();
    } catch {
      this.say(this.texts.error);
      return;
    }
    if (!this.qrBox.hasAttribute("tabindex")) {
      this.qrBox.tabIndex = -1;
    }
    this.qrBox.hidden = false;
    this.countdown.hidden = false;
    await this.draw();
    this.startTimer();
  }

  async draw() {
    if (this.drawing) {
      return;
    }
    if (!this.hasUsableCredential()) {
      this.showActivate(this.texts.expired);
      return;
    }
    this.drawing = true;
    try {
      const now = Date.now();
      const text = await presentationAt(this.record.credential, this.record.keyPair.privateKey, now);
      this.render(makeQr(this.qrcode, text, "M"));
      this.drawnAt = now;
      this.tick();
      this.updateStatus();
    } catch {
      // No code rather than an old one that scanners would refuse as stale.
      this.qrBox.replaceChildren();
      this.countdown.replaceChildren();
      this.say(this.texts.error);
    } finally {
      this.drawing = false;
    }
  }

  render(qr) {
    const { size, path } = qrPath(qr);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
    svg.setAttribute("shape-rendering", "crispEdges");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.classList.add("qr-code");
    const background = document.createElementNS(SVG, "rect");
    background.setAttribute("width", String(size));
    background.setAttribute("height", String(size));
    background.setAttribute("fill", "#ffffff");
    const modules = document.createElementNS(SVG, "path");
    modules.setAttribute("d", path);
    modules.setAttribute("fill", "#000000");
    svg.append(background, modules);
    this.qrBox.replaceChildren(svg);
  }

  tick() {
    const now = Date.now();
    if (now < this.drawnAt || now - this.drawnAt >= REDRAW_SECONDS * 1000) {
      this.draw();
      return;
    }
    this.countdown.textContent = countdownText(this.texts.renewsIn, this.drawnAt, now);
  }

  updateStatus() {
    if (!this.hasUsableCredential() || this.qrBox.hidden) {
      return;
    }
    if (this.notice) {
      this.say(this.notice);
    } else {
      this.say(navigator.onLine ? this.texts.live : this.texts.offline);
    }
  }

  startTimer() {
    this.stopTimer();
    if (document.visibilityState !== "hidden") {
      this.timer = window.setInterval(() => this.tick(), 1000);
    }
  }

  stopTimer() {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
  }

  onVisibility() {
    if (document.visibilityState === "hidden") {
      this.stopTimer();
      return;
    }
    if (this.hasUsableCredential() && !this.qrBox.hidden) {
      this.draw();
      this.startTimer();
      this.refresh();
    }
  }

  // --- while online: clock check and silent renewal ---------------------------------------------------------

  async refresh() {
    if (!navigator.onLine || this.refreshing) {
      this.updateStatus();
      return;
    }
    this.refreshing = true;
    try {
      await this.checkServer();
    } finally {
      this.refreshing = false;
    }
  }

  async checkServer() {
    try {
      const card = await requestJson(this.data.cardApi);
      const skew = clockSkewSeconds(card && card.server_time, Date.now());
      if (skew !== null) {
        this.skew = skew;
        this.showClockWarning();
        if (this.record && this.record.serverOffset !== skew) {
          this.record = await saveDevice(this.db, { ...this.record, serverOffset: skew });
        }
      }
    } catch {
      // Offline, signed out or a server problem: the stored credential keeps working.
    }
    await this.renewIfDue();
    if (this.activateBox && this.hasUsableCredential()) {
      // A stored credential that had run out was renewed: show the code again.
      this.activateBox.remove();
      this.activateBox = null;
      await this.show();
    }
    this.updateStatus();
  }

  async renewIfDue() {
    const record = this.record;
    if (
      !record ||
      !record.credentialId ||
      !renewalDue({ exp: record.exp, nowMs: Date.now(), online: navigator.onLine, skewSeconds: record.serverOffset ?? 0 })
    ) {
      return;
    }
    const url = `${this.data.cardApi}/credentials/${encodeURIComponent(record.credentialId)}/renew`;
    try {
      const response = await requestJson(url, { method: "POST", csrf: this.data.csrf });
      this.record = await saveDevice(this.db, recordFromResponse(record, response, Date.now()));
      this.skew = this.record.serverOffset;
      this.notice = null;
      this.showClockWarning();
    } catch (error) {
      // Renewal is silent: a lost connection or an expired sign-in keeps the stored credential. Anything the
      // server refuses for another reason (for example a revoked credential) is told.
      if (error instanceof ProblemError && error.status >= 400 && error.status < 500 && ![401, 403].includes(error.status)) {
        this.notice = problemText(error.problem, this.texts.error);
      }
    }
  }
}

const section = document.getElementById("card");
if (section && document.getElementById("qr") && document.getElementById("qr-status")) {
  new CardPage(section).start();
}
