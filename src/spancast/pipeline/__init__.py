"""The delivery pipeline, one stage a file: retry decisions, the concurrency limit, compression."""
