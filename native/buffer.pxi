# The byte buffer (declared in buf.h) and the wire primitives written into it: varints, hex, decimals,
# JSON escaping (escape.h), the id hash. put_char / put_lit / put_cstr check capacity themselves; the
# w* and put / put_byte / put_varint helpers do not, so their callers call buf_need() first.

from cpython.mem cimport PyMem_Free
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.string cimport memcpy, memmove, strlen


cdef extern from "buf.h":
    ctypedef struct Buf "spancast_buf":
        char* data
        Py_ssize_t len
        Py_ssize_t cap
    int buf_grow "spancast_buf_grow"(Buf* b, Py_ssize_t extra) except -1
    int buf_need "spancast_buf_need"(Buf* b, Py_ssize_t extra) except -1
    int put_char "spancast_put_char"(Buf* b, char c) except -1
    int put_lit "spancast_put_lit"(Buf* b, const char* s, Py_ssize_t n) except -1
    int put_cstr "spancast_put_cstr"(Buf* b, const char* s) except -1


cdef void buf_free(Buf* b) noexcept:
    PyMem_Free(b.data)
    b.data = NULL
    b.len = 0
    b.cap = 0


# Straight-line writers through a local pointer: writes through char* may alias the Buf, so code
# that updated b.len after every byte would reload it each time. Callers do
#   p = b.data + b.len; p = w...(p, ...); b.len = p - b.data
cdef inline char* wbyte(char* p, uint8_t c) noexcept:
    p[0] = <char>c
    return p + 1


cdef inline char* wvarint(char* p, uint64_t v) noexcept:
    while v >= 0x80:
        p[0] = <char>((v & 0x7F) | 0x80)
        p += 1
        v >>= 7
    p[0] = <char>v
    return p + 1


cdef inline char* wcopy(char* p, const void* s, Py_ssize_t n) noexcept:
    memcpy(p, s, n)
    return p + n


cdef inline char* wfixed64(char* p, uint64_t v) noexcept:
    cdef int i
    for i in range(8):
        p[i] = <char>((v >> (8 * i)) & 0xFF)
    return p + 8


cdef inline void put(Buf* b, const char* p, Py_ssize_t n) noexcept:
    memcpy(b.data + b.len, p, n)
    b.len += n


cdef inline void put_byte(Buf* b, uint8_t c) noexcept:
    b.data[b.len] = <char>c
    b.len += 1


cdef inline int vsize(uint64_t v) noexcept:
    if v < 0x80:
        return 1
    if v < 0x4000:
        return 2
    cdef int n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


cdef inline void put_varint(Buf* b, uint64_t v) noexcept:
    while v >= 0x80:
        b.data[b.len] = <char>((v & 0x7F) | 0x80)
        b.len += 1
        v >>= 7
    b.data[b.len] = <char>v
    b.len += 1


cdef inline void write_varint_at(char* p, uint64_t v) noexcept:
    while v >= 0x80:
        p[0] = <char>((v & 0x7F) | 0x80)
        p += 1
        v >>= 7
    p[0] = <char>v


cdef int patch_len(Buf* b, Py_ssize_t slot, int reserved) except -1:
    """Write the length of what follows a slot of `reserved` bytes, shifting the content if the varint differs."""
    cdef Py_ssize_t start = slot + reserved
    cdef Py_ssize_t n = b.len - start
    cdef int size = vsize(<uint64_t>n)
    if size > reserved:
        buf_need(b, size - reserved)
    if size != reserved:
        memmove(b.data + slot + size, b.data + start, n)
        b.len += size - reserved
    write_varint_at(b.data + slot, <uint64_t>n)
    return 0


cdef inline int decimal_digits(uint64_t v) noexcept:
    cdef int n = 1
    while v >= 10:
        v //= 10
        n += 1
    return n


cdef char[17] HEXDIGITS
HEXDIGITS[:] = b"0123456789abcdef\0"


cdef inline void hex_at(char* out, const uint8_t* p, int n) noexcept:
    cdef int i
    for i in range(n):
        out[2 * i] = HEXDIGITS[p[i] >> 4]
        out[2 * i + 1] = HEXDIGITS[p[i] & 0xF]


cdef inline void put_hex(Buf* b, const uint8_t* p, int n) noexcept:
    hex_at(b.data + b.len, p, n)
    b.len += 2 * n


# "00" "01" ... "99": decimals are written two digits a step.
cdef char[201] DIGIT_PAIRS
DIGIT_PAIRS[:] = b"".join(b"%02d" % _i for _i in range(100)) + b"\0"


cdef inline int put_u64_dec(Buf* b, uint64_t v) except -1:
    cdef char tmp[24]
    cdef int i = 24
    cdef uint64_t r
    while v >= 100:
        r = v % 100
        v //= 100
        i -= 2
        tmp[i] = DIGIT_PAIRS[2 * r]
        tmp[i + 1] = DIGIT_PAIRS[2 * r + 1]
    if v >= 10:
        i -= 2
        tmp[i] = DIGIT_PAIRS[2 * v]
        tmp[i + 1] = DIGIT_PAIRS[2 * v + 1]
    else:
        i -= 1
        tmp[i] = <char>(48 + v)
    return put_lit(b, tmp + i, 24 - i)


cdef inline int put_i64_dec(Buf* b, int64_t v) except -1:
    if v < 0:
        buf_need(b, 1)
        put_byte(b, 45)
        return put_u64_dec(b, <uint64_t>0 - <uint64_t>v)
    return put_u64_dec(b, <uint64_t>v)


# JSON string escaping over UTF-8 bytes, the same rules as the json module:
# short escapes for " \ \b \f \n \r \t, \u00xx for the other control bytes, everything else as is.
cdef extern from "escape.h":
    Py_ssize_t spancast_escape(char* dst, Py_ssize_t cap, const char* src, Py_ssize_t n, Py_ssize_t* pos, int level) nogil
    size_t spancast_copy_safe(char* dst, const char* src, size_t n) nogil
    void spancast_detect_cpu() nogil
    int spancast_use_avx2

spancast_detect_cpu()


cdef int put_esc(Buf* b, const char* p, Py_ssize_t n, int level) except -1:
    """Append bytes escaped for the inside of a JSON string; level 2 escapes them twice (JSON text
    that is itself the value of a string in an OTLP JSON document)."""
    cdef Py_ssize_t pos = 0
    if n <= 64:  # short text (keys, ids, model names): inline blocks, no call
        buf_need(b, n + 16)
        if <Py_ssize_t>spancast_copy_safe(b.data + b.len, p, <size_t>n) == n:
            b.len += n
            return 0
    while True:
        buf_need(b, n - pos + 64)
        b.len += spancast_escape(b.data + b.len, b.cap - b.len, p, n, &pos, level)
        if pos >= n:
            return 0


cdef inline int put_escaped(Buf* b, const char* p, Py_ssize_t n) except -1:
    return put_esc(b, p, n, 1)


cdef inline int put_quote(Buf* b, int level) except -1:
    """A JSON string delimiter: '"', or '\\"' inside a string."""
    if level == 2:
        return put_lit(b, b"\\\"", 2)
    return put_char(b, 34)


cdef inline int put_quoted(Buf* b, const char* p, Py_ssize_t n, int level) except -1:
    put_quote(b, level)
    put_esc(b, p, n, level)
    return put_quote(b, level)




# The id hash: FNV-1a 64 (basis xor seed) with the splitmix64 finaliser; never 0.
cdef inline uint64_t hash64(const char* p, Py_ssize_t n, uint64_t seed) noexcept:
    cdef uint64_t h = 0xCBF29CE484222325ULL ^ seed
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ <uint8_t>p[i]) * 0x100000001B3ULL
    h ^= h >> 30
    h *= 0xBF58476D1CE4E5B9ULL
    h ^= h >> 27
    h *= 0x94D049BB133111EBULL
    h ^= h >> 31
    return h if h else 1


cdef inline void store_be64(uint8_t* out, uint64_t v) noexcept:
    cdef int i
    for i in range(8):
        out[i] = <uint8_t>(v >> (56 - 8 * i))
