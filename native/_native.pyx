# cython: language_level=3
"""spancast._native: the OTLP trace encoder in Cython, the twin of spancast.codec._py (same bytes)."""

# One compilation unit: the buffer, the JSON writer, the field readers, the pooled bodies, the span cache,
# the encoder (and its span sharing), the record size estimate, the routes' media pre-check, the record
# checks and the OTLP protobuf reader are included.
include "buffer.pxi"
include "json.pxi"
include "fields.pxi"
include "body.pxi"
include "spancache.pxi"
include "encoder.pxi"
include "spanpaste.pxi"
include "sizing.pxi"
include "media.pxi"
include "checks.pxi"
include "otlpread.pxi"
