"""Exposure intelligence: end-of-life, outdated and known-exploited versions of identified services.

Data: `data/` holds the pruned CISA KEV, endoflife.date and release-data snapshots (refreshable,
see store.py and refresh.py), `products.json` (CPE vendor:product -> catalogue names) and
`rules.json` (version ranges of CVEs). Matching: findings.py.
"""
