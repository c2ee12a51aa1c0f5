// The catalogue's "nearest to me first": asks the browser for its position and reloads the list sorted by
// distance, keeping the filters. Without JavaScript the button stays hidden and distance is not offered.

const button = document.getElementById("sort-by-distance");
const form = document.getElementById("catalogue-filter");
const problem = document.getElementById("position-error");

function showProblem() {
  problem.textContent = button.dataset.error || "";
  problem.hidden = false;
}

function reloadAt(latitude, longitude) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (typeof value === "string" && value !== "" && !["sort", "lat", "lon", "page"].includes(name)) {
      params.set(name, value);
    }
  }
  params.set("sort", "distance");
  params.set("lat", latitude.toFixed(5));
  params.set("lon", longitude.toFixed(5));
  window.location.assign(`${form.getAttribute("action")}?${params.toString()}#results`);
}

if (button && form && problem && "geolocation" in navigator) {
  button.hidden = false;
  button.addEventListener("click", () => {
    problem.hidden = true;
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(
      (position) => reloadAt(position.coords.latitude, position.coords.longitude),
      () => {
        button.disabled = false;
        showProblem();
      },
      { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 },
    );
  });
}
