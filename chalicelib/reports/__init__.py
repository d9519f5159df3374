"""Report rendering, pure: `ReportData` in, PDF or JSON bytes out.

`model` builds `ReportData` from a scored scan; `json_report` and `pdf` render it (fpdf2 is imported
only under `pdf`); `integrity` digests and signs the bytes. `branding` and `images` validate a
partner's co-branding and are light: the API Lambda imports them for `/v1/branding` without loading
the report model.
"""
