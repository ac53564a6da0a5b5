"""spancast: broadcast LLM generation records to observability and finance backends."""

from ._version import __version__
from .errors import (ConfigError, EncodeError, InvalidConfigError, NativeUnavailableError, RecordError, SpancastError,
                     SpoolError)
from .record import DecodeResult, Generation, ProviderAttempt, decode_records
from .codec import IMPL as __impl__
from .broadcaster import Broadcaster

__all__ = [
    "__version__",
    "__impl__",
    "Broadcaster",
    "Generation",
    "ProviderAttempt",
    "DecodeResult",
    "decode_records",
    "SpancastError",
    "ConfigError",
    "InvalidConfigError",
    "RecordError",
    "EncodeError",
    "NativeUnavailableError",
    "SpoolError",
]
