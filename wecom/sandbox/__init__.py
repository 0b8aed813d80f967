"""A local stand-in for the WeCom API and its callbacks, keeping WeCom's rules.

`state` holds the simulated corp, `api` serves it over HTTP under /cgi-bin/, `driver` signs and
encrypts callbacks exactly as WeCom does. The demo, the end-to-end tests and the benchmarks use
it; mombot reaches it only through `api_base`, as it would reach WeCom.
"""
