# Finished request bodies in pooled buffers. finish_view() hands the encoder's buffer over as a Body
# (read-only, bytes-like through the buffer protocol) instead of copying it into a new bytes object,
# and takes a used buffer from the pool for the next batch. When the last reference to a Body goes
# (the batch is delivered or dropped, and the transport let go of its views), its buffer returns to
# the pool. Why: a new 1-4 MB bytes object per batch lands in fresh memory, and first-touch page
# faults (about 1-2 us per 4 KiB page on the VMs measured) cost more than copying, close to a
# microsecond per "full" record; a pooled buffer's pages are already mapped.

cimport cython
from cpython.buffer cimport PyBuffer_FillInfo
from libc.string cimport memcmp

cdef enum:
    POOL_SIZE = 8
    POOL_MAX_CAP = 16 << 20  # bigger buffers are freed, not kept

cdef Buf _pool[8]
cdef int _pool_n = 0


cdef void pool_take(Buf* out) noexcept:
    """A pooled buffer (empty) into out, or a zero Buf when the pool is empty (all under the GIL)."""
    global _pool_n
    if _pool_n > 0:
        _pool_n -= 1
        out[0] = _pool[_pool_n]
        out.len = 0
    else:
        out.data = NULL
        out.len = 0
        out.cap = 0


cdef void pool_give(Buf* b) noexcept:
    global _pool_n
    if b.data != NULL and _pool_n < POOL_SIZE and b.cap <= POOL_MAX_CAP:
        _pool[_pool_n] = b[0]
        _pool_n += 1
        b.data = NULL
        b.len = 0
        b.cap = 0
    else:
        buf_free(b)


def pooled_buffers():
    """How many buffers the pool holds now (for tests)."""
    return _pool_n


@cython.final
cdef class Body:
    """A finished request body: read-only and bytes-like (len, ==, bytes(), memoryview()), in a buffer
    that goes back to the pool when the last reference to it is gone."""

    cdef Buf buf
    cdef Py_ssize_t start
    cdef readonly Py_ssize_t nbytes

    def __getbuffer__(self, Py_buffer* view, int flags):
        PyBuffer_FillInfo(view, self, self.buf.data + self.start, self.nbytes, 1, flags)

    def __releasebuffer__(self, Py_buffer* view):
        pass

    def __len__(self):
        return self.nbytes

    def __bytes__(self):
        return PyBytes_FromStringAndSize(self.buf.data + self.start, self.nbytes)

    def __eq__(self, other):
        # memcmp: memoryview's own == unpacks item by item (~1 ms a megabyte), and bodies are compared
        # whole where alike destinations share one compressed copy (pipeline/bodyshare.py).
        cdef const unsigned char[::1] o
        try:
            o = other
        except (TypeError, ValueError, BufferError):
            return NotImplemented
        if o.shape[0] != self.nbytes:
            return False
        return self.nbytes == 0 or memcmp(self.buf.data + self.start, &o[0], self.nbytes) == 0

    __hash__ = None

    def __repr__(self):
        return f"<Body {self.nbytes} bytes, pooled>"

    def __dealloc__(self):
        pool_give(&self.buf)
