"""mombot runtime: CLI, config, HTTP server, WeCom client and crypto, queues and worker."""
