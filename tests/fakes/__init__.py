"""In-process fake provider servers for tests (run over real HTTP via ``server.serve``)."""
