"""KPI charts for /report: plain data in, PNG bytes out (matplotlib, CJK font)."""
