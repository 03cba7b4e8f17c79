"""The live dashboard at `/`: one page, no external assets (works offline).

Polls /streams every second and each tile's /streams/NAME/frame.jpg (the newest annotated
frame) about twice a second, the next request only after the last image loaded; /events
every two seconds. A `?token=` in the page's address is passed on to those requests.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lrcn vc-serve</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#15171a;color:#e8e8e8}
header{padding:10px 16px;background:#22252a;display:flex;gap:16px;align-items:baseline}
h1{font-size:18px;margin:0} #status{color:#9aa0a6}
main{display:flex;flex-wrap:wrap;gap:12px;padding:12px}
.tile{background:#22252a;border-radius:6px;padding:8px;width:320px}
.tile img{width:320px;min-height:180px;background:#000;display:block}
.thumb{width:96px;display:block}
.name{font-weight:600} .label{font-size:20px;font-weight:700;margin:4px 0}
.meta{color:#9aa0a6;font-size:12px} .state-running{color:#7bd88f} .state-reconnecting,.state-starting{color:#f5c26b}
.state-failed,.state-ended{color:#ff7b72}
section{padding:0 16px 16px} table{border-collapse:collapse;width:100%;font-size:13px}
td,th{text-align:left;padding:3px 8px;border-bottom:1px solid #33363b}
</style></head><body>
<header><h1>lrcn vc-serve</h1><span id="status">connecting...</span></header>
<main id="tiles"></main>
<section><h2>Recent events</h2><table><thead><tr><th>id</th><th>stream</th><th>phase</th><th>label</th>
<th>start</th><th>end</th><th>peak</th><th>media</th></tr></thead><tbody id="events"></tbody></table></section>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const q = (path, extra) => path + "?" + new URLSearchParams({...(token ? {token} : {}), ...(extra || {})});
const tiles = document.getElementById("tiles");
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; return e; };
const fmt = (v, d) => v === null || v === undefined ? "-" : Number(v).toFixed(d);

function tile(name) {
  let t = tiles.querySelector(`.tile[data-stream="${CSS.escape(name)}"]`);
  if (t) return t;
  t = el("div", "tile"); t.dataset.stream = name;
  const img = el("img"); img.alt = name; t.append(el("div", "name", name), img, el("div", "label", "-"),
    el("div", "meta stats"), el("div", "meta state"));
  let n = 0;
  const next = () => setTimeout(() => { img.src = q(`streams/${encodeURIComponent(name)}/frame.jpg`, {n: n++}); }, 500);
  img.onload = next; img.onerror = () => setTimeout(next, 500);
  next();
  tiles.append(t);
  return t;
}

async function refresh() {
  try {
    const r = await fetch(q("streams"));
    if (!r.ok) throw new Error((await r.json()).error || r.status);
    const data = await r.json();
    const names = new Set(data.streams.map(s => s.name));
    for (const t of [...tiles.children]) if (!names.has(t.dataset.stream)) t.remove();
    for (const s of data.streams) {
      const t = tile(s.name);
      const label = s.label === null ? "-" : (s.uncertain ? "uncertain" : s.label);
      t.querySelector(".label").textContent = label + (s.probability === null ? "" : " " + fmt(s.probability, 2));
      t.querySelector(".stats").textContent = `${fmt(s.fps, 1)} fps, latency p50 ${fmt(s.latency_p50_ms, 0)} ms, ` +
        `p95 ${fmt(s.latency_p95_ms, 0)} ms, dropped ${s.frames_dropped}, reconnects ${s.reconnects}, events ${s.events}`;
      const st = t.querySelector(".state");
      st.textContent = s.state + (s.error ? ": " + s.error : ""); st.className = "meta state state-" + s.state;
    }
    document.getElementById("status").textContent = `${data.streams.length} stream(s), updated ` +
      new Date().toLocaleTimeString();
  } catch (e) { document.getElementById("status").textContent = "no answer: " + e.message; }
}

async function events() {
  try {
    const r = await fetch(q("events", {limit: 20}));
    if (!r.ok) return;
    const body = document.getElementById("events"); body.replaceChildren();
    for (const ev of (await r.json()).events) {
      const row = el("tr");
      for (const v of [ev.seq, ev.stream, ev.phase, ev.label, fmt(ev.start, 1), fmt(ev.end, 1), fmt(ev.peak, 2)])
        row.append(el("td", "", v === undefined ? "-" : String(v)));
      const media = el("td");
      if (ev.phase === "end" && ev.snapshot) {  // the files exist once the clip ends (end + post_s)
        const id = encodeURIComponent(ev.id), img = el("img", "thumb");
        img.alt = `event ${ev.id}`; img.src = q(`events/${id}/snapshot.jpg`);
        img.onerror = () => img.remove();
        if (ev.clip) { const a = el("a"); a.href = q(`events/${id}/clip`); a.target = "_blank"; a.append(img, "play"); media.append(a); }
        else media.append(img);
      }
      row.append(media);
      body.append(row);
    }
  } catch (e) { /* the status line already says when the service does not answer */ }
}

refresh(); events();
setInterval(refresh, 1000); setInterval(events, 2000);
</script></body></html>
"""
