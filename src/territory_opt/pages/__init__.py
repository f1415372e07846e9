"""The HTML pages a run writes (map, report, comparison, sizing): one shell, one style.

Pages are built so that no text from the user's data can run as code:

* text placed in HTML goes through :func:`e` (HTML-escaped, quotes included);
* data for scripts is JSON inside ``<script type="application/json">`` (:func:`embed_json`:
  ``<``, ``>``, ``&`` and the JavaScript line separators U+2028/U+2029 escaped), parsed by
  the page's static script, which sets every label with ``textContent``; no JavaScript is
  ever assembled from strings.

Leaflet (and leaflet.sync for side-by-side maps) are inlined from ``_vendor/`` so a page opens
offline as one file; base tiles (OpenStreetMap) need a network and are optional.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from importlib.resources import files
from typing import Any

import numpy as np

#: Style shared by every page: readable on a laptop screen, tables scroll inside their box.
STYLE = """
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--bg:#f6f8fa;--ok:#1b7837;--bad:#b2182b;--accent:#0072B2}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:26px;margin:4px 0 4px}
h2{font-size:19px;margin:28px 0 8px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:15px;margin:16px 0 6px}
p.lead,ul.lead{font-size:16px;margin:6px 0 10px;max-width:900px}
ul.lead li{margin:2px 0}
p.sub,.muted{color:var(--muted)}
ul.plain{padding-left:20px;margin:6px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:10px;margin:12px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:var(--bg)}
.card .k{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card .v{font-size:22px;font-weight:600;margin:2px 0}
.card .d{font-size:13px;color:var(--muted)}
.scroll{max-width:100%;overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;font-size:13.5px}
td,th{border-bottom:1px solid var(--line);padding:4px 8px;vertical-align:top}
th{background:var(--bg);text-align:left;font-weight:600;position:sticky;top:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td small{color:var(--muted)}
.ok{color:var(--ok)} .bad{color:var(--bad)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600}
.badge.ok{background:#e3f1e5} .badge.bad{background:#f8e1e3}
.to-map{width:100%;height:560px;border:1px solid var(--line);border-radius:6px}
.to-maps{display:flex;gap:10px}.to-maps .to-col{flex:1 1 0;min-width:0}
.to-legend-below{font-size:12.5px;margin-top:6px;columns:2 220px;column-gap:14px}
.to-legend-below .to-legend-item{break-inside:avoid}
details{margin:8px 0} summary{cursor:pointer;color:var(--accent)}
img.chart{max-width:100%;height:auto}
svg.balance{max-width:100%;height:auto}
"""

#: Style of the map viewer (panel with legend and layer switches, labels, tooltips).
MAP_STYLE = """
.to-panel{background:#fff;border:1px solid #999;border-radius:6px;padding:6px 8px;font:12px/1.35 system-ui,sans-serif;
 max-height:70vh;overflow:auto;max-width:45vw;box-shadow:0 1px 4px rgba(0,0,0,.2)}
.to-panel details[open]{width:290px;max-width:100%}
.to-panel .to-title{font-weight:600;font-size:13px;margin-bottom:4px}
.to-panel label{display:block;white-space:nowrap;cursor:pointer}
.to-panel .to-note{color:#5f6b7a;margin-top:4px;white-space:normal}
.to-legend-item{display:flex;align-items:center;gap:5px}
.to-legend-item .to-grow{flex:1 1 auto;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.to-legend-item .to-dev{flex:none;font-variant-numeric:tabular-nums;color:#333;padding-left:6px}
.to-title .to-dev{font-weight:400;color:#5f6b7a}
.to-swatch{display:inline-block;width:12px;height:12px;border:1px solid #555;flex:none}
.to-label{background:rgba(255,255,255,.85);border:1px solid #777;border-radius:3px;padding:0 4px;font:600 11px system-ui,sans-serif;box-shadow:none}
.to-label:before{display:none}
.to-tip b{font-weight:600}
.to-scale{height:10px;width:180px;margin:3px 0 1px}
"""


def e(value: object) -> str:
    """HTML-escape any value (quotes included) for text or attribute context."""
    return html.escape(str(value), quote=True)


def _clean(value: Any) -> Any:
    """JSON-ready values: numpy scalars to Python, NaN/inf to None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_for_script(data: Any) -> str:
    """Strict JSON that is inert inside an HTML ``<script>`` element."""
    text = json.dumps(_clean(data), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def embed_json(data: Any, element_id: str) -> str:
    """A ``<script type="application/json">`` element holding ``data`` (read with JSON.parse)."""
    return f'<script type="application/json" id="{e(element_id)}">{json_for_script(data)}</script>'


def read_embedded_json(page: str, element_id: str) -> Any | None:
    """The data :func:`embed_json` put into ``page`` (None when absent)."""
    start_tag = f'<script type="application/json" id="{e(element_id)}">'
    start = page.find(start_tag)
    if start < 0:
        return None
    start += len(start_tag)
    end = page.find("</script>", start)
    return json.loads(page[start:end]) if end > start else None


def asset(name: str) -> str:
    """A vendored or packaged front-end file as text."""
    if name.endswith((".js", ".css")) and name.startswith("viewer"):
        return (files("territory_opt.pages") / name).read_text(encoding="utf-8")
    return (files("territory_opt") / "_vendor" / name).read_text(encoding="utf-8")


def _script(code: str) -> str:
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


def map_assets(*, sync: bool = False) -> str:
    """Leaflet, the viewer script and their styles, inlined."""
    parts = [f"<style>{asset('leaflet.css')}</style><style>{MAP_STYLE}</style>", _script(asset("leaflet.js"))]
    if sync:
        parts.append(_script(asset("L.Map.Sync.js")))
    parts.append(_script(asset("viewer.js")))
    return "".join(parts)


def page(title: str, body: str, *, head: str = "", full: bool = False) -> str:
    """A complete HTML document in the shared style (``full``: the body fills the window)."""
    extra = "html,body{height:100%}body{margin:0}" if full else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{STYLE}{extra}</style>{head}</head><body>{body}</body></html>\n"
    )


# ----------------------------------------------------------------------------- numbers


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, NaN, inf, text)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def number(value: Any, digits: int = 0) -> str:
    """Thousands-separated number; ``n/a`` for None/NaN."""
    v = finite(value)
    if v is None:
        return "n/a"
    if digits == 0 and abs(v) < 10 and v != round(v):
        digits = 1  # 2.5 reps, 0.4 km: one decimal says more than "2"
    return f"{v:,.{digits}f}"


def money(value: Any, currency: str = "$") -> str:
    """A currency amount: ``$1,234,567``; millions shortened in :func:`short_money`."""
    text = number(value)
    if text == "n/a":
        return text
    if text.startswith("-"):
        return "-" + currency + text[1:]
    return currency + text


def short_money(value: Any, currency: str = "$") -> str:
    """``$12.3M``, ``$450K``: for sentences and cards."""
    v = finite(value)
    if v is None:
        return "n/a"
    sign, v = ("-" if v < 0 else ""), abs(v)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= size:
            digits = 1 if v < 100 * size else 0
            return f"{sign}{currency}{v / size:,.{digits}f}{suffix}"
    return f"{sign}{currency}{v:,.0f}"


def percent(share: Any, digits: int = 1, *, signed: bool = False) -> str:
    """A share (0.05) as ``5.0%``."""
    v = finite(share)
    if v is None:
        return "n/a"
    return f"{100 * v:+.{digits}f}%" if signed else f"{100 * v:.{digits}f}%"


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[bool] | None = None, cls: str = ""
) -> str:
    """A table whose cells are already-safe HTML, in a box that scrolls sideways on a narrow screen.

    ``header`` is plain text (escaped here); ``numeric`` right-aligns those columns.
    """
    numeric = list(numeric) if numeric is not None else [False] * len(header)
    head = "".join(f'<th class="{"n" if n else ""}">{e(h)}</th>' for h, n in zip(header, numeric, strict=True))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"n" if n else ""}">{c}</td>' for c, n in zip(row, numeric, strict=True))
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table class="{e(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def frame_table(frame: Any, *, max_rows: int | None = None, formats: dict[str, Any] | None = None) -> str:
    """A DataFrame as a :func:`table`: text escaped, numbers formatted (no 15-digit floats)."""
    import pandas as pd

    formats = formats or {}
    shown = frame if max_rows is None else frame.head(max_rows)
    columns = [str(c) for c in shown.columns]
    numeric = [
        pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c]) for c in shown.columns
    ]
    rows = []
    for values in shown.itertuples(index=False):
        cells = []
        for column, value in zip(columns, values, strict=True):
            fmt = formats.get(column)
            cells.append(e(fmt(value)) if fmt is not None else cell(value))
        rows.append(cells)
    return table(columns, rows, numeric=[n or (c in formats) for n, c in zip(numeric, columns, strict=True)])


def cell(value: Any) -> str:
    """One value for a table cell, escaped and formatted."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return ""
        if v == round(v) and abs(v) >= 1:
            return f"{v:,.0f}"
        return f"{v:,.{2 if abs(v) < 100 else 1}f}"
    return e(value)
