"""The report's CSS, its few lines of JavaScript (no external files) and the cell helpers
every table of the page uses: a missing value is a dash, never `nan`/`NaT`/`None`; a long id
is abbreviated with its full value in the `title`; numbers in one unit per column."""

from __future__ import annotations

import base64
import gzip
import html
import math
import re
from functools import lru_cache

import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;
background:#fafafa}
header{background:#263238;color:#fff;padding:16px 28px}header h1{margin:0 0 4px;font-size:22px}
header a{color:#b3e5fc;text-decoration:none}header code{color:#fff}
header p{margin:4px 0}header .files{font-size:13px;color:#cfd8dc}
main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:12px 18px;
margin:16px 0;min-width:0}
h2{font-size:18px;margin:4px 0 12px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top;
overflow-wrap:break-word}
th{background:#f5f5f5;position:sticky;top:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.n{white-space:nowrap}
td.fid{white-space:nowrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:nowrap}
span.id[title]{border-bottom:1px dotted #90a4ae;cursor:help}
.na{color:#9e9e9e}
.sev{font-weight:600}.sev.high{background:#ffebee}.sev.medium{background:#fff8e1}
.sev.low{background:#e8f5e9}
tr.over td{background:#ffebee}tr.over td.status{color:#b71c1c;font-weight:700}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border-radius:6px;padding:10px 16px;min-width:110px;background:#eceff1}
.card b{display:block;font-size:24px}.card.high{background:#ffebee}
.card.medium{background:#fff8e1}.card.low{background:#e8f5e9}
.note{color:#555;font-size:13px}.note.more{color:#1d1d1f;background:#fffde7;padding:4px 8px}
.alarm{background:#fde8e8;border:2px solid #c0392b;color:#7b1d1d;padding:8px 12px;margin:8px 0}
.chart{width:100%;height:380px;color:#777;font-size:13px}
#filter{width:100%;box-sizing:border-box;padding:6px;margin-bottom:8px;font-size:14px}
@media print{header nav,#filter{display:none}section{break-inside:avoid}}
"""

FILTER_JS = """
function filterRows(q){q=q.toLowerCase();
for(const tr of document.querySelectorAll('#findings tbody tr')){
const titles=[...tr.querySelectorAll('[title]')].map(x=>x.title).join(' ');
tr.style.display=(tr.textContent+' '+titles).toLowerCase().includes(q)?'':'none';}}
"""

#: Draws the charts: plotly.js is in the page gzip-compressed (a third of its size), unpacked
#: by the browser (DecompressionStream), run, then each chart's figure (JSON) is plotted.
CHARTS_JS = """
(async function(){
const packed=document.getElementById('plotly-gz');const specs=document.querySelectorAll(
'script[data-chart]');if(!packed||!specs.length)return;
try{const bin=Uint8Array.from(atob(packed.textContent.trim()),c=>c.charCodeAt(0));
const code=await new Response(new Blob([bin]).stream().pipeThrough(
new DecompressionStream('gzip'))).text();
const s=document.createElement('script');s.text=code;document.head.appendChild(s);
for(const spec of specs){const f=JSON.parse(spec.textContent);const div=
document.getElementById(spec.dataset.chart);div.textContent='';
await Plotly.newPlot(div,f.data,f.layout,{displaylogo:false,responsive:true});}
document.body.dataset.charts='drawn';}
catch(err){document.body.dataset.charts='failed';for(const spec of specs){
const div=document.getElementById(spec.dataset.chart);if(div&&!div.querySelector('svg'))
div.textContent='Chart not drawn ('+err+'): it needs a browser from 2023 or later '+
'with JavaScript on. The tables hold the same figures.';}}})();
"""

MISSING_TEXT = frozenset({"", "nan", "NaN", "NaT", "None", "<NA>"})
NA = "–"  # what a missing value reads as
WRAP = 24  # a token longer than this may break (in text) or is abbreviated (an id)


class Html(str):
    """Markup already escaped (a cell's content as it goes into the page)."""


NA_HTML = Html(f'<span class="na" title="no value">{NA}</span>')


def missing(value: object) -> bool:
    """None, NaN, NaT, pd.NA, or the text a missing value became upstream ('nan', 'None')."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in MISSING_TEXT
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: not a missing scalar
        return False


LONG = re.compile(rf"(\S{{{WRAP + 1},}})")


def _breakable(token: str) -> str:
    """A long token (a `did:key`, a path) escaped with a break opportunity every `WRAP // 2`
    characters, so that it wraps inside its column instead of widening the table."""
    step = WRAP // 2
    return "<wbr>".join(html.escape(token[i:i + step]) for i in range(0, len(token), step))


def esc(value: object) -> Html:
    """Escaped text; a missing value reads as a dash; a long token may wrap."""
    if isinstance(value, Html):
        return value
    if missing(value):
        return NA_HTML
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    parts = LONG.split(str(value))  # odd items: the long tokens
    return Html("".join(_breakable(p) if i % 2 else html.escape(p)
                        for i, p in enumerate(parts)))


def ident(value: object, keep: int = WRAP) -> Html:
    """An id in a monospace span; one longer than `keep` characters (a `did:key`, a URL) is
    abbreviated to its head and tail, the full value in the title (and found by the
    filter)."""
    if missing(value):
        return NA_HTML
    s = str(value)
    if len(s) <= keep:
        return Html(f'<span class="id">{html.escape(s)}</span>')
    short = f"{s[:keep - 9]}…{s[-8:]}"
    return Html(f'<span class="id" title="{html.escape(s, quote=True)}">'
                f"{html.escape(short)}</span>")


def ids(values: list[object], limit: int = 8, more: str = "") -> Html:
    """Ids one per line (the first `limit`; how many more, and where they all are)."""
    shown = [ident(v) for v in values[:limit] if not missing(v)]
    rest = len(values) - limit
    if rest > 0:
        shown.append(Html(f'<span class="na">+ {rest:,} more{html.escape(more)}</span>'))
    return Html("<br>".join(shown)) if shown else NA_HTML


def number(value: object, digits: int = 1) -> Html:
    """A number with thousands separators and `digits` decimals (the unit is in the
    column's header); a dash when missing."""
    if missing(value):
        return NA_HTML
    x = round(float(value), digits) + 0.0  # type: ignore[arg-type]  # + 0.0: no "-0.0"
    return Html(f"{x:,.{digits}f}")


def percent(value: object) -> Html:
    return NA_HTML if missing(value) else Html(f"{float(value):.1%}")  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def packed_plotly() -> str:
    """plotly.js, gzip-compressed (deterministic) and base64-encoded."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), 9,
                                          mtime=0)).decode("ascii")
