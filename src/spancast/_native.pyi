"""Type stub of the Cython extension (the twin of spancast.codec._py)."""

from collections.abc import Iterable, Mapping
from typing import Any

from .codec.plan import AttributePlan

OPS: dict[str, int]

class TraceEncoder:
    format: str
    plan: AttributePlan
    records: int
    spans: int
    def __init__(
        self,
        *,
        format: str = ...,
        flavor: str | AttributePlan = ...,
        resource: Mapping[str, Any] | None = ...,
        max_value_chars: int | None = ...,
    ) -> None: ...
    @property
    def max_value_chars(self) -> int: ...
    def append(self, record: Any, max_bytes: int = -1) -> int: ...
    def append_many(
        self, records: list, start: int, max_records: int, max_bytes: int, errors: list
    ) -> tuple[int, str | None]: ...
    def extend(self, records: Iterable[Any]) -> None: ...
    @property
    def size(self) -> int: ...
    def finish(self) -> bytes: ...
    def reset(self) -> None: ...

def encode_traces(
    records: Iterable[Any],
    *,
    format: str = ...,
    flavor: str | AttributePlan = ...,
    resource: Mapping[str, Any] | None = ...,
) -> bytes: ...
def record_bytes(record: Any) -> int: ...
def simd() -> str: ...
def double_repr(d: float) -> str: ...
def hash64_py(data: bytes, seed: int) -> int: ...
