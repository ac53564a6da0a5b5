/* The growable byte buffer the encoder writes into, and its smallest writers, in C so that the
 * compiler inlines them everywhere (Cython's error-path code kept them out of line). */
#ifndef SPANCAST_BUF_H
#define SPANCAST_BUF_H
#include <Python.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} spancast_buf;

static int spancast_buf_grow(spancast_buf *b, Py_ssize_t extra) {
    Py_ssize_t need = b->len + extra;
    Py_ssize_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < need)
        cap *= 2;
    char *p = (char *)PyMem_Realloc(b->data, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline int spancast_buf_need(spancast_buf *b, Py_ssize_t extra) {
    if (b->len + extra > b->cap)
        return spancast_buf_grow(b, extra);
    return 0;
}

static inline int spancast_put_char(spancast_buf *b, char c) {
    if (b->len + 1 > b->cap && spancast_buf_grow(b, 1) < 0)
        return -1;
    b->data[b->len++] = c;
    return 0;
}

static inline int spancast_put_lit(spancast_buf *b, const char *s, Py_ssize_t n) {
    if (b->len + n > b->cap && spancast_buf_grow(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

/* For a string literal the length folds to a constant once this is inlined. */
static inline int spancast_put_cstr(spancast_buf *b, const char *s) {
    return spancast_put_lit(b, s, (Py_ssize_t)strlen(s));
}
#endif
