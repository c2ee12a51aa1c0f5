// The benefit form: show the value field only for the kinds of benefit that have a value (percent off, amount
// off, special price). Without this script the field is always there, and the server tells which kinds need it.
// A hidden field is also disabled, so a value typed before switching to a kind without one is not sent.

const kind = document.getElementById("field-kind");
const wrapper = document.getElementById("value-field");
const input = document.getElementById("field-value");

if (kind instanceof HTMLSelectElement && wrapper && input instanceof HTMLInputElement) {
  const valued = new Set((wrapper.dataset.valuedKinds || "").split(/\s+/).filter(Boolean));
  const update = () => {
    const needed = valued.has(kind.value);
    wrapper.hidden = !needed;
    input.disabled = !needed;
  };
  kind.addEventListener("change", update);
  update();
}
