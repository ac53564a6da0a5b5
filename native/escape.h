/* Where the next byte that JSON must escape is (", \ or a control byte below 0x20).
 * SSE2 (baseline on x86-64) checks 16 bytes per step; other CPUs take the scalar loop. */
#ifndef SPANCAST_ESCAPE_H
#define SPANCAST_ESCAPE_H
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline int spancast_must_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\';
}

/* Copy src to dst up to the first byte that needs escaping and return how many bytes that is.
 * Copies whole 16-byte blocks while it scans (one pass over the text). dst must have 16 bytes of
 * room past n: the last, partial block is loaded and stored whole when that load cannot cross
 * into another page (it cannot fault), and only its first n - i bytes count. */
static inline size_t spancast_copy_safe(char *dst, const char *src, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i top_ctrl = _mm_set1_epi8(0x1F);
#define SPANCAST_HITS(v) _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8((v), top_ctrl), (v)), \
                                      _mm_or_si128(_mm_cmpeq_epi8((v), quote), _mm_cmpeq_epi8((v), bslash)))
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), v);
        int mask = _mm_movemask_epi8(SPANCAST_HITS(v));
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
    }
    if (i < n && (((uintptr_t)(src + i)) & 4095) <= 4096 - 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), v);
        unsigned mask = (unsigned)_mm_movemask_epi8(SPANCAST_HITS(v)) & ((1u << (n - i)) - 1u);
        return mask ? i + (size_t)__builtin_ctz(mask) : n;
    }
#undef SPANCAST_HITS
#endif
    for (; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (spancast_must_escape(c))
            return i;
        dst[i] = (char)c;
    }
    return n;
}
#endif
