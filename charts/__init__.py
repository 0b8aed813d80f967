"""Charts for managers' reports: plain data in, PNG bytes out. Empty until `/report` is built
(a leaf: it will import nothing else of mombot's)."""
