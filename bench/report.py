"""Text rendering of the results documents (``--json`` prints the documents themselves)."""

from __future__ import annotations

from typing import Any

HEADER = ("contender", "wall s (best)", "peak RSS GB", "x floor", "x anchor")


def run_text(doc: dict[str, Any]) -> str:
    spark = "x_plain_spark" in doc["results"][0]
    header = (*HEADER, "x plain PySpark") if spark else HEADER
    rows = [header] + [
        (r["contender"], f"{r['wall_s']:.2f}", f"{r['peak_rss_gb']:.2f}", f"{r['x_floor']:.2f}",
         f"{r['x_anchor']:.2f}", *([f"{r['x_plain_spark']:.2f}"] if spark else []))
        for r in doc["results"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows]
    return "\n".join([_extract_line(doc), _machine_line(doc["machine"]), "", *table, "",
                      _agreement_text(doc["agreement"])])


def lookup_text(doc: dict[str, Any]) -> str:
    cli, api = doc["cli"], doc["api"]
    return "\n".join([
        _extract_line(doc), _machine_line(doc["machine"]),
        f"the month in {doc.get('parts', 1)} part file(s)", "",
        f"tiering lookup {cli['id']}: {cli['lookup_s']:.3f} s (best of {cli['rounds']}, "
        f"process start included, peak RSS {cli['lookup_peak_rss_gb']:.2f} GB)",
        f"python -c 'import duckdb': {cli['bare_duckdb_s']:.3f} s -> lookup is "
        f"{cli['x_bare']:.2f}x a bare DuckDB process",
        f"StoreReader.lines([id]): p50 {api['single_lines_p50_ms']:.2f} ms, "
        f"p99 {api['single_lines_p99_ms']:.2f} ms over {api['single_lookups']:,} random ids "
        f"(on the CPU: p50 {api.get('single_lines_cpu_p50_ms', float('nan')):.2f} ms, "
        f"p99 {api.get('single_lines_cpu_p99_ms', float('nan')):.2f} ms)",
        f"batch of {api['batch_ids']:,} ids: StoreReader.lines {api['batch_lines_s']:.3f} s, "
        f"StoreReader.effective_tiers {api['batch_effective_tiers_s']:.3f} s (best of 3)",
        f"the reader's index of the month, built on its second look-up: "
        f"{api['index_build_s']:.2f} s",
    ])


def _extract_line(doc: dict[str, Any]) -> str:
    e = doc["extract"]
    order = "ids sorted" if e["sorted_ids"] else "ids scattered"
    shape = e.get("shape", {})
    order += "".join(f", {k} {v}" for k, v in shape.items())
    repeat = f", best of {doc['repeat']}" if "repeat" in doc else ""
    return (f"{e['subscribers']:,} subscribers x 12 months, month {e['month']}: "
            f"{e['billing_rows']:,} billing rows ({order}, {e['billing_bytes'] / 1e6:,.1f} MB "
            f"Parquet, seed {e['seed']}){repeat}")


def _machine_line(m: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    return (f"machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM, "
            f"Python {m['python']}; {packages}")


def _agreement_text(a: dict[str, Any]) -> str:
    if not a["ok"]:
        return "agreement: FAILED\n" + "\n".join(f"  {d}" for d in a["differences"])
    cuts = ", ".join(f"{t}-star >= {c['rounded']} (raw {c['raw']} at rank {c['rank']:,})"
                     for t, c in a["cut_points"].items())
    tiers = ", ".join(f"{t}-star {n:,}" for t, n in a["tiers"].items())
    return (f"agreement: OK - the anchor and every rating agree on "
            f"{a['rated']:,} rated lines\n  cut points: {cuts}\n  tiers: {tiers}")
