# The media pre-check of every destination's route, the twin of spancast/routing/media.py's
# first_maybe_media (the same index for every input). Every destination runs it on every record with
# privacy off, so it reads slots and dict entries without a Python call.

from cpython.unicode cimport PyUnicode_Tailmatch

cdef Py_ssize_t F_MESSAGES_MD = GEN["messages"]
cdef str MD_CONTENT = "content", MD_AUDIO = "audio", MD_DATA = "data:"


cdef bint md_plain(PyObject* messages) except -1:
    """True when no message can hold media: every content a plain string (not a data: URI) or absent, no audio."""
    cdef Py_ssize_t i
    cdef PyObject* m
    cdef PyObject* c
    if Py_TYPE(<object>messages) != <PyTypeObject*>list:
        return False
    for i in range(PyList_GET_SIZE(<object>messages)):
        m = <PyObject*>PyList_GET_ITEM(<object>messages, i)
        if Py_TYPE(<object>m) != <PyTypeObject*>dict:
            return False
        c = PyDict_GetItem(<object>m, MD_CONTENT)
        if c != NULL and <object>c is not None:
            if Py_TYPE(<object>c) != <PyTypeObject*>str:
                return False
            if PyUnicode_Tailmatch(<object>c, MD_DATA, 0, 5, -1):
                return False
        if PyDict_GetItem(<object>m, MD_AUDIO) != NULL:
            return False
    return True


def first_maybe_media(list records, Py_ssize_t start=0):
    """The index of the first record from start whose messages may hold media (-1: none may)."""
    cdef Py_ssize_t i
    cdef PyObject* messages
    for i in range(max(start, 0), PyList_GET_SIZE(records)):
        record = <object>PyList_GET_ITEM(records, i)
        if not is_instance(record, GEN_TYPE):
            continue  # not a record: the encoder refuses it, content and all
        messages = fraw(record, F_MESSAGES_MD)
        if messages == NULL or <object>messages is None:
            continue
        if not md_plain(messages):
            return i
    return -1


cdef Py_ssize_t F_GEN_COST = GEN["generation_cost"], F_GEN_IDENTITY = GEN["generation_identity"]
cdef Py_ssize_t F_GEN_CONTEXT = GEN["generation_context"]


def first_with_groups(list records, Py_ssize_t start=0):
    """The index of the first record from start that holds a generation_* group (-1: none does): the twin
    of spancast.routing._first_with_groups."""
    cdef Py_ssize_t i
    cdef PyObject* v
    for i in range(max(start, 0), PyList_GET_SIZE(records)):
        record = <object>PyList_GET_ITEM(records, i)
        if not is_instance(record, GEN_TYPE):
            continue
        for off in (F_GEN_COST, F_GEN_IDENTITY, F_GEN_CONTEXT):
            v = fraw(record, off)
            if v != NULL and <object>v is not None:
                return i
    return -1
