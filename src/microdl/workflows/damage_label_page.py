"""The single HTML page of ``microdl damage label`` (plain HTML, CSS and JavaScript; no external files)."""

from __future__ import annotations

import html
import json

__all__ = ["render_page"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>microdl: label damage sites</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1em 2em; background: #fafafa; color: #222; }
 header { display: flex; gap: 2em; align-items: baseline; flex-wrap: wrap; }
 #views { display: flex; gap: 1.5em; margin: 1em 0; align-items: flex-start; }
 #views img { border: 1px solid #999; image-rendering: pixelated; background: #000; }
 #crop { width: 288px; height: 288px; } #context { width: 320px; height: 320px; }
 #buttons button { font-size: 1.05em; margin: 0.2em; padding: 0.45em 0.9em; cursor: pointer; }
 #buttons kbd { color: #777; font-size: 0.85em; margin-right: 0.3em; }
 table { border-collapse: collapse; margin-top: 0.3em; } td, th { padding: 0.15em 0.8em; border-bottom: 1px solid #ddd; }
 #status { min-height: 1.4em; color: #0a5; } #status.err { color: #b00; }
 .panel { display: inline-block; vertical-align: top; margin-right: 3em; }
</style></head>
<body>
<header><h2>Damage sites</h2>
 <label>Annotator <input id="annotator" value="__ANNOTATOR__" size="14" autocomplete="off"></label>
 <span id="progress"></span></header>
<div id="views"><div><div>site</div><img id="crop" alt="site crop"></div>
 <div><div>context</div><img id="context" alt="site in context"></div>
 <div id="info"><div>site <b id="site-id">-</b></div><div id="where"></div><div id="others"></div></div></div>
<div id="buttons"></div>
<p><button id="skip"><kbd>s</kbd>skip</button> <button id="undo"><kbd>z</kbd>back to my last label</button></p>
<p id="status"></p>
<div class="panel"><h4>Sites per class (consensus)</h4><table id="counts"></table></div>
<div class="panel"><h4>Agreement between annotators</h4><table id="kappa"></table></div>
<script>
const CLASSES = __CLASSES__;
let current = null;
const $ = (id) => document.getElementById(id);
const who = () => $("annotator").value.trim();
function status(text, err) { const s = $("status"); s.textContent = text; s.className = err ? "err" : ""; }
async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"},
                                                         body: JSON.stringify(body)});
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}
function cell(row, text, tag) { const c = document.createElement(tag || "td"); c.textContent = text; row.appendChild(c); }
async function refreshStats() {
  const s = await api("/api/stats");
  const t = $("counts"); t.innerHTML = "";
  for (const [k, v] of Object.entries(s.counts)) { const r = t.insertRow(); cell(r, k); cell(r, v); }
  const r0 = t.insertRow(); cell(r0, "labelled / sites"); cell(r0, s.n_labelled + " / " + s.n_sites);
  const k = $("kappa"); k.innerHTML = "";
  const h = k.insertRow(); ["annotators", "shared sites", "agreement", "Cohen's kappa"].forEach(x => cell(h, x, "th"));
  for (const p of s.kappa) {
    const r = k.insertRow(); cell(r, p.a + " / " + p.b); cell(r, p.n_sites);
    cell(r, (100 * p.agreement).toFixed(0) + " %"); cell(r, p.kappa === null ? "n/a" : p.kappa.toFixed(2));
  }
}
function show(site) {
  current = site;
  if (!site) { $("site-id").textContent = "-"; $("crop").removeAttribute("src"); $("context").removeAttribute("src");
    $("progress").textContent = "nothing left to label for " + who(); return; }
  $("site-id").textContent = site.site_id;
  $("crop").src = "/api/crop/" + site.site_id + ".png";
  $("context").src = "/api/crop/" + site.site_id + ".png?context=1";
  $("where").textContent = site.image + " (" + site.sample + ", strain " + site.strain + ") at x " +
    site.x.toFixed(0) + ", y " + site.y.toFixed(0) + ", " + site.area_px + " px";
  const others = Object.entries(site.annotations).map(([a, l]) => a + ": " + l).join(", ");
  $("others").textContent = others ? "others said " + others : "";
  $("progress").textContent = site.remaining + " of " + site.total + " sites left for " + who();
}
async function next(after) {
  if (!who()) { status("type your name in Annotator first", true); return; }
  try { show((await api("/api/next?annotator=" + encodeURIComponent(who()) + "&after=" + (after || 0))).site); }
  catch (e) { status(e.message, true); }
}
async function label(name) {
  if (!current) return;
  if (!who()) { status("type your name in Annotator first", true); return; }
  try {
    const r = await api("/api/label", {site_id: current.site_id, label: name, annotator: who()});
    status("site " + r.site_id + ": " + r.label);
    await next(r.site_id); await refreshStats();
  } catch (e) { status(e.message, true); }
}
async function undo() {
  try { const r = await api("/api/undo", {annotator: who()});
    if (r.site === null) { status("no label of yours to go back to"); return; }
    show(r.site); $("progress").textContent = "labelling again site " + r.site.site_id;
    status("back to site " + r.site.site_id + " (a new label is added; the old one stays in the history)");
  } catch (e) { status(e.message, true); }
}
CLASSES.forEach((name, i) => {
  const b = document.createElement("button"); b.className = "cls"; b.dataset.label = name;
  b.innerHTML = (i < 9 ? "<kbd>" + (i + 1) + "</kbd>" : "") + name; b.onclick = () => label(name);
  $("buttons").appendChild(b);
});
$("skip").onclick = () => next(current ? current.site_id : 0);
$("undo").onclick = undo;
$("annotator").addEventListener("change", () => next(0));
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT") return;
  const i = parseInt(e.key, 10);
  if (i >= 1 && i <= Math.min(9, CLASSES.length)) label(CLASSES[i - 1]);
  else if (e.key === "s") next(current ? current.site_id : 0);
  else if (e.key === "z") undo();
});
next(0); refreshStats();
</script></body></html>
"""


def render_page(classes: tuple[str, ...], annotator: str = "") -> str:
    """The page with the class buttons and a pre-filled annotator name (escaped)."""
    classes_js = json.dumps(list(classes)).replace("</", "<\\/")
    return _PAGE.replace("__CLASSES__", classes_js).replace("__ANNOTATOR__", html.escape(annotator, quote=True))
