# The JSON limits scan, the twin of spancast/codec/_scan.py (the same answer for every input): see there.

from libc.string cimport memchr

cdef const char* TIME_MAX_TEXT = b"4294967295999999999"


cdef inline Py_ssize_t string_end(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The index past the quote that ends the string whose first byte is at i (n when it does not end).
    memchr throughout: even for short keys it costs fewer instructions than a byte loop (callgrind)."""
    cdef Py_ssize_t start = i, k, b
    cdef const void* q
    while True:
        q = memchr(p + i, 34, n - i) if i < n else NULL
        if q == NULL:
            return n
        k = <const unsigned char*>q - p
        b = k - 1
        while b >= start and p[b] == 92:
            b -= 1
        if (k - 1 - b) % 2 == 0:
            return k + 1
        i = k + 1


def json_limits(data):
    """(the deepest nesting of brackets outside strings, whether a digit run outside strings is a number
    larger than TIME_MAX_NS): the twin of spancast.codec._scan.json_limits."""
    cdef const unsigned char[::1] view = data
    cdef Py_ssize_t n = view.shape[0], i = 0, start, k
    cdef const unsigned char* p
    cdef int depth = 0, deepest = 0
    cdef bint big = False
    cdef unsigned char c
    if n == 0:
        return 0, False
    p = &view[0]
    with nogil:
        while i < n:
            c = p[i]
            if c == 34:  # '"': to the next quote after an even number of backslashes
                i = string_end(p, i + 1, n)
            elif c == 91 or c == 123:
                depth += 1
                if depth > deepest:
                    deepest = depth
                i += 1
            elif c == 93 or c == 125:
                depth -= 1
                i += 1
            elif 48 <= c <= 57:
                start = i
                while i < n and 48 <= p[i] <= 57:
                    i += 1
                if not big:
                    k = i - start
                    big = k > 19 or (k == 19 and memcmp(p + start, TIME_MAX_TEXT, 19) > 0)
            else:
                i += 1
    return deepest, big
