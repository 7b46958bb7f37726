"""The report's CSS and its few lines of JavaScript (no external files)."""

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;
background:#fafafa}
header{background:#263238;color:#fff;padding:16px 28px}header h1{margin:0 0 4px;font-size:22px}
header a{color:#b3e5fc;text-decoration:none}header code{color:#fff}
main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:12px 18px;
margin:16px 0}
h2{font-size:18px;margin:4px 0 12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5;position:sticky;top:0}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border-radius:6px;padding:10px 16px;min-width:110px;background:#eceff1}
.card b{display:block;font-size:24px}.card.high{background:#ffebee}
.card.medium{background:#fff8e1}.card.low{background:#e8f5e9}
.note{color:#555;font-size:13px}
.alarm{background:#fde8e8;border:2px solid #c0392b;color:#7b1d1d;padding:8px 12px;margin:8px 0}
#filter{width:100%;padding:6px;margin-bottom:8px;font-size:14px}
@media print{header nav,#filter{display:none}section{break-inside:avoid}}
"""

FILTER_JS = """
function filterRows(q){q=q.toLowerCase();
for(const tr of document.querySelectorAll('#findings tbody tr')){
tr.style.display=tr.textContent.toLowerCase().includes(q)?'':'none';}}
"""
