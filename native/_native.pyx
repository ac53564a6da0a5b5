# cython: language_level=3
"""spancast._native: the OTLP trace encoder in Cython, the twin of spancast.codec._py (same bytes)."""

# One compilation unit: the buffer, the JSON writer, the field readers and the encoder are included.
include "buffer.pxi"
include "json.pxi"
include "fields.pxi"
include "encoder.pxi"
