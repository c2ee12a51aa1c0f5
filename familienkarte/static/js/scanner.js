// The scanner page: a cashier verifies a family card (camera, barcode scanner or typed number) and redeems a
// benefit with one tap, through the point-of-sale API with the signed-in session. The rules are in
// scanner-logic.js; working without a network is scanner-offline.js's.

import {
  TapNonces,
  adjustOffer,
  classifyInput,
  factRows,
  fillText,
  formatTime,
  initialLocation,
  isNetworkError,
  locationStorageKey,
  mayTakeFocus,
  offerAvailable,
  offerLines,
  problemMessage,
  readQuantity,
  requestBody,
  verdictNotes,
  verdictSentence,
  voidOpen,
} from "./scanner-logic.js";
import {
  openScannerStore,
  pendingRedemptions,
  queueRedemption,
  refreshBundle,
  registerScannerWorker,
  uploadQueued,
  verifyOffline,
} from "./scanner-offline.js";

const REQUEST_TIMEOUT_MS = 8000;
const SCAN_INTERVAL_MS = 150;
// While the page stays open and online, the offline bundle (status lists, benefits) is fetched again this often, so
// that an offline check uses a status list at most this old when the network goes.
const BUNDLE_REFRESH_MS = 10 * 60 * 1000;

/** The page's texts from data-text-* (camelCased without the prefix) and data-reason-* (by reason code). */
function textsFrom(dataset) {
  const texts = {};
  const reasons = {};
  for (const [key, value] of Object.entries(dataset)) {
    if (key.startsWith("text") && key.length > 4) {
      texts[key[4].toLowerCase() + key.slice(5)] = value;
    } else if (key.startsWith("reason") && key.length > 6) {
      const code = (key[6].toLowerCase() + key.slice(7)).replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      reasons[code] = value;
    }
  }
  return { texts, reasons };
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) {
      continue;
    }
    if (name === "className") {
      node.className = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    node.append(child);
  }
  return node;
}

async function postJson(url, body, csrf) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { ok: response.ok, status: response.status, data };
}

/** A BarcodeDetector for QR codes from the npm polyfill, its WebAssembly loaded from this site. */
export async function polyfillDetector(polyfillUrl, wasmUrl) {
  const module = await import(polyfillUrl);
  module.setZXingModuleOverrides({
    locateFile: (path, prefix) => (path.endsWith(".wasm") ? new URL(wasmUrl, document.baseURI).href : prefix + path),
  });
  return new module.BarcodeDetector({ formats: ["qr_code"] });
}

/** The browser's own BarcodeDetector where it reads QR codes, else the polyfill (imported only then). */
export async function qrDetector(polyfillUrl, wasmUrl) {
  if ("BarcodeDetector" in globalThis) {
    try {
      const formats = await globalThis.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) {
        return new globalThis.BarcodeDetector({ formats: ["qr_code"] });
      }
    } catch {
      // Fall through to the polyfill.
    }
  }
  return polyfillDetector(polyfillUrl, wasmUrl);
}

class ScannerPage {
  constructor(root) {
    this.root = root;
    this.data = root.dataset;
    const { texts, reasons } = textsFrom(root.dataset);
    this.texts = texts;
    this.reasons = reasons;
    this.locale = document.documentElement.lang || navigator.language;
    this.voidMinutes = Number(this.data.voidWindowMinutes) || 15;
    this.nonces = new TapNonces();
    this.store = null;
    this.current = null; // { input, result, offers }
    this.lastRedemption = null; // { id, title, quantity, benefitId, recordedMs }
    this.busy = false;
    this.scanSerial = 0;
    this.camera = null;
    this.uploadLine = "";

    this.location = root.querySelector("#scanner-location");
    this.form = root.querySelector("#scan-form");
    this.input = root.querySelector("#scan-input");
    this.scanError = root.querySelector("#scan-error");
    this.result = root.querySelector("#result");
    this.verdict = root.querySelector("#result-verdict");
    this.title = root.querySelector("#result-title");
    this.sentence = root.querySelector("#result-sentence");
    this.notes = root.querySelector("#result-notes");
    this.facts = root.querySelector("#result-facts");
    this.benefits = root.querySelector("#result-benefits");
    this.redeemStatus = root.querySelector("#redeem-status");
    this.voidForm = root.querySelector("#void-form");
    this.voidReason = root.querySelector("#void-reason");
    this.voidError = root.querySelector("#void-error");
    this.voidUntil = root.querySelector("#void-until");
    this.voidOpenRow = root.querySelector("#void-open-row");
    this.offlineStatus = root.querySelector("#offline-status");
    this.cameraButton = root.querySelector("#camera-toggle");
    this.cameraStatus = root.querySelector("#camera-status");
    this.video = root.querySelector("#camera-video");
  }

  start() {
    this.restoreLocation();
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitInput();
    });
    this.location.addEventListener("change", () => this.changeLocation());
    this.voidForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitVoid();
    });
    this.root.querySelector("#void-open").addEventListener("click", () => this.openVoid());
    this.root.querySelector("#void-cancel").addEventListener("click", () => this.closeVoid(true));
    this.cameraButton.addEventListener("click", () => (this.camera ? this.stopCamera() : this.startCamera()));
    window.addEventListener("online", () => this.sync());
    window.setInterval(() => {
      if (navigator.onLine) {
        this.refresh();
      }
    }, BUNDLE_REFRESH_MS);
    this.focusInput();
    this.root.dataset.ready = "true";
    this.startOffline();
  }

  // --- location -----------------------------------------------------------------------------------------------

  get locationId() {
    return this.location.value;
  }

  restoreLocation() {
    const ids = [...this.location.options].map((option) => option.value);
    let remembered = null;
    try {
      remembered = localStorage.getItem(locationStorageKey(this.data.partnerId));
    } catch {
      remembered = null;
    }
    this.location.value = initialLocation(ids, remembered);
  }

  changeLocation() {
    try {
      localStorage.setItem(locationStorageKey(this.data.partnerId), this.locationId);
    } catch {
      // Private mode: the choice lasts for this page only.
    }
    this.clearResult();
    if (this.locationId) {
      this.refresh();
    }
  }

  // --- focus --------------------------------------------------------------------------------------------------

  focusInput() {
    if (mayTakeFocus(document.activeElement === document.body ? null : document.activeElement, this.input)) {
      this.input.focus({ preventScroll: true });
    }
  }

  /** After an action of a button: the button had focus, the scan input gets it back. */
  focusAfterAction() {
    const active = document.activeElement;
    if (!active || active === document.body || active.tagName === "BUTTON" || !this.root.contains(active)) {
      this.input.focus({ preventScroll: true });
    } else {
      this.focusInput();
    }
  }

  // --- verifying ----------------------------------------------------------------------------------------------

  submitInput() {
    const input = classifyInput(this.input.value);
    this.scanError.textContent = "";
    this.input.removeAttribute("aria-invalid");
    if (input.kind === "empty") {
      this.fieldError(this.texts.emptyInput);
      return;
    }
    if (!this.locationId) {
      this.fieldError(this.texts.chooseLocation);
      this.location.focus();
      return;
    }
    this.input.value = "";
    this.verify(input);
  }

  fieldError(message) {
    this.scanError.textContent = message;
    this.input.setAttribute("aria-invalid", "true");
    this.input.focus();
  }

  async verify(input) {
    const serial = ++this.scanSerial;
    const locationId = this.locationId;
    this.nonces.clear();
    this.closeVoid(false);
    this.lastRedemption = null;
    this.redeemStatus.textContent = "";
    this.showPending();
    let outcome;
    if (navigator.onLine === false) {
      outcome = await this.verifyWithoutNetwork(input, locationId);
    } else {
      try {
        const response = await postJson(this.data.verifyUrl, requestBody(input, locationId), this.data.csrf);
        outcome = response.ok ? { result: response.data } : { problem: response };
      } catch (error) {
        outcome = isNetworkError(error)
          ? await this.verifyWithoutNetwork(input, locationId)
          : { message: this.texts.error, kind: "problem" };
      }
    }
    if (serial !== this.scanSerial) {
      return; // A newer scan is already being checked.
    }
    if (outcome.result) {
      this.current = { input, result: outcome.result, locationId, offers: outcome.result.benefits ?? [] };
      this.showResult(outcome.result);
    } else if (outcome.problem) {
      const words = problemMessage(outcome.problem.status, outcome.problem.data, this.texts);
      this.showProblem(words.message, words.signedOut);
    } else {
      this.showProblem(outcome.message, false);
    }
    this.focusAfterAction();
  }

  async verifyWithoutNetwork(input, locationId) {
    if (input.kind !== "text") {
      return { message: this.texts.offlineNumber };
    }
    let result = null;
    try {
      result = await verifyOffline(this.store, { text: input.value, locationId, nowMs: Date.now() });
    } catch {
      result = null;
    }
    if (!result) {
      return { message: this.texts.offlineNotReady };
    }
    return { result: { ...result, offline: true } };
  }

  // --- the result panel ---------------------------------------------------------------------------------------

  clearResult() {
    this.current = null;
    this.lastRedemption = null;
    this.result.hidden = true;
    this.redeemStatus.textContent = "";
    this.closeVoid(false);
  }

  showPending() {
    this.result.hidden = false;
    this.result.dataset.state = "pending";
    this.title.textContent = this.texts.checking;
    this.sentence.textContent = "";
    this.notes.replaceChildren();
    this.facts.hidden = true;
    this.benefits.hidden = true;
  }

  showProblem(message, signedOut) {
    this.result.hidden = false;
    this.result.dataset.state = "problem";
    this.title.textContent = this.texts.notChecked;
    this.sentence.textContent = message;
    this.notes.replaceChildren();
    if (signedOut) {
      this.notes.append(element("li", {}, element("a", { href: this.data.loginUrl }, this.texts.signIn)));
    }
    this.facts.hidden = true;
    this.benefits.hidden = true;
  }

  showResult(result) {
    this.result.hidden = false;
    this.result.dataset.state = result.valid ? "valid" : "refused";
    this.result.dataset.reason = result.reason;
    this.title.textContent = result.valid ? this.texts.valid : this.texts.refused;
    this.sentence.textContent = verdictSentence(result, this.reasons);
    this.notes.replaceChildren(...verdictNotes(result, this.texts).map((note) => element("li", {}, note)));
    const rows = factRows(result.card, this.texts, this.locale);
    this.facts.replaceChildren(
      ...rows.flatMap(([label, value]) => [element("dt", {}, label), element("dd", {}, value)]),
    );
    this.facts.hidden = rows.length === 0;
    this.renderBenefits();
  }

  renderBenefits() {
    const current = this.current;
    if (!current || !current.result.valid) {
      this.benefits.hidden = true;
      this.benefits.replaceChildren();
      return;
    }
    const heading = element("h3", { id: "benefits-title" }, this.texts.benefits);
    if (current.offers.length === 0) {
      this.benefits.replaceChildren(heading, element("p", {}, this.texts.noBenefits));
      this.benefits.hidden = false;
      return;
    }
    const list = element("ul", { className: "offers", "aria-labelledby": "benefits-title" });
    current.offers.forEach((offer, index) => list.append(this.offerItem(offer, index)));
    this.benefits.replaceChildren(heading, list);
    this.benefits.hidden = false;
  }

  offerItem(offer, index) {
    const available = offerAvailable(offer);
    const titleId = `offer-${index}-title`;
    const linesId = `offer-${index}-lines`;
    const item = element("li", {
      className: available ? "offer" : "offer offer-unavailable",
      "data-benefit-id": offer.benefit_id,
    });
    item.append(element("h4", { id: titleId, className: "offer-title" }, offer.title));
    const lines = element("ul", { id: linesId, className: "offer-lines" });
    for (const line of offerLines(offer, this.texts)) {
      lines.append(element("li", {}, line));
    }
    item.append(lines);
    const form = element("form", { className: "offer-form", novalidate: true });
    let quantity = null;
    const errorId = `offer-${index}-error`;
    if (offer.max_quantity > 1 && available) {
      const quantityId = `offer-${index}-quantity`;
      quantity = element("input", {
        id: quantityId,
        name: "quantity",
        type: "number",
        inputmode: "numeric",
        min: 1,
        max: offer.max_quantity,
        value: 1,
        "aria-describedby": errorId,
      });
      form.append(element("label", { for: quantityId }, this.texts.quantity), quantity);
    }
    const button = element(
      "button",
      {
        type: "submit",
        "aria-label": fillText(this.texts.redeemLabel, { title: offer.title }),
        "aria-describedby": linesId,
      },
      this.texts.redeem,
    );
    button.disabled = !available;
    form.append(button, element("p", { id: errorId, className: "error-message", "aria-live": "polite" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.redeem(offer.benefit_id, quantity, form, button);
    });
    item.append(form);
    return item;
  }

  // --- redeeming ----------------------------------------------------------------------------------------------

  async redeem(benefitId, quantityField, form, button) {
    const current = this.current;
    if (!current || button.disabled) {
      return;
    }
    const offer = current.offers.find((item) => item.benefit_id === benefitId);
    const error = form.querySelector(".error-message");
    error.textContent = "";
    quantityField?.removeAttribute("aria-invalid");
    const quantity = readQuantity(quantityField ? quantityField.value : "1", offer.max_quantity);
    if (!quantity.ok) {
      error.textContent = fillText(this.texts.quantityError, { max: quantity.max });
      quantityField?.setAttribute("aria-invalid", "true");
      quantityField?.focus();
      return;
    }
    const tap = `${this.scanSerial}:${benefitId}`;
    const clientNonce = this.nonces.nonceFor(tap);
    button.disabled = true;
    this.closeVoid(false);
    this.lastRedemption = null;
    this.redeemStatus.dataset.state = "pending";
    this.redeemStatus.textContent = this.texts.redeeming;
    const body = requestBody(current.input, current.locationId, {
      benefit_id: benefitId,
      quantity: quantity.value,
      client_nonce: clientNonce,
    });
    try {
      if (current.result.offline || navigator.onLine === false) {
        await this.queue(current, benefitId, quantity.value, clientNonce, tap);
        return;
      }
      let response;
      try {
        response = await postJson(this.data.redeemUrl, body, this.data.csrf);
      } catch (failure) {
        if (isNetworkError(failure) && current.input.kind === "text") {
          await this.queue(current, benefitId, quantity.value, clientNonce, tap);
        } else {
          // The same tap is retried with the same nonce: the server records it at most once.
          this.redeemFailed(isNetworkError(failure) ? this.texts.network : this.texts.error);
        }
        return;
      }
      if (response.ok) {
        this.nonces.settle(tap);
        this.redeemed(offer, response.data);
        return;
      }
      const words = problemMessage(response.status, response.data, this.texts);
      if (!words.retry) {
        this.nonces.settle(tap);
      }
      if (words.fields.quantity && quantityField) {
        error.textContent = words.fields.quantity;
        quantityField.setAttribute("aria-invalid", "true");
      }
      this.redeemFailed(words.message, words.signedOut);
    } finally {
      if (this.current === current) {
        const fresh = current.offers.find((item) => item.benefit_id === benefitId);
        button.disabled = !offerAvailable(fresh);
      }
      this.focusAfterAction();
    }
  }

  async queue(current, benefitId, quantity, clientNonce, tap) {
    await queueRedemption(this.store, {
      text: current.input.value,
      benefitId,
      locationId: current.locationId,
      quantity,
      clientNonce,
      occurredAtMs: Date.now(),
    });
    this.nonces.settle(tap);
    this.redeemStatus.dataset.state = "queued";
    this.redeemStatus.textContent = this.texts.queued;
    this.updateOffer(benefitId, quantity, -1);
    if (navigator.onLine === false) {
      await this.showPendingCount();
    } else {
      // The network may already be back (no "online" event will come): send it now.
      this.sync();
    }
  }

  redeemed(offer, redemption) {
    this.updateOffer(offer.benefit_id, redemption.quantity, -1);
    this.redeemStatus.dataset.state = "redeemed";
    this.redeemStatus.textContent = fillText(this.texts.redeemed, {
      title: offer.title,
      quantity: redemption.quantity,
    });
    this.redeemStatus.scrollIntoView({ block: "nearest" });
    this.lastRedemption = {
      id: redemption.id,
      title: offer.title,
      benefitId: offer.benefit_id,
      quantity: redemption.quantity,
      recordedMs: Date.now(),
    };
    this.voidOpenRow.hidden = false;
    const closesAt = this.lastRedemption.recordedMs + this.voidMinutes * 60_000;
    this.voidUntil.textContent = fillText(this.texts.voidUntil, { time: formatTime(closesAt, this.locale) });
    const redemption_ = this.lastRedemption;
    setTimeout(() => {
      if (this.lastRedemption === redemption_ && !this.voidForm.contains(document.activeElement)) {
        this.closeVoid(false);
      }
    }, closesAt - Date.now());
  }

  redeemFailed(message, signedOut = false) {
    this.redeemStatus.dataset.state = "refused";
    this.redeemStatus.replaceChildren(fillText(this.texts.notRedeemed, { message }));
    this.redeemStatus.scrollIntoView({ block: "nearest" });
    if (signedOut) {
      this.redeemStatus.append(" ", element("a", { href: this.data.loginUrl }, this.texts.signIn));
    }
  }

  updateOffer(benefitId, quantity, sign) {
    const current = this.current;
    if (!current) {
      return;
    }
    current.offers = current.offers.map((offer) =>
      offer.benefit_id === benefitId ? adjustOffer(offer, quantity, sign) : offer,
    );
    this.renderBenefits();
  }

  // --- voiding ------------------------------------------------------------------------------------------------

  openVoid() {
    if (!this.lastRedemption) {
      return;
    }
    this.voidOpenRow.hidden = true;
    this.voidForm.hidden = false;
    this.voidError.textContent = "";
    this.voidReason.removeAttribute("aria-invalid");
    this.voidReason.focus();
  }

  closeVoid(returnFocus) {
    this.voidForm.hidden = true;
    this.voidReason.value = "";
    this.voidError.textContent = "";
    this.voidReason.removeAttribute("aria-invalid");
    const last = this.lastRedemption;
    this.voidOpenRow.hidden = !(last && voidOpen(last.recordedMs, Date.now(), this.voidMinutes));
    if (returnFocus) {
      this.input.focus({ preventScroll: true });
    }
  }

  voidFieldError(message) {
    this.voidError.textContent = message;
    this.voidReason.setAttribute("aria-invalid", "true");
    this.voidReason.focus();
  }

  async submitVoid() {
    const redemption = this.lastRedemption;
    if (!redemption || this.busy) {
      return;
    }
    const reason = this.voidReason.value.trim();
    if (!reason) {
      this.voidFieldError(this.texts.reasonMissing);
      return;
    }
    this.busy = true;
    const url = `${this.data.redeemUrl}/${encodeURIComponent(redemption.id)}/void`;
    try {
      let response;
      try {
        response = await postJson(url, { reason }, this.data.csrf);
      } catch (failure) {
        this.voidFieldError(isNetworkError(failure) ? this.texts.network : this.texts.error);
        return;
      }
      if (!response.ok) {
        const words = problemMessage(response.status, response.data, this.texts);
        this.voidFieldError(words.fields.reason ?? words.message);
        return;
      }
      this.lastRedemption = null;
      this.updateOffer(redemption.benefitId, redemption.quantity, 1);
      this.redeemStatus.dataset.state = "voided";
      this.redeemStatus.textContent = fillText(this.texts.voided, { title: redemption.title });
      this.closeVoid(true);
    } finally {
      this.busy = false;
    }
  }

  // --- the camera ---------------------------------------------------------------------------------------------

  async startCamera() {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.cameraStatus.textContent = this.texts.cameraUnsupported;
      return;
    }
    let stream;
    let detector;
    try {
      detector = await qrDetector(this.data.polyfillUrl, this.data.wasmUrl);
    } catch {
      this.cameraStatus.textContent = this.texts.cameraUnsupported;
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: "environment" } },
        audio: false,
      });
    } catch {
      this.cameraStatus.textContent = this.texts.cameraFailed;
      return;
    }
    this.camera = { stream, detector, timer: null };
    this.video.srcObject = stream;
    this.video.hidden = false;
    await this.video.play().catch(() => {});
    this.cameraButton.textContent = this.texts.cameraStop;
    this.cameraButton.setAttribute("aria-pressed", "true");
    this.cameraStatus.textContent = this.texts.cameraOn;
    this.scanFrame();
  }

  scanFrame() {
    const camera = this.camera;
    if (!camera) {
      return;
    }
    camera.timer = setTimeout(async () => {
      if (this.camera !== camera) {
        return;
      }
      let codes = [];
      try {
        if (this.video.readyState >= 2) {
          codes = await camera.detector.detect(this.video);
        }
      } catch {
        codes = [];
      }
      const found = codes.map((code) => code.rawValue).find((text) => classifyInput(text).kind === "text");
      if (found && this.camera === camera) {
        this.stopCamera();
        if (!this.locationId) {
          this.fieldError(this.texts.chooseLocation);
          return;
        }
        this.verify(classifyInput(found));
        return;
      }
      this.scanFrame();
    }, SCAN_INTERVAL_MS);
  }

  stopCamera() {
    const camera = this.camera;
    this.camera = null;
    if (camera) {
      clearTimeout(camera.timer);
      for (const track of camera.stream.getTracks()) {
        track.stop();
      }
    }
    this.video.pause();
    this.video.srcObject = null;
    this.video.hidden = true;
    this.cameraButton.textContent = this.texts.cameraStart;
    this.cameraButton.setAttribute("aria-pressed", "false");
    this.cameraStatus.textContent = "";
    this.focusAfterAction();
  }

  // --- offline ------------------------------------------------------------------------------------------------

  async startOffline() {
    try {
      registerScannerWorker(this.data.swUrl, "/partner/scanner");
      this.store = await openScannerStore();
    } catch {
      this.store = null;
    }
    await this.sync();
  }

  refresh() {
    if (!this.locationId) {
      return Promise.resolve(null);
    }
    return refreshBundle(this.store, { bundleUrl: this.data.bundleUrl, locationId: this.locationId }).catch(() => null);
  }

  async sync() {
    const refreshing = this.refresh();
    try {
      const counts = await uploadQueued(this.store, { uploadUrl: this.data.uploadUrl, csrf: this.data.csrf });
      if (counts && counts.uploaded + counts.flagged + counts.failed > 0) {
        const refused = counts.failed > 0 ? fillText(this.texts.uploadFailed, counts) : "";
        this.uploadLine = [fillText(this.texts.uploaded, counts), refused].filter(Boolean).join(" ");
      }
    } catch {
      // Left in the queue for the next attempt.
    }
    await this.showPendingCount();
    await refreshing;
  }

  async showPendingCount() {
    let pending = [];
    try {
      pending = (await pendingRedemptions(this.store)) ?? [];
    } catch {
      pending = [];
    }
    const line = pending.length ? fillText(this.texts.pending, { n: pending.length }) : "";
    this.offlineStatus.dataset.pending = String(pending.length);
    this.offlineStatus.textContent = [this.uploadLine, line].filter(Boolean).join(" ");
  }
}

const root = document.getElementById("scanner");
if (root) {
  new ScannerPage(root).start();
}
