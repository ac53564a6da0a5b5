/* Where the next byte that JSON must escape is (", \ or a control byte below 0x20).
 * SSE2 (baseline on x86-64) checks 16 bytes per step; other CPUs take the scalar loop. */
#ifndef SPANCAST_ESCAPE_H
#define SPANCAST_ESCAPE_H
#include <stddef.h>
#include <stdint.h>
#include <Python.h>
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
static inline __attribute__((always_inline)) size_t spancast_copy_safe(char *dst, const char *src, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i top_ctrl = _mm_set1_epi8(0x1F);
#define SPANCAST_HITS(v) _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8((v), top_ctrl), (v)), \
                                      _mm_or_si128(_mm_cmpeq_epi8((v), quote), _mm_cmpeq_epi8((v), bslash)))
    for (; i + 32 <= n; i += 32) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i w = _mm_loadu_si128((const __m128i *)(src + i + 16));
        _mm_storeu_si128((__m128i *)(dst + i), v);
        _mm_storeu_si128((__m128i *)(dst + i + 16), w);
        unsigned mask = (unsigned)_mm_movemask_epi8(SPANCAST_HITS(v))
                      | ((unsigned)_mm_movemask_epi8(SPANCAST_HITS(w)) << 16);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
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
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define SPANCAST_HAVE_AVX2_PATH 1
static int spancast_use_avx2 = 0;
static void spancast_detect_cpu(void) {
    __builtin_cpu_init();
    spancast_use_avx2 = __builtin_cpu_supports("avx2");
}
#else
#define SPANCAST_HAVE_AVX2_PATH 0
static const int spancast_use_avx2 = 0;
static void spancast_detect_cpu(void) {}
#endif

static const char spancast_short_esc[32] = "uuuuuuuubtnufruuuuuuuuuuuuuuuuuu";
static const char spancast_hex[16] = {'0','1','2','3','4','5','6','7','8','9','a','b','c','d','e','f'};

/* Escape src[*pos..n) into dst (room: cap bytes) for the inside of a JSON string; level 2 escapes
 * the result again (JSON text that is itself a string value in an OTLP JSON document). Returns the
 * bytes written and advances *pos; stops early when room runs short (the caller grows dst and calls
 * again). Escapes are written inside the block loop, so prose with a newline every line costs little
 * more than plain text. Defined once per vector width (W bytes, BLOCK_MASK(offset_in, offset_out)
 * stores a block and returns its bit mask of bytes to escape). */
#define SPANCAST_ESCAPE_BODY(W, BLOCK_MASK)                                                 \
    Py_ssize_t i = *pos, o = 0;                                                             \
    unsigned c;                                                                             \
    while (i < n) {                                                                         \
        /* the rest copied as is, a block stored whole past it, and one escape */           \
        if (cap - o < (n - i) + W + 16)                                                     \
            break;                                                                          \
        for (;;) {                                                                          \
            if (i + W > n) {                                                                \
                size_t run = spancast_copy_safe(dst + o, src + i, (size_t)(n - i));         \
                i += (Py_ssize_t)run;                                                       \
                o += (Py_ssize_t)run;                                                       \
                break;                                                                      \
            }                                                                               \
            unsigned long long mask = BLOCK_MASK(i, o);                                     \
            if (mask) {                                                                     \
                unsigned j = (unsigned)__builtin_ctzll(mask);                               \
                i += j;                                                                     \
                o += j;                                                                     \
                break;                                                                      \
            }                                                                               \
            i += W;                                                                         \
            o += W;                                                                         \
        }                                                                                   \
        if (i >= n)                                                                         \
            break;                                                                          \
        c = (unsigned char)src[i++];                                                        \
        dst[o++] = '\\';                                                                    \
        if (level == 2)                                                                     \
            dst[o++] = '\\';                                                                \
        if (c == '"' || c == '\\') {                                                        \
            if (level == 2)                                                                 \
                dst[o++] = '\\';                                                            \
            dst[o++] = (char)c;                                                             \
        } else if (spancast_short_esc[c] != 'u') {                                          \
            dst[o++] = spancast_short_esc[c];                                               \
        } else {                                                                            \
            dst[o++] = 'u';                                                                 \
            dst[o++] = '0';                                                                 \
            dst[o++] = '0';                                                                 \
            dst[o++] = spancast_hex[c >> 4];                                                \
            dst[o++] = spancast_hex[c & 0xF];                                               \
        }                                                                                   \
    }                                                                                       \
    *pos = i;                                                                               \
    return o;

#if defined(__SSE2__)
#define SPANCAST_MASK16(IN, OUT)                                                            \
    ({ __m128i v_ = _mm_loadu_si128((const __m128i *)(src + (IN)));                        \
       _mm_storeu_si128((__m128i *)(dst + (OUT)), v_);                                      \
       (unsigned long long)(unsigned)_mm_movemask_epi8(                                     \
           _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v_, _mm_set1_epi8(0x1F)), v_),          \
                        _mm_or_si128(_mm_cmpeq_epi8(v_, _mm_set1_epi8('"')),                \
                                     _mm_cmpeq_epi8(v_, _mm_set1_epi8('\\'))))); })
#else
#define SPANCAST_MASK16(IN, OUT)                                                            \
    ({ unsigned long long m_ = 0; int k_;                                                   \
       for (k_ = 0; k_ < 16; k_++) {                                                        \
           unsigned char b_ = (unsigned char)src[(IN) + k_];                                \
           dst[(OUT) + k_] = (char)b_;                                                      \
           if (spancast_must_escape(b_)) m_ |= 1ull << k_;                                  \
       }                                                                                    \
       m_; })
#endif

static Py_ssize_t spancast_escape_sse2(char *dst, Py_ssize_t cap, const char *src, Py_ssize_t n,
                                       Py_ssize_t *pos, int level) {
    SPANCAST_ESCAPE_BODY(16, SPANCAST_MASK16)
}

#if SPANCAST_HAVE_AVX2_PATH
#define SPANCAST_MASK32(IN, OUT)                                                            \
    ({ __m256i v_ = _mm256_loadu_si256((const __m256i *)(src + (IN)));                     \
       _mm256_storeu_si256((__m256i *)(dst + (OUT)), v_);                                   \
       (unsigned long long)(unsigned)_mm256_movemask_epi8(                                  \
           _mm256_or_si256(_mm256_cmpeq_epi8(_mm256_min_epu8(v_, _mm256_set1_epi8(0x1F)), v_), \
                           _mm256_or_si256(_mm256_cmpeq_epi8(v_, _mm256_set1_epi8('"')),    \
                                           _mm256_cmpeq_epi8(v_, _mm256_set1_epi8('\\'))))); })

__attribute__((target("avx2"))) static Py_ssize_t spancast_escape_avx2(
    char *dst, Py_ssize_t cap, const char *src, Py_ssize_t n, Py_ssize_t *pos, int level) {
    SPANCAST_ESCAPE_BODY(32, SPANCAST_MASK32)
}
#endif

static inline Py_ssize_t spancast_escape(char *dst, Py_ssize_t cap, const char *src, Py_ssize_t n,
                                         Py_ssize_t *pos, int level) {
#if SPANCAST_HAVE_AVX2_PATH
    if (spancast_use_avx2)
        return spancast_escape_avx2(dst, cap, src, n, pos, level);
#endif
    return spancast_escape_sse2(dst, cap, src, n, pos, level);
}
#endif
