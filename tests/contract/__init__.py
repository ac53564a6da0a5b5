"""Contract data, one file per destination type (tests/contract/<type>.py), read by tests/test_contract.py.

Every file defines:
    SECRETS        every secret value in config(); none may appear in a repr, a log line or an error
    PATH, METHOD   what the real service serves (the fake answers 404 / 405 otherwise); a destination
                   whose paths vary (object keys) also sets PATH_PREFIX, and any path under it is served
    CONTENT_TYPE   what the destination's default encoding sends
    BODY           "otlp" (an ExportTraceServiceRequest, decoded with opentelemetry-proto), or
                   anything else, with decode() below
    config(base_url, **extra) -> dict      a valid destination mapping whose requests go to base_url + PATH
    check_auth(headers) -> str | None      None when the auth headers are what the service expects, else why not
and, when BODY is not "otlp":
    decode(body, content_type) -> list[str]   the generation ids the (decompressed) body carries; raise
                                              ValueError where the real service would answer 400
                                              (including a key carried in the body, as PostHog's is)
"""
