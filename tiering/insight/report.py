"""A month as one self-contained HTML page of charts (plotly, its JavaScript inlined).

:func:`report_data` reduces a month (millions of lines) to the few numbers the charts draw,
in polars; :func:`render` turns them into the page. The page loads nothing at view time.
"""

from __future__ import annotations

import html
from typing import Any

import polars as pl

from tiering.insight.diff import matrix, pairs

# At most this many bars in a score histogram: the last one holds every score above.
HISTOGRAM_BINS = 60
# Scores above this quantile go into the last bar, so one huge line does not squash the rest.
HISTOGRAM_TOP = 0.99


def histogram(lines: pl.DataFrame, round_to: int) -> list[dict[str, Any]]:
    """Rated lines' scores per partition in bars of ``width`` points (a multiple of the
    cut points' rounding step): ``{"partition", "width", "bins": [{"from", "count"}]}``;
    the last bar also holds the scores above it."""
    rated = lines.lazy().filter(pl.col("tier").is_not_null()).select(
        pl.col("partition").cast(pl.String), "score_x100")
    out = []
    tops = rated.group_by("partition").agg(
        top=pl.col("score_x100").quantile(HISTOGRAM_TOP, "nearest")).collect()
    for name, top in sorted(tops.iter_rows()):
        step = round_to * 100
        width = step * max(1, -(-int(top) // (step * HISTOGRAM_BINS)))  # ceil, in hundredths
        counts = (rated.filter(pl.col("partition") == name)
                  .group_by(bin=(pl.col("score_x100") // width).clip(upper_bound=HISTOGRAM_BINS))
                  .len().sort("bin").collect())
        out.append({"partition": name, "width": width // 100,
                    "bins": [{"from": b * width // 100, "count": n}
                             for b, n in counts.iter_rows()]})
    return out


def report_data(lines: pl.DataFrame, doc: dict[str, Any], record: dict[str, Any],
                round_to: int, tiers: int, compare: tuple[pl.DataFrame, dict[str, Any]] | None
                ) -> dict[str, Any]:
    """What the page shows: the month's run, histograms with cut points, shares per
    partition, unrated by reason, and with ``compare`` (the earlier month's lines and
    thresholds document) the migration matrix from it."""
    data: dict[str, Any] = {
        "month": doc["month"], "run_at": f"{record['run_at']:%Y-%m-%d %H:%M} UTC", "version": record["version"],
        "lines": lines.height, "rated": int(lines["reason"].is_null().sum()),
        "policy_fingerprint": record["policy_fingerprint"],
        "partitions": doc["partitions"], "histograms": histogram(lines, round_to),
        "unrated": record["unrated"], "compare": None, "matrix": None,
    }
    if compare is not None:
        earlier, earlier_doc = compare
        data["compare"] = earlier_doc["month"]
        data["matrix"] = matrix(pairs(earlier, lines, ("tier",)), tiers)
    return data


def _label(tier: int | None) -> str:
    return "unrated" if tier is None else f"{tier}-star"


def figures(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """The charts, titled, as plotly figures."""
    import plotly.graph_objects as go

    out = []
    for h in data["histograms"]:
        fig = go.Figure(go.Bar(
            x=[b["from"] + h["width"] / 2 for b in h["bins"]], y=[b["count"] for b in h["bins"]],
            width=h["width"], name="lines",
            hovertext=[f"{b['from']} .. {b['from'] + h['width']}" for b in h["bins"]]))
        part = next(p for p in data["partitions"] if p["partition"] == h["partition"])
        for t in part["thresholds"]:
            fig.add_vline(x=t["rounded"], line_dash="dash", line_color="crimson",
                          annotation_text=f"{t['tier']}★ {t['rounded']}")
        fig.update_layout(xaxis_title="score (points)", yaxis_title="lines", bargap=0.05)
        out.append((f"Score distribution and cut points: {h['partition']}", fig))
    shares = go.Figure()
    for p in data["partitions"]:
        names = [_label(t["tier"]) for t in p["tiers"]]
        shares.add_bar(x=names, y=[t["nominal_share"] for t in p["tiers"]],
                       name=f"{p['partition']} nominal")
        shares.add_bar(x=names, y=[t["realised_share"] for t in p["tiers"]],
                       name=f"{p['partition']} realised")
    shares.update_layout(barmode="group", yaxis_title="% of rated lines")
    out.append(("Tier shares: nominal vs realised", shares))
    reasons = go.Figure(go.Bar(x=list(data["unrated"]), y=list(data["unrated"].values())))
    reasons.update_layout(yaxis_title="lines")
    out.append(("Unrated lines by reason", reasons))
    if data["matrix"] is not None:
        axis = list(dict.fromkeys(c["from_tier"] for c in data["matrix"]))
        counts = {(c["from_tier"], c["to_tier"]): c["count"] for c in data["matrix"]}
        z = [[counts[(f, t)] for t in axis] for f in axis]
        heat = go.Figure(go.Heatmap(z=z, x=[_label(t) for t in axis], y=[_label(t) for t in axis],
                                    colorscale="Blues", text=z, texttemplate="%{text}"))
        heat.update_layout(xaxis_title=f"tier in {data['month']}",
                           yaxis_title=f"tier in {data['compare']}",
                           yaxis_autorange="reversed")
        out.append((f"Migration {data['compare']} -> {data['month']}", heat))
    if len(data["partitions"]) > 1:
        cuts = go.Figure()
        for p in data["partitions"]:
            cuts.add_bar(x=[f"{t['tier']}★" for t in p["thresholds"]],
                         y=[t["rounded"] for t in p["thresholds"]], name=p["partition"])
        cuts.update_layout(barmode="group", yaxis_title="cut point (points)")
        out.append(("Cut points per region", cuts))
    for _, fig in out:
        fig.update_layout(margin={"t": 30, "b": 40, "l": 60, "r": 20})
    return out


def render(data: dict[str, Any]) -> str:
    """The page: every script and style inline, so it opens with no network."""
    import plotly.offline

    charts = "".join(
        f"<section><h2>{html.escape(title)}</h2>"
        f"{fig.to_html(full_html=False, include_plotlyjs=False, default_height='420px')}"
        f"</section>" for title, fig in figures(data))
    rows = "".join(
        f"<tr><td>{html.escape(p['partition'])}</td><td>{p['rated']:,}</td>"
        + "".join(f"<td>{t['rounded']} <small>(raw {t['raw'] or 'fixed'})</small></td>"
                  for t in p["thresholds"]) + "</tr>" for p in data["partitions"])
    compared = f", compared with {html.escape(data['compare'])}" if data["compare"] else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tiering report {html.escape(data['month'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
section {{ margin-top: 2em; }}
</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head><body>
<h1>Tiers of {html.escape(data['month'])}{compared}</h1>
<p>{data['lines']:,} lines, {data['rated']:,} rated; rated {html.escape(data['run_at'])} by
tiering {html.escape(data['version'])}, policy {html.escape(data['policy_fingerprint'][:12])}.
Realised shares differ from nominal ones because cut points are rounded.</p>
<table><tr><th>partition</th><th>rated</th><th colspan="9">cut points, top tier first</th></tr>
{rows}</table>
{charts}
</body></html>
"""
