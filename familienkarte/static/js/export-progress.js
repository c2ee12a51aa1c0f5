// The page of a statistics export made in the background: asks for its state every second and updates the
// progress bar, the status text (announced by screen readers) and, once the file is ready, the download link.
// Without JavaScript the page offers a link to look again.

const POLL_MS = 1000;
const box = document.getElementById("export-status");

function show(state) {
  const bar = document.getElementById("export-progress");
  bar.value = state.progress;
  bar.textContent = `${state.progress} %`;
  const text = document.getElementById("export-state");
  if (text.textContent !== state.message) {
    text.textContent = state.message;
  }
  box.dataset.status = state.status;
  if (state.download_url) {
    document.getElementById("export-link").href = state.download_url;
    document.getElementById("export-download").hidden = false;
  }
  if (state.error) {
    const error = document.getElementById("export-error");
    error.textContent = state.error;
    error.hidden = false;
  }
  const refresh = document.getElementById("export-refresh");
  if (refresh && (state.status === "done" || state.status === "failed")) {
    refresh.hidden = true;
  }
}

async function poll() {
  try {
    const response = await fetch(box.dataset.statusUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.ok) {
      show(await response.json());
    }
  } catch {
    // A network hiccup: the next poll tries again.
  }
  if (box.dataset.status === "queued" || box.dataset.status === "running") {
    window.setTimeout(poll, POLL_MS);
  }
}

if (box && (box.dataset.status === "queued" || box.dataset.status === "running")) {
  window.setTimeout(poll, POLL_MS);
}
