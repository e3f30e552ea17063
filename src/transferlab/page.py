"""The pieces every report page is made of: one self-contained HTML file (no network), its style,
a sortable table, a gallery of embedded thumbnails and the small script that makes them work.

Thumbnails are stored once per page (``Thumbs``: a JSON list of ``data:`` URIs) and referenced by
number (``<img data-t=N>``), so an image shown in a confusion-matrix cell and in a gallery costs once.
"""
from __future__ import annotations

import html
import json
import math
from typing import Any, Iterable

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3}table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:" \\2195";color:#aaa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:.6em}.card{border:1px solid #ddd;border-radius:6px;padding:.5em .9em;min-width:8em}
.card b{display:block;font-size:1.4em}.card span{color:#666;font-size:12px}
.gallery{display:flex;flex-wrap:wrap;gap:6px}figure{margin:0;width:104px;font-size:11px;line-height:1.25}
figure img{width:96px;height:96px;object-fit:contain;background:#eee;display:block;border:2px solid #ccc}
figure.bad img{border-color:#d33}figure.ok img{border-color:#3a3}figcaption{word-break:break-word}
.cm{overflow:auto;max-width:100%}.cm table{font-size:11px}.cm td{text-align:center;min-width:2.2em;padding:2px}
.cm td.hit{cursor:pointer;outline:1px solid #d33}.cm td.hit:hover{outline:2px solid #000}.cm td.sel{outline:3px solid #000}
.cm th.r{text-align:right;white-space:nowrap}.cm th.c{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
.bar{background:#4c72b0;height:12px;display:inline-block;vertical-align:middle}.bar.all{background:#dd8452}
.note{color:#555;font-size:13px}img.plot{max-width:100%}code{background:#f5f5f5;padding:0 3px}
.row{display:flex;gap:12px;align-items:flex-start;margin:.4em 0;flex-wrap:wrap}.row>div.q{border-right:2px solid #999;padding-right:10px}
"""

SCRIPT = """
(function(){
var T=JSON.parse(document.getElementById('thumbs').textContent);
var D=JSON.parse(document.getElementById('data').textContent);
function fill(root){root.querySelectorAll('img[data-t]').forEach(function(im){var t=+im.dataset.t;if(T[t])im.src=T[t];});}
function esc(s){return String(s).replace(/[&<>"]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];});}
function fig(r){return '<figure class="'+(r[3]?'ok':'bad')+'"><img data-t="'+r[0]+'" alt="'+esc(r[1])+'" title="'+esc(r[1])+
 '"><figcaption>'+esc(r[1])+'<br>true '+esc(r[4])+'<br>pred '+esc(r[5])+(r[2]===null?'':'<br>score '+(+r[2]).toFixed(3))+'</figcaption></figure>';}
fill(document);
document.querySelectorAll('table.sortable').forEach(function(tb){
 tb.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var body=tb.tBodies[0],rows=Array.prototype.slice.call(body.rows),asc=th.dataset.asc!=='1';
  tb.querySelectorAll('th').forEach(function(h){delete h.dataset.asc;});th.dataset.asc=asc?'1':'0';
  rows.sort(function(a,b){var x=a.cells[i].dataset.v!==undefined?a.cells[i].dataset.v:a.cells[i].textContent,
   y=b.cells[i].dataset.v!==undefined?b.cells[i].dataset.v:b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);
   var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:String(x).localeCompare(String(y));return asc?c:-c;});
  rows.forEach(function(r){body.appendChild(r);});});});});
var view=document.getElementById('cell-view');
document.querySelectorAll('.cm td.hit').forEach(function(td){td.addEventListener('click',function(){
 document.querySelectorAll('.cm td.sel').forEach(function(x){x.classList.remove('sel');});td.classList.add('sel');
 var key=td.dataset.cell,imgs=(D.cells||{})[key]||[],n=+td.dataset.n,cls=D.classes||[],ij=key.split(',');
 view.innerHTML='<h3>true '+esc(cls[+ij[0]])+', predicted '+esc(cls[+ij[1]])+': '+n+' image(s)'+
  (imgs.length<n?' (the '+imgs.length+' most confident shown)':'')+'</h3><div class="gallery">'+imgs.map(fig).join('')+'</div>';
 fill(view);});});
})();
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def table(header: list[str], rows: Iterable[list], *, sortable: bool = False, raw: bool = False,
          cls: str = "") -> str:
    """An HTML table; numbers are right-aligned and sort as numbers (``sortable``); ``raw``: cells are HTML."""
    classes = " ".join(c for c in ("sortable" if sortable else "", cls) if c)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for c in row:
            if isinstance(c, (int, float)) and not isinstance(c, bool):
                cells.append(f"<td class='num' data-v='{c}'>{esc(fmt(c))}</td>")
            else:
                cells.append(f"<td>{c if raw else esc(c)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='{classes}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def cards(items: list[tuple[str, Any]]) -> str:
    return "<div class='cards'>" + "".join(f"<div class='card'><b>{esc(fmt(v))}</b><span>{esc(k)}</span></div>"
                                           for k, v in items if v is not None) + "</div>"


def config_table(config: dict) -> str:
    rows = [[k, json.dumps(v) if isinstance(v, (list, dict)) else v] for k, v in config.items()]
    return table(["option", "value"], [[k, "" if v is None else str(v)] for k, v in rows])


def figure(t: int | None, name: str, score: float | None, correct: bool, true: str, pred: str) -> str:
    img = f"<img data-t='{t}' alt='{esc(name)}' title='{esc(name)}'>" if t is not None else \
        "<img alt='unreadable'>"
    tail = "" if score is None else f"<br>score {score:.3f}"
    return (f"<figure class='{'ok' if correct else 'bad'}'>{img}<figcaption>{esc(name)}<br>true {esc(true)}"
            f"<br>pred {esc(pred)}{tail}</figcaption></figure>")


def png_img(data: bytes, alt: str) -> str:
    import base64

    return f"<img class='plot' alt='{esc(alt)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"


def document(title: str, body: list[str], thumbs: list[str] | None = None, data: dict | None = None) -> str:
    """The whole page; ``thumbs`` (data URIs) and ``data`` travel as JSON the script reads."""
    dump = lambda o: json.dumps(o, separators=(",", ":")).replace("</", "<\\/")  # noqa: E731
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{esc(title)}</title><style>{STYLE}</style>"
            f"</head><body>{''.join(body)}"
            f"<script type='application/json' id='thumbs'>{dump(thumbs or [])}</script>"
            f"<script type='application/json' id='data'>{dump(data or {})}</script>"
            f"<script>{SCRIPT}</script></body></html>\n")
