"""For analysts and front-line agents: explain one line, compare two months, re-rate a month
under another policy, draw a month as an HTML report.

Each module is pure functions over polars frames and the store's documents; tiering.insight.
stored is the one that reads the store (through its public API only). The rules themselves
stay in tiering.score and tiering.thresholds.
"""
