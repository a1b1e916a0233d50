"use strict";
const $ = (id) => document.getElementById(id);
const Q = ["real", "confidence", "alignment"];
let st = null, cur = null, ans = {}, active = 0, shownAt = 0, busy = false;

for (const [box, key] of [["conf", "confidence"], ["align", "alignment"]]) {
  for (let v = 1; v <= 5; v++) {
    const b = document.createElement("button");
    b.textContent = v; b.dataset[key] = v;
    b.addEventListener("click", () => setValue(key, v));
    $(box).appendChild(b);
  }
}
document.querySelectorAll("[data-real]").forEach((b) =>
  b.addEventListener("click", () => setValue("real", b.dataset.real === "true")));

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: body ? { "Content-Type": "application/json" } : {},
                                body: body ? JSON.stringify(body) : undefined, credentials: "same-origin" });
  let data = {};
  try { data = await r.json(); } catch (e) {}
  if (!r.ok) { const err = new Error(data.error || ("HTTP " + r.status)); err.status = r.status; throw err; }
  return data;
}
function show(id) { for (const s of ["signin", "rating", "done"]) $(s).classList.toggle("hidden", s !== id); }
function setProgress(p) {
  st = Object.assign(st || {}, p);
  $("count").textContent = st.answered + " / " + st.total;
  $("barfill").style.width = (st.total ? 100 * st.answered / st.total : 0) + "%";
}
function render() {
  document.querySelectorAll("[data-real]").forEach((b) => b.classList.toggle("on", ans.real !== undefined && String(ans.real) === b.dataset.real));
  document.querySelectorAll("[data-confidence]").forEach((b) => b.classList.toggle("on", Number(b.dataset.confidence) === ans.confidence));
  document.querySelectorAll("[data-alignment]").forEach((b) => b.classList.toggle("on", Number(b.dataset.alignment) === ans.alignment));
  document.querySelectorAll(".q").forEach((q) => q.classList.toggle("active", q.dataset.q === Q[active]));
  $("save").disabled = !complete();
  $("back").disabled = !cur || cur.index === 0;
}
function complete() { return ans.real !== undefined && ans.confidence && ans.alignment; }
function setValue(key, v) {
  ans[key] = v;
  const i = Q.indexOf(key);
  active = Math.min(i + 1, Q.length - 1);
  while (active < Q.length - 1 && ans[Q[active]] !== undefined) active++;
  $("msg").textContent = "";
  render();
}
async function load(index) {
  if (index === null || index === undefined) { show("done"); return; }
  cur = await api("GET", "/api/item/" + index);
  ans = cur.answer ? Object.assign({}, cur.answer) : {};
  active = 0;
  const img = $("img");
  img.onload = () => img.classList.toggle("small", img.naturalWidth < 160);
  img.src = cur.image;
  $("prompt").textContent = cur.prompt;
  $("rating").dataset.index = cur.index;
  shownAt = performance.now();
  show("rating"); render();
}
async function save() {
  if (!complete() || busy) return;
  busy = true;
  try {
    const p = await api("POST", "/api/answer", { token: cur.token, real: ans.real, confidence: ans.confidence,
      alignment: ans.alignment, elapsed_ms: Math.round(performance.now() - shownAt) });
    // revising an earlier answer walks forward item by item; otherwise jump to the first unanswered
    const after = cur.answer && cur.index + 1 < p.total ? cur.index + 1 : p.next_index;
    await load(after);
    setProgress(p);
  } catch (e) { $("msg").textContent = "Not saved: " + e.message; }
  finally { busy = false; }
}
async function start() {
  try {
    const s = await api("GET", "/api/state");
    $("title").textContent = s.title; $("who").textContent = s.reader;
    $("signout").classList.remove("hidden"); $("bar").classList.remove("hidden");
    setProgress(s);
    await load(s.next_index);
  } catch (e) {
    if (e.status === 401) { show("signin"); $("code").focus(); } else { $("msg").textContent = e.message; }
  }
}
$("signinform").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try { await api("POST", "/api/signin", { code: $("code").value.trim() }); await start(); }
  catch (e) { $("signinmsg").textContent = e.message; }
});
$("signout").addEventListener("click", async () => { await api("POST", "/api/signout"); location.reload(); });
$("save").addEventListener("click", save);
$("back").addEventListener("click", () => { if (cur && cur.index > 0) load(cur.index - 1); });
$("review").addEventListener("click", (ev) => { ev.preventDefault(); load(0); });
document.addEventListener("keydown", (ev) => {
  if ($("rating").classList.contains("hidden") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (busy) { ev.preventDefault(); return; }  // the next image is still loading
  const k = ev.key;
  if (k === "r" || k === "R") setValue("real", true);
  else if (k === "s" || k === "S") setValue("real", false);
  else if (k >= "1" && k <= "5") { const q = Q[active] === "real" ? "confidence" : Q[active]; setValue(q, Number(k)); }
  else if (k === "ArrowUp") { active = Math.max(0, active - 1); render(); }
  else if (k === "ArrowDown") { active = Math.min(Q.length - 1, active + 1); render(); }
  else if (k === "Enter") { save(); }
  else if (k === "ArrowLeft" || k === "Backspace") { if (cur && cur.index > 0) load(cur.index - 1); }
  else if (k === "ArrowRight") { if (cur && cur.answer && cur.index + 1 < cur.total) load(cur.index + 1); }
  else return;
  ev.preventDefault();
});
start();
