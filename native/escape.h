/* Where the next byte that JSON must escape is (", \ or a control byte below 0x20).
 * SSE2 (baseline on x86-64) checks 16 bytes per step; other CPUs take the scalar loop. */
#ifndef SPANCAST_ESCAPE_H
#define SPANCAST_ESCAPE_H
#include <stddef.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline int spancast_must_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\';
}

static inline size_t spancast_safe_run(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i top_ctrl = _mm_set1_epi8(0x1F);
#define SPANCAST_HITS(v) _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8((v), top_ctrl), (v)), \
                                      _mm_or_si128(_mm_cmpeq_epi8((v), quote), _mm_cmpeq_epi8((v), bslash)))
    /* 64 bytes a step while nothing needs escaping (the common case: prose and code) */
    for (; i + 64 <= n; i += 64) {
        __m128i a = SPANCAST_HITS(_mm_loadu_si128((const __m128i *)(p + i)));
        __m128i b = SPANCAST_HITS(_mm_loadu_si128((const __m128i *)(p + i + 16)));
        __m128i c = SPANCAST_HITS(_mm_loadu_si128((const __m128i *)(p + i + 32)));
        __m128i d = SPANCAST_HITS(_mm_loadu_si128((const __m128i *)(p + i + 48)));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))))
            break;
    }
    for (; i + 16 <= n; i += 16) {
        int mask = _mm_movemask_epi8(SPANCAST_HITS(_mm_loadu_si128((const __m128i *)(p + i))));
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
    }
#undef SPANCAST_HITS
#endif
    for (; i < n; i++)
        if (spancast_must_escape(p[i]))
            return i;
    return n;
}
/* Copy src to dst up to the first byte that needs escaping and return how many bytes that is.
 * Copies whole 16-byte blocks while it scans (one pass over the text); never writes past n. */
static inline size_t spancast_copy_safe(char *dst, const char *src, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i top_ctrl = _mm_set1_epi8(0x1F);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, top_ctrl), v),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        _mm_storeu_si128((__m128i *)(dst + i), v);
        int mask = _mm_movemask_epi8(hit);
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
    }
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
