# cython: language_level=3
"""spancast._native: the OTLP trace encoder in Cython, the twin of spancast.codec._py (same bytes)."""

# One compilation unit: the buffer and the JSON writer are included, not imported.
include "buffer.pxi"
include "json.pxi"
include "encoder.pxi"
