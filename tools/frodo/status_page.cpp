#include "status_page.hpp"

#include <openssl/evp.h>

#include <stdexcept>
#include <string_view>

namespace frodo::cli {
namespace {

// The page's stylesheet, script and markup. The data of a view never goes into these
// strings: the script reads it from /v1/watch and puts every string of it in the DOM with
// textContent (or setAttribute, for the colours it computes from numbers).
constexpr std::string_view style = R"css(
:root { --fg: #1f2328; --muted: #656d76; --line: #d8dee4; --bg: #ffffff; --panel: #f6f8fa;
        --agree: #1a7f37; --differ: #cf222e; --absent: #8c959f; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: var(--bg); }
.mono, code { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", monospace; font-size: 13px; }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
h1 { font-size: 22px; margin: 0; font-weight: 600; }
h1 #context { color: #0969da; }
h2 { font-size: 15px; margin: 24px 0 8px; }
.conn { font-size: 12px; color: var(--muted); }
.conn::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
                margin-right: 6px; background: var(--absent); }
.conn[data-state="live"]::before { background: var(--agree); }
.conn[data-state="down"]::before, .conn[data-state="error"]::before { background: var(--differ); }
dl.facts { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 14px 0; padding: 10px 14px;
           background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
dl.facts div { min-width: 0; }
dt { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.headline { margin: 10px 0 16px; padding: 8px 12px; border-radius: 6px; border: 1px solid var(--line);
            overflow-wrap: anywhere; }
.headline[data-state="agrees"] { border-color: var(--agree); color: var(--agree); }
.headline[data-state="differs"] { border-color: var(--differ); color: var(--differ); }
.headline[data-state="none"] { color: var(--muted); }
main { display: flex; gap: 28px; align-items: flex-start; flex-wrap: wrap; }
figure { margin: 0; flex: 0 0 220px; text-align: center; }
figcaption { font-size: 12px; color: var(--muted); }
#ring { width: 220px; height: 220px; }
#ring .track { fill: none; stroke: var(--panel); stroke-width: 36; }
#ring .arc { fill: none; stroke-width: 36; cursor: default; }
#ring .arc.hot { stroke-width: 44; }
#ring text { font-size: 13px; fill: var(--fg); }
#ring #ring-sublabel { font-size: 11px; fill: var(--muted); }
.table-wrap { flex: 1 1 560px; min-width: 0; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-weight: 600; font-size: 12px; color: var(--muted); border-bottom: 1px solid var(--line);
     padding: 6px 8px; white-space: nowrap; }
td { padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; overflow-wrap: anywhere; }
tr.hot td { background: #fff8c5; }
td.address { white-space: nowrap; }
td.weight, td.share .pct { font-variant-numeric: tabular-nums; }
td.share { min-width: 170px; white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 8px; }
.bar { display: inline-block; width: 110px; height: 10px; background: var(--panel); border: 1px solid var(--line);
       border-radius: 3px; vertical-align: middle; margin-right: 8px; overflow: hidden; }
.bar .fill { display: block; height: 100%; }
.none { color: var(--absent); }
.meta { font-size: 12px; color: var(--muted); }
.tag { margin-left: 8px; font-size: 11px; padding: 0 6px; border-radius: 8px; background: #fff1e5; color: #953800; }
.badge { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px; color: #fff;
         background: var(--absent); overflow-wrap: anywhere; }
.badge[data-state="agrees"] { background: var(--agree); }
.badge[data-state="differs"] { background: var(--differ); }
#changes { list-style: none; margin: 0; padding: 0; max-height: 360px; overflow-y: auto;
           border: 1px solid var(--line); border-radius: 6px; }
#changes li { padding: 5px 10px; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
#changes li:last-child { border-bottom: 0; }
#changes .when { color: var(--muted); margin-right: 10px; }
#changes .rev { color: var(--muted); margin-right: 10px; }
#changes .kind { display: inline-block; min-width: 64px; margin-right: 8px; font-weight: 600; }
#changes li[data-kind="joined"] .kind { color: var(--agree); }
#changes li[data-kind="left"] .kind { color: var(--differ); }
#changes li[data-kind="changed"] .kind { color: #9a6700; }
#changes .detail { color: var(--muted); margin-left: 8px; }
)css";

constexpr std::string_view script = R"js(
'use strict';
(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const VIEW_KEY = 'frodo.view';        // the checksum a member publishes of the view it holds
  const LEAVING_KEY = 'frodo.leaving';  // a member draining out of the ring
  const MAX_CHANGES = 200;
  const RADIUS = 80;
  const CIRCUMFERENCE = 2 * Math.PI * RADIUS;
  const byId = (id) => document.getElementById(id);
  const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

  // An element with a class and a text: the text is always textContent, never markup.
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function svg(tag, attributes) {
    const e = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) e.setAttribute(name, String(value));
    return e;
  }

  // A colour per address, kept while the page is open: the n-th address the page sees gets
  // the hue n golden angles round, so neighbours on the ring differ. Only numbers go into it.
  const colours = new Map();
  let coloured = 0;
  function colour(address) {
    if (!colours.has(address)) {
      const n = coloured++;
      colours.set(address, 'hsl(' + ((n * 137.508 + 210) % 360).toFixed(1) + ' ' + (n % 2 ? 55 : 68) + '% ' +
                           (n % 3 === 2 ? 40 : 50) + '%)');
    }
    return colours.get(address);
  }
  function forgetColours(view) {  // of addresses gone long ago: the map stays near the view's size
    if (colours.size <= 2 * view.servers.length + 256) return;
    const present = new Set(view.servers.map((s) => s.address));
    for (const address of [...colours.keys()]) if (!present.has(address)) colours.delete(address);
  }
  const percent = (share) => (share * 100).toFixed(share > 0 && share < 0.1 ? 2 : 1) + '%';

  // The view as the page uses it, whatever the event held: strings are strings, numbers numbers.
  function normalise(raw) {
    const view = raw !== null && typeof raw === 'object' ? raw : {};
    const text = (value) => (typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value));
    const servers = Array.isArray(view.servers) ? view.servers : [];
    return {
      context: text(view.context),
      revision: Number(view.revision) || 0,
      algorithm: text(view.algorithm),
      checksum: text(view.checksum),
      lease: typeof view.lease === 'string' ? view.lease : null,
      servers: servers.filter((s) => s !== null && typeof s === 'object').map((s) => {
        const meta = new Map();
        if (s.meta !== null && typeof s.meta === 'object' && !Array.isArray(s.meta)) {
          for (const key of Object.keys(s.meta).sort()) meta.set(key, text(s.meta[key]));
        }
        return { address: text(s.address), weight: Number(s.weight), zone: text(s.zone),
                 share: Math.min(1, Math.max(0, Number(s.share) || 0)), meta };
      }),
    };
  }

  // Checksums of the views this page has shown, to tell a member that is behind (it holds a
  // view the page saw earlier) from one that holds a view the page never saw.
  const seen = new Map();  // checksum -> revision
  function remember(view) {
    if (!view.checksum) return;
    seen.delete(view.checksum);
    seen.set(view.checksum, view.revision);
    while (seen.size > 1000) seen.delete(seen.keys().next().value);
  }

  function agreement(server, checksum) {
    if (!server.meta.has(VIEW_KEY)) return { state: 'absent', text: 'not published' };
    const held = server.meta.get(VIEW_KEY);
    if (held === checksum) return { state: 'agrees', text: 'agrees' };
    if (seen.has(held)) return { state: 'differs', text: 'behind: holds ' + held + ' (revision ' + seen.get(held) + ')' };
    return { state: 'differs', text: 'differs: holds ' + held };
  }

  const rows = new Map();  // address -> its table row, for highlighting from the ring
  const arcs = new Map();  // address -> its arc
  let hovered = null;
  let current = null;      // the view shown

  function highlight(address) {
    hovered = address;
    for (const [a, row] of rows) row.classList.toggle('hot', a === address);
    for (const [a, arc] of arcs) arc.classList.toggle('hot', a === address);
    const server = current && current.servers.find((s) => s.address === address);
    if (server) {
      byId('ring-label').textContent = server.address;
      byId('ring-sublabel').textContent = percent(server.share) + ' of ids';
    } else {
      ringCaption(current);
    }
  }
  function hoverable(node, address) {
    node.addEventListener('mouseenter', () => highlight(address));
    node.addEventListener('mouseleave', () => { if (hovered === address) highlight(null); });
  }

  function ringCaption(view) {
    const members = view ? view.servers.filter((s) => s.share > 0).length : 0;
    byId('ring-label').textContent = view ? members + (members === 1 ? ' member' : ' members') : '';
    byId('ring-sublabel').textContent = view && members === 0 ? 'no id has an owner' : view ? 'hover an arc' : '';
  }

  function renderFacts(view) {
    byId('context').textContent = view.context;
    document.title = 'frodo · ' + view.context;
    byId('algorithm').textContent = view.algorithm;
    byId('revision').textContent = String(view.revision);
    byId('checksum').textContent = view.checksum;
    byId('count').textContent = String(view.servers.length);
    byId('lease').textContent = view.lease === null ? 'none (nothing registered through this sidecar)' : view.lease;
  }

  function renderAgreement(view) {
    const headline = byId('agreement');
    const publishing = view.servers.filter((s) => s.meta.has(VIEW_KEY));
    const differing = publishing.filter((s) => s.meta.get(VIEW_KEY) !== view.checksum);
    const silent = view.servers.length - publishing.length;
    const also = silent > 0 ? ' (' + silent + ' not published)' : '';
    if (view.servers.length === 0) {
      headline.dataset.state = 'none';
      headline.textContent = 'no servers registered';
    } else if (publishing.length === 0) {
      headline.dataset.state = 'none';
      headline.textContent = 'no member publishes the view it holds (meta ' + VIEW_KEY + ')';
    } else if (differing.length === 0) {
      headline.dataset.state = 'agrees';
      headline.textContent = 'all ' + publishing.length + ' publishing members agree' + also;
    } else {
      headline.dataset.state = 'differs';
      headline.textContent = differing.length + ' of ' + publishing.length + ' differ: ' +
        differing.map((s) => s.address).join(', ') + also;
    }
  }

  function renderTable(view) {
    const body = byId('member-rows');
    rows.clear();
    const peak = view.servers.reduce((m, s) => Math.max(m, s.share), 0);
    const built = view.servers.map((s) => {
      const row = el('tr');
      const address = el('td', 'address');
      const swatch = el('span', 'swatch');
      swatch.style.backgroundColor = colour(s.address);
      address.append(swatch, el('span', 'mono', s.address));
      if (s.meta.has(LEAVING_KEY)) address.append(el('span', 'tag', 'leaving'));
      const zone = s.zone === '' ? el('td', 'zone none', '—') : el('td', 'zone', s.zone);
      const share = el('td', 'share');
      const bar = el('span', 'bar');
      const fill = el('span', 'fill');
      fill.style.width = (peak > 0 ? (s.share / peak) * 100 : 0) + '%';
      fill.style.backgroundColor = colour(s.address);
      bar.append(fill);
      share.append(bar, el('span', 'pct', percent(s.share)));
      const agree = agreement(s, view.checksum);
      const verdict = el('td', 'agreement');
      const badge = el('span', 'badge', agree.text);
      badge.dataset.state = agree.state;
      verdict.append(badge);
      const meta = [...s.meta].filter(([k]) => k !== VIEW_KEY).map(([k, v]) => k + '=' + v).join('  ');
      row.append(address, el('td', 'weight', String(s.weight)), zone, share, verdict,
                 el('td', meta === '' ? 'meta none' : 'meta', meta === '' ? '—' : meta));
      rows.set(s.address, row);
      hoverable(row, s.address);
      return row;
    });
    if (built.length === 0) {
      const empty = el('td', 'none', 'no servers registered in this context: no id has an owner');
      empty.colSpan = 6;
      const row = el('tr');
      row.append(empty);
      built.push(row);
    }
    body.replaceChildren(...built);
  }

  function renderRing(view) {
    const group = byId('arcs');
    arcs.clear();
    let offset = 0;
    const built = [];
    for (const s of view.servers) {
      if (!(s.share > 0)) continue;
      const length = s.share * CIRCUMFERENCE;
      const arc = svg('circle', { class: 'arc', cx: 100, cy: 100, r: RADIUS, stroke: colour(s.address),
        'stroke-dasharray': length + ' ' + (CIRCUMFERENCE - length), 'stroke-dashoffset': -offset });
      const title = svg('title', {});
      title.textContent = s.address + ': ' + percent(s.share) + ' of ids';
      arc.append(title);
      arcs.set(s.address, arc);
      hoverable(arc, s.address);
      built.push(arc);
      offset += length;
    }
    group.replaceChildren(...built);
    ringCaption(view);
  }

  // What changed between two views, as list entries: joined, left, changed (weight, zone, meta).
  function differences(before, after) {
    const old = new Map(before.servers.map((s) => [s.address, s]));
    const now = new Map(after.servers.map((s) => [s.address, s]));
    const out = [];
    for (const [address, s] of now) {
      const o = old.get(address);
      if (!o) {
        out.push({ kind: 'joined', address, detail: 'weight ' + s.weight + (s.zone ? ', zone ' + s.zone : '') });
        continue;
      }
      const parts = [];
      if (o.weight !== s.weight && !(Number.isNaN(o.weight) && Number.isNaN(s.weight))) parts.push('weight ' + o.weight + ' → ' + s.weight);
      if (o.zone !== s.zone) parts.push('zone ' + (o.zone || '—') + ' → ' + (s.zone || '—'));
      for (const key of new Set([...o.meta.keys(), ...s.meta.keys()])) {
        if (o.meta.get(key) === s.meta.get(key)) continue;
        if (!s.meta.has(key)) parts.push('meta ' + key + ' removed');
        else parts.push('meta ' + key + '=' + s.meta.get(key));
      }
      if (parts.length > 0) out.push({ kind: 'changed', address, detail: parts.join(', ') });
    }
    for (const address of old.keys()) {
      if (!now.has(address)) out.push({ kind: 'left', address, detail: '' });
    }
    return out;
  }

  function addChanges(revision, entries) {
    const list = byId('changes');
    const when = new Date().toLocaleTimeString();
    for (const entry of entries) {
      const item = el('li');
      item.dataset.kind = entry.kind;
      item.append(el('span', 'when', when), el('span', 'rev mono', 'r' + revision), el('span', 'kind', entry.kind),
                  el('span', 'mono address', entry.address));
      if (entry.detail) item.append(el('span', 'detail', entry.detail));
      list.prepend(item);
    }
    while (list.children.length > MAX_CHANGES) list.lastElementChild.remove();
  }

  function show(data) {
    let view;
    try {
      view = normalise(JSON.parse(data));
    } catch (error) {
      connection('error', 'an event that is not JSON: ' + error.message);
      return;
    }
    if (current === null) {
      addChanges(view.revision, [{ kind: 'loaded', address: '',
        detail: 'view of ' + view.servers.length + (view.servers.length === 1 ? ' server' : ' servers') }]);
    } else {
      addChanges(view.revision, differences(current, view));
    }
    current = view;
    remember(view);
    forgetColours(view);
    renderFacts(view);
    renderAgreement(view);
    renderTable(view);
    renderRing(view);
    if (hovered !== null) highlight(hovered);
    byId('updated').textContent = 'view of ' + new Date().toLocaleTimeString();
  }

  function connection(state, text) {
    const node = byId('connection');
    node.dataset.state = state;
    node.textContent = text;
  }

  // The stream of views. EventSource reconnects by itself after a dropped connection (sending
  // Last-Event-ID); a refusal (503: too many streams, shutting down) closes it for good, so
  // the page opens a new one a few seconds later.
  function watch() {
    const source = new EventSource('v1/watch');
    source.addEventListener('open', () => connection('live', 'live'));
    source.addEventListener('view', (event) => show(event.data));
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        connection('down', 'disconnected; retrying in 5 s');
        setTimeout(watch, 5000);
      } else {
        connection('connecting', 'reconnecting…');
      }
    });
  }
  watch();
})();
)js";

constexpr std::string_view head = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>frodo</title>
<link rel="icon" href="data:,">
<style>)html";

constexpr std::string_view body = R"html(</style>
</head>
<body>
<header>
  <h1>frodo <span id="context"></span></h1>
  <span id="connection" class="conn" data-state="connecting">connecting…</span>
  <span id="updated" class="conn-time meta"></span>
</header>
<dl class="facts">
  <div><dt>algorithm</dt><dd id="algorithm">–</dd></div>
  <div><dt>revision</dt><dd id="revision">–</dd></div>
  <div><dt>checksum</dt><dd id="checksum" class="mono">–</dd></div>
  <div><dt>servers</dt><dd id="count">–</dd></div>
  <div><dt>sidecar lease</dt><dd id="lease" class="mono">–</dd></div>
</dl>
<p id="agreement" class="headline" data-state="none">waiting for the view…</p>
<main>
  <figure>
    <svg id="ring" viewBox="0 0 200 200" role="img" aria-label="the ring: each member's share of ids">
      <circle class="track" cx="100" cy="100" r="80"></circle>
      <g id="arcs" transform="rotate(-90 100 100)"></g>
      <text id="ring-label" x="100" y="100" text-anchor="middle"></text>
      <text id="ring-sublabel" x="100" y="118" text-anchor="middle"></text>
    </svg>
    <figcaption>the ring: each arc is a member's share of ids</figcaption>
  </figure>
  <div class="table-wrap">
    <table id="members">
      <thead><tr><th>address</th><th>weight</th><th>zone</th><th>share of ids</th><th>view agreement</th><th>meta</th></tr></thead>
      <tbody id="member-rows"></tbody>
    </table>
  </div>
</main>
<h2>recent changes</h2>
<ol id="changes"></ol>
<script>)html";

constexpr std::string_view tail = R"html(</script>
</body>
</html>
)html";

// 'sha256-BASE64' of `text`, as a CSP source expression.
std::string csp_hash(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 of the status page failed");
  }
  std::string encoded(4 * ((length + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), digest, static_cast<int>(length));
  encoded.resize(static_cast<std::size_t>(written));
  return "'sha256-" + encoded + "'";
}

}  // namespace

const std::string& status_page_html() {
  static const std::string page = [] {
    std::string out;
    out.reserve(head.size() + style.size() + body.size() + script.size() + tail.size());
    out.append(head).append(style).append(body).append(script).append(tail);
    return out;
  }();
  return page;
}

const std::string& status_page_csp() {
  static const std::string policy = "default-src 'none'; script-src " + csp_hash(script) + "; style-src " +
                                    csp_hash(style) + "; connect-src 'self'; img-src data:; base-uri 'none'; " +
                                    "form-action 'none'; frame-ancestors 'none'";
  return policy;
}

}  // namespace frodo::cli
