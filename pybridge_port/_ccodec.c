/* C accelerator for pybridge_port/codec.py.
 *
 * codec.py is the reference: this module replaces Decoder._decode_term and
 * Encoder._encode_into with loops that give the same results, call the same
 * hooks in the same order, and raise the same exceptions. It does so by
 * mirroring the Python loops step for step (the same explicit stacks, the same
 * offsets and tags at every point where Python code may raise) and by calling
 * back into codec.py for everything rare:
 *
 * - decoding: tags other than the common ones (funs, pids, refs, ports, bit
 *   binaries, STRING_EXT, FLOAT_EXT, ...) go to the decoder's own leaf table;
 *   uncached atoms go to codec._new_atom; improper lists to _finish_list; a
 *   map whose keys do not hash to _finish_map; error messages are built by
 *   _short, _bad and _tag_name. The built-in binary hook text_or_bytes and
 *   struct_hook's test for the `__struct__` key are done here.
 * - encoding: every type that has a handler (overrides, default, subclasses,
 *   the Erlang-only types, bytearray, memoryview) calls that handler with an
 *   `append` that writes into the same output; an object that is not `bytes`
 *   is kept and copied at the end, as b"".join does in codec.py.
 *
 * No recursion: both directions keep their stacks on the heap, so nesting is
 * limited by max_depth and by the input alone. Every read is bounds-checked
 * against the input size before it is made.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NEW_FLOAT_EXT 70
#define NEW_PID_EXT 88
#define SMALL_INTEGER_EXT 97
#define INTEGER_EXT 98
#define ATOM_EXT 100
#define SMALL_TUPLE_EXT 104
#define LARGE_TUPLE_EXT 105
#define NIL_EXT 106
#define LIST_EXT 108
#define BINARY_EXT 109
#define SMALL_BIG_EXT 110
#define LARGE_BIG_EXT 111
/* codec.ERLANG_MAX_BIG_BYTES: the largest integer binary_to_term accepts (64-bit VM). */
#define ERLANG_MAX_BIG_BYTES 4194296
#define SMALL_ATOM_EXT 115
#define MAP_EXT 116
#define ATOM_UTF8_EXT 118
#define SMALL_ATOM_UTF8_EXT 119

#define U32_MAX_COUNT 0xFFFFFFFFULL
/* Whether a size fits ETF's 32-bit length fields. */
#define FITS_U32(n) ((unsigned long long)(n) <= U32_MAX_COUNT)

/* -- Names from codec.py, given once by setup() ------------------------- */

static PyObject *CodecError, *IncompleteData, *MalformedMap, *StructError;
static PyObject *short_fn, *bad_fn, *tag_name_fn, *raised_here_fn, *new_atom_fn;
static PyObject *finish_map_fn, *finish_list_fn;
static PyObject *atom_bytes_fn, *encode_str_fn, *encode_bytes_fn, *AtomType;
static PyObject *PidType, *plain_atoms; /* types.Pid and codec._PLAIN_ATOMS */
static PyObject *str_name, *str_resolve, *str_node, *str_id, *str_serial, *str_creation;

static int
check_setup(void)
{
    if (CodecError == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pybridge_port._ccodec.setup() has not been called");
        return -1;
    }
    return 0;
}

static PyObject *
setup(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {
        "CodecError", "IncompleteData", "MalformedMap", "StructError", "short", "bad", "tag_name",
        "raised_here", "new_atom", "finish_map", "finish_list", "atom_bytes", "encode_str",
        "encode_bytes", "Atom", "Pid", "plain_atoms", NULL,
    };
    PyObject *o[17];
    PyObject **targets[17] = {
        &CodecError, &IncompleteData, &MalformedMap, &StructError, &short_fn, &bad_fn, &tag_name_fn,
        &raised_here_fn, &new_atom_fn, &finish_map_fn, &finish_list_fn, &atom_bytes_fn, &encode_str_fn,
        &encode_bytes_fn, &AtomType, &PidType, &plain_atoms,
    };
    (void)module;
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "setup() takes keyword arguments only");
        return NULL;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOOOOOOOOOOOOO", kwlist, &o[0], &o[1], &o[2], &o[3],
                                     &o[4], &o[5], &o[6], &o[7], &o[8], &o[9], &o[10], &o[11], &o[12],
                                     &o[13], &o[14], &o[15], &o[16])) {
        return NULL;
    }
    if (!PyType_Check(o[0]) || !PyType_Check(o[1]) || !PyType_Check(o[2]) || !PyType_Check(o[3])
        || !PyType_Check(o[14]) || !PyType_Check(o[15]) || !PyDict_CheckExact(o[16])) {
        PyErr_SetString(PyExc_TypeError, "setup(): exception classes, Atom and Pid must be types, plain_atoms a dict");
        return NULL;
    }
    for (int i = 0; i < 17; i++) {
        Py_INCREF(o[i]);
        Py_XSETREF(*targets[i], o[i]);
    }
    Py_RETURN_NONE;
}

/* -- Raising the codec's errors ------------------------------------------- */

static void
raise_instance(PyObject *exc)
{
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

/* codec._short(tag, offset, data): IncompleteData, "truncated input: ..." */
static void
raise_short(int tag, Py_ssize_t offset, PyObject *data)
{
    raise_instance(PyObject_CallFunction(short_fn, "inO", tag, offset, data));
}

/* codec._bad(what, tag, offset); steals `what`. */
static void
raise_bad(PyObject *what, int tag, Py_ssize_t offset)
{
    if (what == NULL) {
        return;
    }
    raise_instance(PyObject_CallFunction(bad_fn, "Oin", what, tag, offset));
    Py_DECREF(what);
}

/* cls(message, offset, tag); steals `message`; tag < 0 means None. */
static void
raise_codec(PyObject *cls, PyObject *message, Py_ssize_t offset, int tag)
{
    if (message == NULL) {
        return;
    }
    if (tag < 0) {
        raise_instance(PyObject_CallFunction(cls, "OnO", message, offset, Py_None));
    }
    else {
        raise_instance(PyObject_CallFunction(cls, "Oni", message, offset, tag));
    }
    Py_DECREF(message);
}

static void
raise_expected(Py_ssize_t pos)
{
    raise_codec(IncompleteData,
                PyUnicode_FromFormat("truncated input: a term was expected at offset %zd, where the data ends", pos),
                pos, -1);
}

static PyObject *
tag_name(int tag)
{
    PyObject *name = PyObject_CallFunction(tag_name_fn, "i", tag);
    if (name != NULL && !PyUnicode_Check(name)) {
        Py_DECREF(name);
        PyErr_SetString(PyExc_TypeError, "_tag_name() must return a str");
        return NULL;
    }
    return name;
}

static inline uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Whether `length` bytes (read from the input, so untrusted) fit in the `left` that remain. */
static inline int
fits(unsigned long long length, Py_ssize_t left)
{
    return left >= 0 && length <= (unsigned long long)left;
}

static inline uint16_t
be16(const unsigned char *p)
{
    return (uint16_t)(((uint16_t)p[0] << 8) | (uint16_t)p[1]);
}

/* A non-negative Python int as a Py_ssize_t, saturating (limits beyond it can never be reached). */
static int
limit_from(PyObject *obj, Py_ssize_t *out, const char *what)
{
    int overflow = 0;
    long long value;
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int", what);
        return -1;
    }
    value = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow < 0 || (overflow == 0 && value < 0)) {
        PyErr_Format(PyExc_ValueError, "%s must be non-negative", what);
        return -1;
    }
    if (overflow > 0 || value > (long long)PY_SSIZE_T_MAX) {
        *out = PY_SSIZE_T_MAX;
    }
    else {
        *out = (Py_ssize_t)value;
    }
    return 0;
}

/* ======================================================================== */
/* Decoding                                                                  */
/* ======================================================================== */

/* Map keys decoded as text lately, in slots chosen by a hash of their bytes:
 * maps of the same shape repeat their keys, and a str taken from here is not
 * decoded, allocated nor hashed again (10,000 maps with three string keys
 * decode about 1.6 times faster; when no key repeats, it costs about 6% more
 * instructions). Only short ASCII keys, so that a slot is tested with one
 * memcmp; values rarely repeat, so they do not pay for the test. */
#define KEY_CACHE_SIZE 256 /* slots */
#define KEY_CACHE_MAX_LENGTH 16

typedef struct {
    PyObject_HEAD
    PyObject *leaves;       /* the Decoder's list of 256 leaf functions or None */
    PyObject *utf8_atoms;   /* dict: raw name bytes -> value, shared with codec.py */
    PyObject *latin1_atoms;
    PyObject *make_atom;
    PyObject *binary_hook;  /* NULL when None (or text_binaries) */
    PyObject *map_hook;     /* NULL when None; the struct_hook when structs_only */
    PyObject *struct_key;   /* what the atom __struct__ decodes to (any value) when structs_only */
    int structs_only;       /* map_hook is only for the maps that have struct_key */
    int text_binaries;      /* binary_hook is codec.text_or_bytes: done here, without calling it */
    PyObject *key_cache[KEY_CACHE_SIZE]; /* NULL or an ASCII str (text_binaries only) */
    PyObject *max_depth_obj;
    PyObject *max_bignum_obj;
    Py_ssize_t max_depth;
    Py_ssize_t max_bignum_bytes;
} DecoderCore;

/* Container kinds, as in codec.py; K_TOP is the top level. */
enum { K_TOP = 0, K_TUPLE = 1, K_MAP = 2, K_LIST = 3 };

typedef struct {
    int kind;
    Py_ssize_t remaining;
    Py_ssize_t base;   /* where its items start on the value stack */
    Py_ssize_t opened; /* offset of its tag */
} DFrame;

/* The items of every open container, one after the other (codec.py keeps one
 * list per container; one array for all of them allocates only for the
 * values actually decoded, whatever counts the headers claim). */
typedef struct {
    PyObject **values;
    Py_ssize_t nvalues, cvalues;
    DFrame *frames;
    Py_ssize_t nframes, cframes;
} DStacks;

static int
push_value(DStacks *st, PyObject *value) /* steals value */
{
    if (st->nvalues == st->cvalues) {
        Py_ssize_t capacity = st->cvalues ? st->cvalues * 2 : 32;
        PyObject **grown;
        if (st->cvalues > PY_SSIZE_T_MAX / (Py_ssize_t)(2 * sizeof(PyObject *))) {
            Py_DECREF(value);
            PyErr_NoMemory();
            return -1;
        }
        grown = PyMem_Realloc(st->values, (size_t)capacity * sizeof(PyObject *));
        if (grown == NULL) {
            Py_DECREF(value);
            PyErr_NoMemory();
            return -1;
        }
        st->values = grown;
        st->cvalues = capacity;
    }
    st->values[st->nvalues++] = value;
    return 0;
}

static int
push_frame(DStacks *st, int kind, Py_ssize_t remaining, Py_ssize_t base, Py_ssize_t opened)
{
    if (st->nframes == st->cframes) {
        Py_ssize_t capacity = st->cframes ? st->cframes * 2 : 16;
        DFrame *grown;
        if (st->cframes > PY_SSIZE_T_MAX / (Py_ssize_t)(2 * sizeof(DFrame))) {
            PyErr_NoMemory();
            return -1;
        }
        grown = PyMem_Realloc(st->frames, (size_t)capacity * sizeof(DFrame));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        st->frames = grown;
        st->cframes = capacity;
    }
    st->frames[st->nframes].kind = kind;
    st->frames[st->nframes].remaining = remaining;
    st->frames[st->nframes].base = base;
    st->frames[st->nframes].opened = opened;
    st->nframes++;
    return 0;
}

static void
clear_stacks(DStacks *st)
{
    for (Py_ssize_t i = 0; i < st->nvalues; i++) {
        Py_DECREF(st->values[i]);
    }
    PyMem_Free(st->values);
    PyMem_Free(st->frames);
    st->values = NULL;
    st->frames = NULL;
    st->nvalues = st->cvalues = st->nframes = st->cframes = 0;
}

/* codec.text_or_bytes on `length` bytes at `s`: a str if they are valid UTF-8,
 * else bytes. `key`: they are a map key, looked up in (and added to) the key cache. */
static PyObject *
decode_text(DecoderCore *self, const char *s, Py_ssize_t length, int key)
{
    PyObject **slot = NULL;
    PyObject *text;
    if (key && length <= KEY_CACHE_MAX_LENGTH) {
        size_t hash = (size_t)length;
        for (Py_ssize_t i = 0; i < length; i++) {
            hash = hash * 31 + (unsigned char)s[i];
        }
        slot = &self->key_cache[hash % KEY_CACHE_SIZE];
        if (*slot != NULL && PyUnicode_GET_LENGTH(*slot) == length
            && memcmp(PyUnicode_1BYTE_DATA(*slot), s, (size_t)length) == 0) {
            return Py_NewRef(*slot);
        }
    }
    text = PyUnicode_DecodeUTF8(s, length, NULL);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            return NULL;
        }
        PyErr_Clear();
        return PyBytes_FromStringAndSize(s, length);
    }
    if (slot != NULL && PyUnicode_IS_ASCII(text)) { /* its characters are its bytes, as the test above needs */
        Py_XSETREF(*slot, Py_NewRef(text));
    }
    return text;
}

/* codec._finish_map (then the map hook) on the items from `base` up. */
static PyObject *
finish_map(DecoderCore *self, DStacks *st, Py_ssize_t base)
{
    Py_ssize_t n = st->nvalues - base;
    PyObject **items = st->values + base;
    PyObject *dict = PyDict_New();
    if (dict == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i + 1 < n; i += 2) {
        if (PyDict_SetItem(dict, items[i], items[i + 1]) < 0) {
            PyObject *list;
            Py_DECREF(dict);
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
                return NULL;
            }
            /* An unhashable key: codec._finish_map finds it and says which. */
            PyErr_Clear();
            list = PyList_New(n);
            if (list == NULL) {
                return NULL;
            }
            for (Py_ssize_t j = 0; j < n; j++) {
                Py_INCREF(items[j]);
                PyList_SET_ITEM(list, j, items[j]);
            }
            dict = PyObject_CallOneArg(finish_map_fn, list);
            Py_DECREF(list);
            if (dict == NULL) {
                return NULL;
            }
            goto built;
        }
    }
    if (2 * PyDict_GET_SIZE(dict) != n) {
        Py_DECREF(dict);
        PyErr_SetString(MalformedMap, "it has keys that are equal in Python (e.g. 1 and 1.0, or 1 and true)");
        return NULL;
    }
built:
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(items[i]);
    }
    st->nvalues = base;
    if (self->map_hook != NULL) {
        PyObject *result;
        if (self->structs_only) {
            int found = PyDict_Contains(dict, self->struct_key);
            if (found < 0) {
                Py_DECREF(dict);
                return NULL;
            }
            if (!found) {
                return dict; /* not a struct: no hook */
            }
        }
        result = PyObject_CallOneArg(self->map_hook, dict);
        Py_DECREF(dict);
        return result;
    }
    return dict;
}

/* codec._finish_list: the elements then the tail, from `base` up. */
static PyObject *
finish_list(DStacks *st, Py_ssize_t base)
{
    Py_ssize_t n = st->nvalues - base;
    PyObject **items = st->values + base;
    PyObject *tail = items[n - 1];
    PyObject *list;
    if (PyList_CheckExact(tail)) { /* NIL_EXT (or a list decoded as the tail) */
        list = PyList_New(n - 1);
        if (list == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < n - 1; i++) {
            PyList_SET_ITEM(list, i, items[i]);
        }
        st->nvalues = base; /* the elements now belong to the list, the tail to us */
        if (PyList_GET_SIZE(tail) && PyList_SetSlice(list, n - 1, n - 1, tail) < 0) {
            Py_DECREF(tail);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(tail);
        return list;
    }
    /* An improper list (or a bare tail): rare, codec.py builds it. */
    list = PyList_New(n);
    if (list == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyList_SET_ITEM(list, i, items[i]);
    }
    st->nvalues = base;
    tail = PyObject_CallOneArg(finish_list_fn, list);
    Py_DECREF(list);
    return tail;
}

static PyObject *
finish_container(DecoderCore *self, DStacks *st, int kind, Py_ssize_t base)
{
    if (kind == K_TUPLE) {
        Py_ssize_t n = st->nvalues - base;
        PyObject *tuple = PyTuple_New(n);
        if (tuple == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyTuple_SET_ITEM(tuple, i, st->values[base + i]);
        }
        st->nvalues = base;
        return tuple;
    }
    if (kind == K_MAP) {
        return finish_map(self, st, base);
    }
    return finish_list(st, base);
}

/* What codec.py's `except` clauses around its loop do with an exception:
 * an IndexError or struct.error raised by codec.py's own code (a leaf, or a
 * builtin called from it) becomes IncompleteData; a _MalformedMap becomes a
 * CodecError naming the map's offset. */
static void
translate_error(PyObject *data, Py_ssize_t size, Py_ssize_t pos, int tag, Py_ssize_t opened)
{
    PyObject *type, *value, *tb;
    if (PyErr_ExceptionMatches(PyExc_IndexError) || PyErr_ExceptionMatches(StructError)) {
        PyObject *answer;
        int here;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL) {
            PyException_SetTraceback(value, tb);
        }
        answer = PyObject_CallOneArg(raised_here_fn, value);
        here = answer == NULL ? -1 : PyObject_IsTrue(answer);
        Py_XDECREF(answer);
        if (here <= 0) {
            if (here == 0) {
                PyErr_Restore(type, value, tb);
            }
            else {
                Py_XDECREF(type);
                Py_XDECREF(value);
                Py_XDECREF(tb);
            }
            return;
        }
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        if (pos >= size) {
            raise_expected(pos);
        }
        else {
            raise_short(tag, pos, data);
        }
    }
    else if (PyErr_ExceptionMatches(MalformedMap)) {
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        raise_codec(CodecError, PyUnicode_FromFormat("MAP_EXT at offset %zd: %S", opened, value), opened, MAP_EXT);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
}

/* Pid.from_wire(node, id, serial, creation): the fields set as object.__setattr__ does. */
static PyObject *
new_pid(PyObject *node, const unsigned char *p)
{
    PyTypeObject *type = (PyTypeObject *)PidType;
    PyObject *names[4] = {str_node, str_id, str_serial, str_creation};
    PyObject *pid = type->tp_alloc(type, 0);
    if (pid == NULL) {
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        PyObject *field = i == 0 ? Py_NewRef(node) : PyLong_FromUnsignedLong(be32(p + 4 * (i - 1)));
        int failed = field == NULL || PyObject_GenericSetAttr(pid, names[i], field) < 0;
        Py_XDECREF(field);
        if (failed) {
            Py_DECREF(pid);
            return NULL;
        }
    }
    return pid;
}

/* Decoder._decode_term: one term from `pos`; returns (value, offset past it). */
static PyObject *
decode_term(DecoderCore *self, PyObject *data, Py_ssize_t pos)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    const Py_ssize_t size = PyBytes_GET_SIZE(data);
    DStacks st = {NULL, 0, 0, NULL, 0, 0};
    int kind = K_TOP;
    Py_ssize_t remaining = 0, base = 0, opened = 0;
    int tag = -1;
    PyObject *value = NULL;
    PyObject *result;

    for (;;) {
        Py_ssize_t first;
        if (pos >= size) {
            raise_expected(pos);
            goto error;
        }
        tag = p[pos];
        switch (tag) {
        case SMALL_INTEGER_EXT:
            if (size - pos < 2) {
                goto truncated;
            }
            value = PyLong_FromLong(p[pos + 1]);
            if (value == NULL) {
                goto error;
            }
            pos += 2;
            break;

        case INTEGER_EXT:
            if (size - pos < 5) {
                goto truncated;
            }
            value = PyLong_FromLong((long)(int32_t)be32(p + pos + 1));
            if (value == NULL) {
                goto error;
            }
            pos += 5;
            break;

        case NEW_FLOAT_EXT: {
            double number;
            if (size - pos < 9) {
                goto truncated;
            }
            number = PyFloat_Unpack8((const char *)p + pos + 1, 0);
            if (number == -1.0 && PyErr_Occurred()) {
                goto error;
            }
            value = PyFloat_FromDouble(number);
            if (value == NULL) {
                goto error;
            }
            pos += 9;
            break;
        }

        case NIL_EXT:
            value = PyList_New(0);
            if (value == NULL) {
                goto error;
            }
            pos += 1;
            break;

        case BINARY_EXT: {
            Py_ssize_t length;
            if (size - pos < 5) {
                goto truncated;
            }
            first = pos + 5;
            if (!fits(be32(p + pos + 1), size - first)) {
                goto truncated;
            }
            length = (Py_ssize_t)be32(p + pos + 1);
            if (self->text_binaries) {
                /* A key is an even item of the open map. */
                value = decode_text(self, (const char *)p + first, length,
                                    kind == K_MAP && (st.nvalues - base) % 2 == 0);
            }
            else {
                value = PyBytes_FromStringAndSize((const char *)p + first, length);
            }
            if (value == NULL) {
                goto error;
            }
            if (self->binary_hook != NULL) {
                PyObject *hooked = PyObject_CallOneArg(self->binary_hook, value);
                Py_SETREF(value, hooked);
                if (value == NULL) {
                    goto error;
                }
            }
            pos = first + length;
            break;
        }

        case SMALL_ATOM_UTF8_EXT:
        case ATOM_EXT:
        case ATOM_UTF8_EXT:
        case SMALL_ATOM_EXT: {
            int small = tag == SMALL_ATOM_UTF8_EXT || tag == SMALL_ATOM_EXT;
            PyObject *cache = (tag == SMALL_ATOM_UTF8_EXT || tag == ATOM_UTF8_EXT) ? self->utf8_atoms
                                                                                  : self->latin1_atoms;
            Py_ssize_t length, header = small ? 2 : 3;
            PyObject *raw;
            if (size - pos < header) {
                goto truncated;
            }
            length = small ? (Py_ssize_t)p[pos + 1] : (Py_ssize_t)be16(p + pos + 1);
            first = pos + header;
            if (!fits((unsigned long long)length, size - first)) {
                goto truncated;
            }
            raw = PyBytes_FromStringAndSize((const char *)p + first, length);
            if (raw == NULL) {
                goto error;
            }
            value = PyDict_GetItemWithError(cache, raw);
            if (value != NULL) {
                Py_INCREF(value);
            }
            else if (!PyErr_Occurred()) {
                value = PyObject_CallFunction(new_atom_fn, "OOinO", cache, raw, tag, pos, self->make_atom);
            }
            Py_DECREF(raw);
            if (value == NULL) {
                goto error;
            }
            pos = first + length;
            break;
        }

        case SMALL_BIG_EXT:
        case LARGE_BIG_EXT: {
            unsigned long long length;
            Py_ssize_t at;
            int sign;
            if (tag == SMALL_BIG_EXT) {
                if (size - pos < 2) {
                    goto truncated;
                }
                length = p[pos + 1];
                at = pos + 2;
            }
            else {
                if (size - pos < 5) {
                    goto truncated;
                }
                length = be32(p + pos + 1);
                at = pos + 5;
            }
            if (!fits(length, self->max_bignum_bytes)) {
                raise_bad(PyUnicode_FromFormat("%llu bytes is over the integer size limit (%S bytes)", length,
                                               self->max_bignum_obj),
                          tag, pos);
                goto error;
            }
            if (at >= size) {
                goto truncated;
            }
            sign = p[at];
            if (sign > 1) {
                raise_bad(PyUnicode_FromFormat("sign byte %d is neither 0 nor 1", sign), tag, pos);
                goto error;
            }
            first = at + 1;
            if (!fits(length, size - first)) {
                goto truncated;
            }
            value = _PyLong_FromByteArray(p + first, (size_t)length, 1, 0);
            if (value == NULL) {
                goto error;
            }
            if (sign) {
                Py_SETREF(value, PyNumber_Negative(value));
                if (value == NULL) {
                    goto error;
                }
            }
            pos = first + (Py_ssize_t)length;
            break;
        }

        case MAP_EXT:
        case SMALL_TUPLE_EXT:
        case LIST_EXT:
        case LARGE_TUPLE_EXT: {
            unsigned long long count;
            int new_kind;
            if (tag == SMALL_TUPLE_EXT) {
                if (size - pos < 2) {
                    goto truncated;
                }
                count = p[pos + 1];
                first = pos + 2;
                new_kind = K_TUPLE;
            }
            else {
                if (size - pos < 5) {
                    goto truncated;
                }
                count = be32(p + pos + 1);
                first = pos + 5;
                if (tag == MAP_EXT) {
                    count *= 2;
                    new_kind = K_MAP;
                }
                else if (tag == LIST_EXT) {
                    count += 1; /* the elements, then the tail */
                    new_kind = K_LIST;
                }
                else {
                    new_kind = K_TUPLE;
                }
            }
            if (count) {
                /* Each term takes at least one byte: refuse a count the data
                 * cannot hold before anything is allocated for it. */
                if (!fits(count, size - first)) {
                    PyObject *name = tag_name(tag);
                    if (name != NULL) {
                        raise_codec(IncompleteData,
                                    PyUnicode_FromFormat("truncated input: %U at offset %zd declares %llu terms "
                                                         "but only %zd bytes follow",
                                                         name, pos, count, size - first),
                                    pos, tag);
                        Py_DECREF(name);
                    }
                    goto error;
                }
                if (st.nframes >= self->max_depth) {
                    PyObject *name = tag_name(tag);
                    if (name != NULL) {
                        raise_codec(CodecError,
                                    PyUnicode_FromFormat("%U at offset %zd nests deeper than max_depth=%S", name, pos,
                                                         self->max_depth_obj),
                                    pos, tag);
                        Py_DECREF(name);
                    }
                    goto error;
                }
                if (push_frame(&st, kind, remaining, base, opened) < 0) {
                    goto error;
                }
                kind = new_kind;
                remaining = (Py_ssize_t)count;
                base = st.nvalues;
                opened = pos;
                pos = first;
                continue;
            }
            value = finish_container(self, &st, new_kind, st.nvalues); /* an empty one */
            if (value == NULL) {
                goto error;
            }
            pos = first;
            break;
        }

        case NEW_PID_EXT: {
            /* Every request carries a pid: when its node is an atom codec._read_atom
             * has read before (in codec._PLAIN_ATOMS), it is built here; else by
             * codec._new_pid, below. */
            Py_ssize_t header, length, end;
            PyObject *raw, *node;
            if (size - pos < 4) {
                goto leaf;
            }
            if (p[pos + 1] == SMALL_ATOM_UTF8_EXT || p[pos + 1] == SMALL_ATOM_EXT) {
                header = 2;
                length = p[pos + 2];
            }
            else if (p[pos + 1] == ATOM_UTF8_EXT || p[pos + 1] == ATOM_EXT) {
                header = 3;
                length = be16(p + pos + 2);
            }
            else {
                goto leaf;
            }
            end = pos + 1 + header + length; /* past the node atom */
            if (size - end < 12) {
                goto leaf;
            }
            raw = PyBytes_FromStringAndSize((const char *)p + pos + 1, header + length);
            if (raw == NULL) {
                goto error;
            }
            node = PyDict_GetItemWithError(plain_atoms, raw);
            Py_DECREF(raw);
            if (node == NULL) {
                if (PyErr_Occurred()) {
                    goto error;
                }
                goto leaf;
            }
            value = new_pid(node, p + end);
            if (value == NULL) {
                goto error;
            }
            pos = end + 12;
            break;
        }

        default:
        leaf: {
            /* A rare tag: the decoder's own leaf function, as codec.py does. */
            PyObject *leaf, *answer, *newpos;
            Py_ssize_t end;
            if (!PyList_Check(self->leaves) || tag >= PyList_GET_SIZE(self->leaves)) {
                goto truncated; /* what codec.py's leaves[tag] IndexError would give */
            }
            leaf = PyList_GET_ITEM(self->leaves, tag);
            if (leaf == Py_None) {
                raise_codec(CodecError, PyUnicode_FromFormat("unknown tag %d at offset %zd", tag, pos), pos, tag);
                goto error;
            }
            Py_INCREF(leaf);
            answer = PyObject_CallFunction(leaf, "On", data, pos + 1);
            Py_DECREF(leaf);
            if (answer == NULL) {
                goto error;
            }
            if (!PyTuple_Check(answer) || PyTuple_GET_SIZE(answer) != 2) {
                Py_DECREF(answer);
                PyErr_SetString(PyExc_SystemError, "a leaf function must return (value, offset)");
                goto error;
            }
            value = PyTuple_GET_ITEM(answer, 0);
            newpos = PyTuple_GET_ITEM(answer, 1);
            Py_INCREF(value);
            end = PyLong_AsSsize_t(newpos);
            Py_DECREF(answer);
            if (end == -1 && PyErr_Occurred()) {
                goto error;
            }
            if (end <= pos || end > size) {
                PyErr_SetString(PyExc_SystemError, "a leaf function returned an offset outside the term");
                goto error;
            }
            pos = end;
            break;
        }
        }

        /* Hand the value to the open container; close every container it completes. */
        while (kind != K_TOP) {
            if (push_value(&st, value) < 0) {
                value = NULL;
                goto error;
            }
            value = NULL;
            if (--remaining) {
                goto next_term;
            }
            value = finish_container(self, &st, kind, base);
            if (value == NULL) {
                goto error;
            }
            st.nframes--;
            kind = st.frames[st.nframes].kind;
            remaining = st.frames[st.nframes].remaining;
            base = st.frames[st.nframes].base;
            opened = st.frames[st.nframes].opened;
        }
        break;
    next_term:;
    }
    clear_stacks(&st);
    result = Py_BuildValue("(Nn)", value, pos);
    return result;

truncated:
    raise_short(tag, pos, data);
error:
    Py_XDECREF(value);
    clear_stacks(&st);
    translate_error(data, size, pos, tag, opened);
    return NULL;
}

static PyObject *
DecoderCore_decode_term(DecoderCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t pos;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "decode_term(data, pos) takes two arguments");
        return NULL;
    }
    if (!PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "decode_term() needs bytes");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (pos < 0) {
        PyErr_SetString(PyExc_ValueError, "decode_term(): negative offset");
        return NULL;
    }
    if (check_setup() < 0) {
        return NULL;
    }
    return decode_term(self, args[0], pos);
}

static PyObject *
DecoderCore_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"leaves",       "utf8_atoms", "latin1_atoms", "make_atom", "binary_hook",
                             "text_binaries", "map_hook",  "structs_only", "struct_key", "max_depth",
                             "max_bignum_bytes", NULL};
    PyObject *leaves, *utf8, *latin1, *make_atom, *binary_hook, *map_hook, *struct_key, *max_depth, *max_bignum;
    int text_binaries, structs_only;
    DecoderCore *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!O!OOpOpOOO", kwlist, &PyList_Type, &leaves, &PyDict_Type,
                                     &utf8, &PyDict_Type, &latin1, &make_atom, &binary_hook, &text_binaries,
                                     &map_hook, &structs_only, &struct_key, &max_depth, &max_bignum)) {
        return NULL;
    }
    if (PyList_GET_SIZE(leaves) != 256) {
        PyErr_SetString(PyExc_ValueError, "leaves must be a list of 256 entries");
        return NULL;
    }
    self = (DecoderCore *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (limit_from(max_depth, &self->max_depth, "max_depth") < 0
        || limit_from(max_bignum, &self->max_bignum_bytes, "max_bignum_bytes") < 0) {
        Py_DECREF(self);
        return NULL;
    }
    Py_INCREF(leaves);
    self->leaves = leaves;
    Py_INCREF(utf8);
    self->utf8_atoms = utf8;
    Py_INCREF(latin1);
    self->latin1_atoms = latin1;
    Py_INCREF(make_atom);
    self->make_atom = make_atom;
    if (binary_hook != Py_None) {
        Py_INCREF(binary_hook);
        self->binary_hook = binary_hook;
    }
    self->text_binaries = text_binaries;
    self->structs_only = structs_only;
    if (map_hook != Py_None) {
        Py_INCREF(map_hook);
        self->map_hook = map_hook;
    }
    Py_INCREF(struct_key);
    self->struct_key = struct_key;
    Py_INCREF(max_depth);
    self->max_depth_obj = max_depth;
    Py_INCREF(max_bignum);
    self->max_bignum_obj = max_bignum;
    return (PyObject *)self;
}

static int
DecoderCore_traverse(DecoderCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->leaves);
    Py_VISIT(self->utf8_atoms);
    Py_VISIT(self->latin1_atoms);
    Py_VISIT(self->make_atom);
    Py_VISIT(self->binary_hook);
    Py_VISIT(self->map_hook);
    Py_VISIT(self->struct_key);
    return 0;
}

static int
DecoderCore_clear(DecoderCore *self)
{
    Py_CLEAR(self->leaves);
    Py_CLEAR(self->utf8_atoms);
    Py_CLEAR(self->latin1_atoms);
    Py_CLEAR(self->make_atom);
    Py_CLEAR(self->binary_hook);
    Py_CLEAR(self->map_hook);
    Py_CLEAR(self->struct_key);
    for (int i = 0; i < KEY_CACHE_SIZE; i++) {
        Py_CLEAR(self->key_cache[i]);
    }
    Py_CLEAR(self->max_depth_obj);
    Py_CLEAR(self->max_bignum_obj);
    return 0;
}

static void
DecoderCore_dealloc(DecoderCore *self)
{
    PyObject_GC_UnTrack(self);
    DecoderCore_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef DecoderCore_methods[] = {
    {"decode_term", (PyCFunction)(void (*)(void))DecoderCore_decode_term, METH_FASTCALL,
     "decode_term(data: bytes, pos: int) -> (term, offset past it), as Decoder._decode_term."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DecoderCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pybridge_port._ccodec.DecoderCore",
    .tp_basicsize = sizeof(DecoderCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A Decoder's configuration, decoded from in C.",
    .tp_new = DecoderCore_new,
    .tp_traverse = (traverseproc)DecoderCore_traverse,
    .tp_clear = (inquiry)DecoderCore_clear,
    .tp_dealloc = (destructor)DecoderCore_dealloc,
    .tp_methods = DecoderCore_methods,
};

/* ======================================================================== */
/* Encoding                                                                  */
/* ======================================================================== */

/* The output: bytes written so far, plus objects appended by handlers that
 * are not bytes (bytearray, memoryview). codec.py appends those objects to a
 * list and joins at the end, so their contents are read at the end: they are
 * kept here and copied at the end too. A Python object, so that handlers can
 * be given its `append`. */
typedef struct {
    Py_ssize_t offset;
    PyObject *obj;
} Hole;

typedef struct {
    PyObject_HEAD
    char *buf;
    Py_ssize_t len, cap;
    Hole *holes;
    Py_ssize_t nholes, choles;
} Output;

static int
out_grow(Output *out, Py_ssize_t extra)
{
    Py_ssize_t need, capacity;
    char *grown;
    if (extra > PY_SSIZE_T_MAX - out->len) {
        PyErr_NoMemory();
        return -1;
    }
    need = out->len + extra;
    capacity = out->cap ? out->cap : 256;
    while (capacity < need) {
        if (capacity > PY_SSIZE_T_MAX / 2) {
            capacity = need;
            break;
        }
        capacity *= 2;
    }
    grown = PyMem_Realloc(out->buf, (size_t)capacity);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    out->buf = grown;
    out->cap = capacity;
    return 0;
}

/* Before 3.12 a str made by legacy C APIs may not be "ready" for PyUnicode_IS_ASCII. */
static inline int
str_ready(PyObject *text)
{
#if PY_VERSION_HEX < 0x030C0000
    return PyUnicode_READY(text);
#else
    (void)text;
    return 0;
#endif
}

static inline int
out_reserve(Output *out, Py_ssize_t extra)
{
    if (out->cap - out->len >= extra) {
        return 0;
    }
    return out_grow(out, extra);
}

static inline int
out_write(Output *out, const void *src, Py_ssize_t n)
{
    if (out_reserve(out, n) < 0) {
        return -1;
    }
    memcpy(out->buf + out->len, src, (size_t)n);
    out->len += n;
    return 0;
}

static inline void
put_u8(Output *out, unsigned int v)
{
    out->buf[out->len++] = (char)(unsigned char)v;
}

static inline void
put_u32(Output *out, uint32_t v)
{
    unsigned char *q = (unsigned char *)out->buf + out->len;
    q[0] = (unsigned char)(v >> 24);
    q[1] = (unsigned char)(v >> 16);
    q[2] = (unsigned char)(v >> 8);
    q[3] = (unsigned char)v;
    out->len += 4;
}

static int
out_append_object(Output *out, PyObject *obj)
{
    if (PyBytes_Check(obj)) {
        return out_write(out, PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj));
    }
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError, "expected a bytes-like object, %.80s found", Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (out->nholes == out->choles) {
        Py_ssize_t capacity = out->choles ? out->choles * 2 : 8;
        Hole *grown;
        if (out->choles > PY_SSIZE_T_MAX / (Py_ssize_t)(2 * sizeof(Hole))) {
            PyErr_NoMemory();
            return -1;
        }
        grown = PyMem_Realloc(out->holes, (size_t)capacity * sizeof(Hole));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        out->holes = grown;
        out->choles = capacity;
    }
    Py_INCREF(obj);
    out->holes[out->nholes].offset = out->len;
    out->holes[out->nholes].obj = obj;
    out->nholes++;
    return 0;
}

/* b"".join of everything appended. */
static PyObject *
out_finish(Output *out)
{
    Py_buffer *views;
    Py_ssize_t total = out->len, done = 0, i;
    PyObject *result = NULL;
    char *dst;
    if (out->nholes == 0) {
        return PyBytes_FromStringAndSize(out->buf, out->len);
    }
    views = PyMem_Calloc((size_t)out->nholes, sizeof(Py_buffer));
    if (views == NULL) {
        return PyErr_NoMemory();
    }
    for (i = 0; i < out->nholes; i++) {
        if (PyObject_GetBuffer(out->holes[i].obj, &views[i], PyBUF_SIMPLE) != 0) {
            PyErr_Format(PyExc_TypeError, "sequence item %zd: expected a bytes-like object, %.80s found", i,
                         Py_TYPE(out->holes[i].obj)->tp_name);
            goto release;
        }
        done = i + 1;
        if (views[i].len > PY_SSIZE_T_MAX - total) {
            PyErr_NoMemory();
            goto release;
        }
        total += views[i].len;
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) {
        goto release;
    }
    dst = PyBytes_AS_STRING(result);
    {
        Py_ssize_t from = 0;
        for (i = 0; i < out->nholes; i++) {
            Py_ssize_t upto = out->holes[i].offset;
            memcpy(dst, out->buf + from, (size_t)(upto - from));
            dst += upto - from;
            memcpy(dst, views[i].buf, (size_t)views[i].len);
            dst += views[i].len;
            from = upto;
        }
        memcpy(dst, out->buf + from, (size_t)(out->len - from));
    }
release:
    for (i = 0; i < done; i++) {
        PyBuffer_Release(&views[i]);
    }
    PyMem_Free(views);
    return result;
}

static PyObject *
Output_append(Output *self, PyObject *obj)
{
    if (out_append_object(self, obj) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static void
Output_dealloc(Output *self)
{
    for (Py_ssize_t i = 0; i < self->nholes; i++) {
        Py_DECREF(self->holes[i].obj);
    }
    PyMem_Free(self->holes);
    PyMem_Free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Output_methods[] = {
    {"append", (PyCFunction)Output_append, METH_O, "Append a bytes-like object to the encoding."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject OutputType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pybridge_port._ccodec.Output",
    .tp_basicsize = sizeof(Output),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The bytes of one encoding in progress.",
    .tp_dealloc = (destructor)Output_dealloc,
    .tp_methods = Output_methods,
};

/* Exact types the encoder handles itself, when their handler is None. */
enum {
    B_STR = 1 << 0,
    B_INT = 1 << 1,
    B_DICT = 1 << 2,
    B_FLOAT = 1 << 3,
    B_LIST = 1 << 4,
    B_TUPLE = 1 << 5,
    B_ATOM = 1 << 6,
    B_NONE = 1 << 7,
    B_BOOL = 1 << 8,
};

typedef struct {
    PyObject_HEAD
    PyObject *handlers; /* the Encoder's dict: exact type -> handler or None */
    PyObject *max_depth_obj;
    Py_ssize_t max_depth;
    unsigned int inline_mask;
} EncoderCore;

enum { E_LIST, E_TUPLE, E_DICT, E_ITER };

typedef struct {
    int kind;
    PyObject *obj;     /* the list, tuple, dict or iterator */
    PyObject *after;   /* E_ITER: bytes to append after the children, or None */
    PyObject *pending; /* E_DICT: the value to encode after its key */
    Py_ssize_t index;  /* list/tuple index, dict position */
    Py_ssize_t used;   /* E_DICT: the size it had when iteration began (-1 once it changed) */
    Py_ssize_t left;   /* E_DICT: items not yet seen */
    int exhausted;
} EFrame;

typedef struct {
    EFrame *frames;
    Py_ssize_t n, cap;
} EStack;

static int
push_eframe(EStack *st, int kind, PyObject *obj, PyObject *after) /* steals obj and after */
{
    EFrame *f;
    if (st->n == st->cap) {
        Py_ssize_t capacity = st->cap ? st->cap * 2 : 16;
        EFrame *grown;
        if (st->cap > PY_SSIZE_T_MAX / (Py_ssize_t)(2 * sizeof(EFrame))) {
            Py_DECREF(obj);
            Py_XDECREF(after);
            PyErr_NoMemory();
            return -1;
        }
        grown = PyMem_Realloc(st->frames, (size_t)capacity * sizeof(EFrame));
        if (grown == NULL) {
            Py_DECREF(obj);
            Py_XDECREF(after);
            PyErr_NoMemory();
            return -1;
        }
        st->frames = grown;
        st->cap = capacity;
    }
    f = &st->frames[st->n++];
    f->kind = kind;
    f->obj = obj;
    f->after = after;
    f->pending = NULL;
    f->index = 0;
    f->used = kind == E_DICT ? PyDict_GET_SIZE(obj) : 0;
    f->left = f->used;
    f->exhausted = 0;
    return 0;
}

static void
clear_eframe(EFrame *f)
{
    Py_CLEAR(f->obj);
    Py_CLEAR(f->after);
    Py_CLEAR(f->pending);
}

/* The next child of a frame (a new reference), or NULL: exhausted, or an error. */
static PyObject *
next_child(EFrame *f)
{
    PyObject *item;
    switch (f->kind) {
    case E_LIST: /* as list iterators do: the current size, every time */
        if (!f->exhausted && f->index < PyList_GET_SIZE(f->obj)) {
            item = PyList_GET_ITEM(f->obj, f->index);
            f->index++;
            Py_INCREF(item);
            return item;
        }
        f->exhausted = 1;
        return NULL;
    case E_TUPLE:
        if (f->index < PyTuple_GET_SIZE(f->obj)) {
            item = PyTuple_GET_ITEM(f->obj, f->index);
            f->index++;
            Py_INCREF(item);
            return item;
        }
        return NULL;
    case E_DICT: {
        /* chain.from_iterable(d.items()): the checks of dict item iterators. */
        PyObject *key, *value;
        if (f->pending != NULL) {
            item = f->pending;
            f->pending = NULL;
            return item;
        }
        if (f->exhausted) {
            return NULL;
        }
        if (f->used != PyDict_GET_SIZE(f->obj)) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            f->used = -1;
            return NULL;
        }
        if (!PyDict_Next(f->obj, &f->index, &key, &value)) {
            f->exhausted = 1;
            return NULL;
        }
        if (f->left == 0) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary keys changed during iteration");
            f->exhausted = 1;
            return NULL;
        }
        f->left--;
        Py_INCREF(value);
        f->pending = value;
        Py_INCREF(key);
        return key;
    }
    default:
        return PyIter_Next(f->obj);
    }
}

static int
depth_error(EncoderCore *self)
{
    PyObject *message = PyUnicode_FromFormat("the term nests deeper than max_depth=%S (or is cyclic)",
                                             self->max_depth_obj);
    if (message != NULL) {
        raise_instance(PyObject_CallOneArg(CodecError, message));
        Py_DECREF(message);
    }
    return -1;
}

static int
struct_range_error(void)
{
    PyErr_SetString(StructError, "'I' format requires 0 <= number <= 4294967295");
    return -1;
}

/* Calls a Python handler(obj, append); returns its result. */
static PyObject *
call_handler(PyObject *handler, PyObject *obj, Output *out, PyObject **append)
{
    if (*append == NULL) {
        *append = PyObject_GetAttrString((PyObject *)out, "append");
        if (*append == NULL) {
            return NULL;
        }
    }
    return PyObject_CallFunctionObjArgs(handler, obj, *append, NULL);
}

static int
encode_big(Output *out, PyObject *obj)
{
    int negative = _PyLong_Sign(obj) < 0;
    PyObject *magnitude = negative ? PyNumber_Negative(obj) : (Py_INCREF(obj), obj);
    size_t bits, nbytes;
    int status;
    if (magnitude == NULL) {
        return -1;
    }
    bits = _PyLong_NumBits(magnitude);
    if (bits == (size_t)-1 && PyErr_Occurred()) {
        Py_DECREF(magnitude);
        return -1;
    }
    nbytes = (bits + 7) >> 3;
    if (nbytes > ERLANG_MAX_BIG_BYTES) {
        /* Erlang could not decode it; the same message as codec._big_over_limit. */
        Py_DECREF(magnitude);
        raise_instance(PyObject_CallFunction(
            CodecError, "N",
            PyUnicode_FromFormat("an integer of %zu bytes cannot be encoded: Erlang's limit is %d bytes (%d bits)",
                                 nbytes, ERLANG_MAX_BIG_BYTES, 8 * ERLANG_MAX_BIG_BYTES)));
        return -1;
    }
    if (out_reserve(out, 6 + (Py_ssize_t)nbytes) < 0) {
        Py_DECREF(magnitude);
        return -1;
    }
    if (nbytes < 256) {
        put_u8(out, SMALL_BIG_EXT);
        put_u8(out, (unsigned int)nbytes);
    }
    else {
        put_u8(out, LARGE_BIG_EXT);
        put_u32(out, (uint32_t)nbytes);
    }
    put_u8(out, (unsigned int)negative);
#if PY_VERSION_HEX >= 0x030D0000
    status = _PyLong_AsByteArray((PyLongObject *)magnitude, (unsigned char *)out->buf + out->len, nbytes, 1, 0, 1);
#else
    status = _PyLong_AsByteArray((PyLongObject *)magnitude, (unsigned char *)out->buf + out->len, nbytes, 1, 0);
#endif
    Py_DECREF(magnitude);
    if (status < 0) {
        return -1;
    }
    out->len += (Py_ssize_t)nbytes;
    return 0;
}

static int
encode_int(Output *out, PyObject *obj)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    unsigned long long magnitude;
    unsigned int nbytes = 0;
    if (overflow) {
        return encode_big(out, obj);
    }
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (out_reserve(out, 11) < 0) {
        return -1;
    }
    if (v >= 0 && v < 256) {
        put_u8(out, SMALL_INTEGER_EXT);
        put_u8(out, (unsigned int)v);
        return 0;
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
        put_u8(out, INTEGER_EXT);
        put_u32(out, (uint32_t)(int32_t)v);
        return 0;
    }
    magnitude = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    for (unsigned long long m = magnitude; m; m >>= 8) {
        nbytes++;
    }
    put_u8(out, SMALL_BIG_EXT);
    put_u8(out, nbytes);
    put_u8(out, v < 0);
    for (unsigned int i = 0; i < nbytes; i++) {
        put_u8(out, (unsigned int)((magnitude >> (8 * i)) & 0xFF));
    }
    return 0;
}

static const char NIL_ATOM[] = {SMALL_ATOM_UTF8_EXT, 3, 'n', 'i', 'l'};
static const char TRUE_ATOM[] = {SMALL_ATOM_UTF8_EXT, 4, 't', 'r', 'u', 'e'};
static const char FALSE_ATOM[] = {SMALL_ATOM_UTF8_EXT, 5, 'f', 'a', 'l', 's', 'e'};
static const char NAN_ATOM[] = {SMALL_ATOM_UTF8_EXT, 3, 'n', 'a', 'n'};
static const char INFINITY_ATOM[] = {SMALL_ATOM_UTF8_EXT, 8, 'i', 'n', 'f', 'i', 'n', 'i', 't', 'y'};
static const char NEG_INFINITY_ATOM[] = {SMALL_ATOM_UTF8_EXT, 12, 'n', 'e', 'g', '_', 'i', 'n',
                                         'f', 'i', 'n', 'i', 't', 'y'};

static int
encode_float(Output *out, double v)
{
    if (isfinite(v)) {
        if (out_reserve(out, 9) < 0) {
            return -1;
        }
        put_u8(out, NEW_FLOAT_EXT);
        if (PyFloat_Pack8(v, out->buf + out->len, 0) < 0) {
            out->len -= 1;
            return -1;
        }
        out->len += 8;
        return 0;
    }
    if (isnan(v)) {
        return out_write(out, NAN_ATOM, sizeof(NAN_ATOM));
    }
    return v > 0 ? out_write(out, INFINITY_ATOM, sizeof(INFINITY_ATOM))
                 : out_write(out, NEG_INFINITY_ATOM, sizeof(NEG_INFINITY_ATOM));
}

static int
encode_binary(Output *out, const char *data, Py_ssize_t n)
{
    if (n > PY_SSIZE_T_MAX - 5) {
        PyErr_NoMemory();
        return -1;
    }
    if (out_reserve(out, 5 + n) < 0) {
        return -1;
    }
    put_u8(out, BINARY_EXT);
    put_u32(out, (uint32_t)n);
    memcpy(out->buf + out->len, data, (size_t)n);
    out->len += n;
    return 0;
}

/* Encodes an exact str, as codec.py's inline path does. */
static int
encode_str(Output *out, PyObject *obj, PyObject **append)
{
    PyObject *utf8;
    int status;
    if (str_ready(obj) < 0) {
        return -1;
    }
    if (PyUnicode_IS_ASCII(obj) && FITS_U32(PyUnicode_GET_LENGTH(obj))) {
        return encode_binary(out, (const char *)PyUnicode_1BYTE_DATA(obj), PyUnicode_GET_LENGTH(obj));
    }
    utf8 = PyUnicode_AsUTF8String(obj);
    if (utf8 == NULL || !FITS_U32(PyBytes_GET_SIZE(utf8))) {
        /* Not valid Unicode (or too long for ETF): codec._encode_str raises what codec.py raises. */
        PyObject *answer;
        if (utf8 == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                return -1;
            }
            PyErr_Clear();
        }
        Py_XDECREF(utf8);
        answer = call_handler(encode_str_fn, obj, out, append);
        Py_XDECREF(answer);
        return answer == NULL ? -1 : 0;
    }
    status = encode_binary(out, PyBytes_AS_STRING(utf8), PyBytes_GET_SIZE(utf8));
    Py_DECREF(utf8);
    return status;
}

static int
encode_atom(Output *out, PyObject *obj)
{
    PyObject *name = PyObject_GetAttr(obj, str_name);
    PyObject *encoded;
    int status;
    if (name == NULL) {
        return -1;
    }
    if (PyUnicode_CheckExact(name) && str_ready(name) < 0) {
        Py_DECREF(name);
        return -1;
    }
    if (PyUnicode_CheckExact(name) && PyUnicode_IS_ASCII(name) && PyUnicode_GET_LENGTH(name) < 256) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(name);
        if (out_reserve(out, 2 + n) < 0) {
            Py_DECREF(name);
            return -1;
        }
        put_u8(out, SMALL_ATOM_UTF8_EXT);
        put_u8(out, (unsigned int)n);
        memcpy(out->buf + out->len, PyUnicode_1BYTE_DATA(name), (size_t)n);
        out->len += n;
        Py_DECREF(name);
        return 0;
    }
    /* Other names (non-ASCII, too long, not a str): codec._atom_bytes. */
    encoded = PyObject_CallOneArg(atom_bytes_fn, name);
    Py_DECREF(name);
    if (encoded == NULL) {
        return -1;
    }
    status = out_append_object(out, encoded);
    Py_DECREF(encoded);
    return status;
}

/* One object: a leaf is written; a container writes its header and pushes a
 * frame for its children. Mirrors the body of Encoder._encode_into's loop. */
static int
encode_one(EncoderCore *self, PyObject *encoder, Output *out, PyObject **append, EStack *st, PyObject *obj)
{
    PyTypeObject *cls = Py_TYPE(obj);
    unsigned int mask = self->inline_mask;
    int inline_type;
    if (cls == &PyUnicode_Type) {
        inline_type = mask & B_STR;
    }
    else if (cls == &PyLong_Type) {
        inline_type = mask & B_INT;
    }
    else if (cls == &PyDict_Type) {
        inline_type = mask & B_DICT;
    }
    else if (cls == &PyFloat_Type) {
        inline_type = mask & B_FLOAT;
    }
    else if (cls == &PyList_Type) {
        inline_type = mask & B_LIST;
    }
    else if (cls == &PyTuple_Type) {
        inline_type = mask & B_TUPLE;
    }
    else if ((PyObject *)cls == AtomType) {
        inline_type = mask & B_ATOM;
    }
    else if (obj == Py_None) {
        inline_type = mask & B_NONE;
    }
    else if (cls == &PyBool_Type) {
        inline_type = mask & B_BOOL;
    }
    else {
        inline_type = 0;
    }

    if (!inline_type) {
        PyObject *handler = PyDict_GetItemWithError(self->handlers, (PyObject *)cls);
        PyObject *frame, *children, *after, *iterator;
        if (handler != NULL) {
            Py_INCREF(handler);
        }
        else {
            if (PyErr_Occurred()) {
                return -1;
            }
            handler = PyObject_CallMethodOneArg(encoder, str_resolve, obj);
            if (handler == NULL) {
                return -1;
            }
        }
        if (handler != Py_None) {
            if (handler == encode_bytes_fn && cls == &PyBytes_Type && FITS_U32(PyBytes_GET_SIZE(obj))) {
                Py_DECREF(handler);
                return encode_binary(out, PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj));
            }
            frame = call_handler(handler, obj, out, append);
            Py_DECREF(handler);
            if (frame == NULL) {
                return -1;
            }
            if (frame == Py_None) {
                Py_DECREF(frame);
                return 0;
            }
            if (st->n >= self->max_depth) {
                Py_DECREF(frame);
                return depth_error(self);
            }
            if (!PyTuple_Check(frame) || PyTuple_GET_SIZE(frame) != 2) {
                Py_DECREF(frame);
                PyErr_SetString(PyExc_SystemError, "a handler must return None or (children, after)");
                return -1;
            }
            children = PyTuple_GET_ITEM(frame, 0);
            after = PyTuple_GET_ITEM(frame, 1);
            Py_INCREF(after);
            iterator = PyObject_GetIter(children);
            Py_DECREF(frame);
            if (iterator == NULL) {
                Py_DECREF(after);
                return -1;
            }
            return push_eframe(st, E_ITER, iterator, after);
        }
        Py_DECREF(handler);
    }

    /* No handler: a built-in type handled right here, in codec.py's order. */
    if (cls == &PyUnicode_Type) {
        return encode_str(out, obj, append);
    }
    if (cls == &PyLong_Type) {
        return encode_int(out, obj);
    }
    if (cls == &PyDict_Type) {
        Py_ssize_t n = PyDict_GET_SIZE(obj);
        if (!FITS_U32(n)) {
            return struct_range_error();
        }
        if (out_reserve(out, 5) < 0) {
            return -1;
        }
        put_u8(out, MAP_EXT);
        put_u32(out, (uint32_t)n);
        if (n == 0) {
            return 0;
        }
        if (st->n >= self->max_depth) {
            return depth_error(self);
        }
        Py_INCREF(obj);
        return push_eframe(st, E_DICT, obj, NULL);
    }
    if (cls == &PyFloat_Type) {
        return encode_float(out, PyFloat_AS_DOUBLE(obj));
    }
    if (cls == &PyList_Type) {
        Py_ssize_t n = PyList_GET_SIZE(obj);
        if (n == 0) {
            if (out_reserve(out, 1) < 0) {
                return -1;
            }
            put_u8(out, NIL_EXT);
            return 0;
        }
        if (!FITS_U32(n)) {
            return struct_range_error();
        }
        if (out_reserve(out, 5) < 0) {
            return -1;
        }
        put_u8(out, LIST_EXT);
        put_u32(out, (uint32_t)n);
        if (st->n >= self->max_depth) {
            return depth_error(self);
        }
        Py_INCREF(obj);
        return push_eframe(st, E_LIST, obj, NULL);
    }
    if (cls == &PyTuple_Type) {
        Py_ssize_t n = PyTuple_GET_SIZE(obj);
        if (out_reserve(out, 5) < 0) {
            return -1;
        }
        if (n < 256) {
            put_u8(out, SMALL_TUPLE_EXT);
            put_u8(out, (unsigned int)n);
        }
        else if (!FITS_U32(n)) {
            return struct_range_error();
        }
        else {
            put_u8(out, LARGE_TUPLE_EXT);
            put_u32(out, (uint32_t)n);
        }
        if (n == 0) {
            return 0;
        }
        if (st->n >= self->max_depth) {
            return depth_error(self);
        }
        Py_INCREF(obj);
        return push_eframe(st, E_TUPLE, obj, NULL);
    }
    if ((PyObject *)cls == AtomType) {
        return encode_atom(out, obj);
    }
    if (obj == Py_None) {
        return out_write(out, NIL_ATOM, sizeof(NIL_ATOM));
    }
    {
        /* bool, the last of codec._INLINE_TYPES */
        int truth = PyObject_IsTrue(obj);
        if (truth < 0) {
            return -1;
        }
        return truth ? out_write(out, TRUE_ATOM, sizeof(TRUE_ATOM)) : out_write(out, FALSE_ATOM, sizeof(FALSE_ATOM));
    }
}

static PyObject *
EncoderCore_encode(EncoderCore *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *encoder, *obj, *result = NULL, *append = NULL;
    Output *out;
    EStack st = {NULL, 0, 0};
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "encode(encoder, term) takes two arguments");
        return NULL;
    }
    if (check_setup() < 0) {
        return NULL;
    }
    encoder = args[0];
    out = PyObject_New(Output, &OutputType);
    if (out == NULL) {
        return NULL;
    }
    out->buf = NULL;
    out->len = out->cap = 0;
    out->holes = NULL;
    out->nholes = out->choles = 0;
    if (out_reserve(out, 1) < 0) {
        goto done;
    }
    put_u8(out, 131);

    obj = args[1];
    Py_INCREF(obj);
    for (;;) {
        int status = encode_one(self, encoder, out, &append, &st, obj);
        Py_DECREF(obj);
        if (status < 0) {
            goto done;
        }
        for (;;) {
            EFrame *f;
            if (st.n == 0) {
                result = out_finish(out);
                goto done;
            }
            f = &st.frames[st.n - 1];
            obj = next_child(f);
            if (obj != NULL) {
                break;
            }
            if (PyErr_Occurred()) {
                goto done;
            }
            /* The frame's children are done: what comes after them, then the parent. */
            f = &st.frames[st.n - 1];
            if (f->kind == E_LIST) {
                if (out_reserve(out, 1) < 0) {
                    goto done;
                }
                put_u8(out, NIL_EXT);
            }
            else if (f->kind == E_ITER && f->after != Py_None && out_append_object(out, f->after) < 0) {
                goto done;
            }
            st.n--;
            clear_eframe(&st.frames[st.n]);
        }
    }
done:
    while (st.n > 0) {
        st.n--;
        clear_eframe(&st.frames[st.n]);
    }
    PyMem_Free(st.frames);
    Py_XDECREF(append);
    Py_DECREF(out);
    return result;
}

static PyObject *
EncoderCore_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"handlers", "max_depth", NULL};
    PyObject *handlers, *max_depth;
    EncoderCore *self;
    PyObject *types[9];
    unsigned int bits[9] = {B_STR, B_INT, B_DICT, B_FLOAT, B_LIST, B_TUPLE, B_ATOM, B_NONE, B_BOOL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O", kwlist, &PyDict_Type, &handlers, &max_depth)) {
        return NULL;
    }
    if (check_setup() < 0) {
        return NULL;
    }
    self = (EncoderCore *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (limit_from(max_depth, &self->max_depth, "max_depth") < 0) {
        Py_DECREF(self);
        return NULL;
    }
    Py_INCREF(handlers);
    self->handlers = handlers;
    Py_INCREF(max_depth);
    self->max_depth_obj = max_depth;
    /* The entries for these types are fixed once the Encoder is built (only
     * subclasses are added later), so whether each is None is read once. */
    types[0] = (PyObject *)&PyUnicode_Type;
    types[1] = (PyObject *)&PyLong_Type;
    types[2] = (PyObject *)&PyDict_Type;
    types[3] = (PyObject *)&PyFloat_Type;
    types[4] = (PyObject *)&PyList_Type;
    types[5] = (PyObject *)&PyTuple_Type;
    types[6] = AtomType;
    types[7] = (PyObject *)Py_TYPE(Py_None);
    types[8] = (PyObject *)&PyBool_Type;
    self->inline_mask = 0;
    for (int i = 0; i < 9; i++) {
        PyObject *handler = PyDict_GetItemWithError(handlers, types[i]);
        if (handler == NULL && PyErr_Occurred()) {
            Py_DECREF(self);
            return NULL;
        }
        if (handler == Py_None) {
            self->inline_mask |= bits[i];
        }
    }
    return (PyObject *)self;
}

static int
EncoderCore_traverse(EncoderCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->handlers);
    return 0;
}

static int
EncoderCore_clear(EncoderCore *self)
{
    Py_CLEAR(self->handlers);
    Py_CLEAR(self->max_depth_obj);
    return 0;
}

static void
EncoderCore_dealloc(EncoderCore *self)
{
    PyObject_GC_UnTrack(self);
    EncoderCore_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef EncoderCore_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))EncoderCore_encode, METH_FASTCALL,
     "encode(encoder, term) -> bytes starting with the version byte, as Encoder.encode without compression."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EncoderCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pybridge_port._ccodec.EncoderCore",
    .tp_basicsize = sizeof(EncoderCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "An Encoder's configuration, encoded with in C.",
    .tp_new = EncoderCore_new,
    .tp_traverse = (traverseproc)EncoderCore_traverse,
    .tp_clear = (inquiry)EncoderCore_clear,
    .tp_dealloc = (destructor)EncoderCore_dealloc,
    .tp_methods = EncoderCore_methods,
};

/* -- Module --------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"setup", (PyCFunction)(void (*)(void))setup, METH_VARARGS | METH_KEYWORDS,
     "setup(**names): the classes and functions of codec.py that this module calls back."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef ccodec_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pybridge_port._ccodec",
    .m_doc = "C accelerator for pybridge_port.codec (same results, hooks and errors).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__ccodec(void)
{
    PyObject *module;
    if (PyType_Ready(&DecoderCoreType) < 0 || PyType_Ready(&EncoderCoreType) < 0 || PyType_Ready(&OutputType) < 0) {
        return NULL;
    }
    if (str_name == NULL) {
        str_name = PyUnicode_InternFromString("name");
        str_resolve = PyUnicode_InternFromString("_resolve");
        str_node = PyUnicode_InternFromString("node");
        str_id = PyUnicode_InternFromString("id");
        str_serial = PyUnicode_InternFromString("serial");
        str_creation = PyUnicode_InternFromString("creation");
        if (str_name == NULL || str_resolve == NULL || str_node == NULL || str_id == NULL || str_serial == NULL
            || str_creation == NULL) {
            return NULL;
        }
    }
    module = PyModule_Create(&ccodec_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&DecoderCoreType);
    if (PyModule_AddObject(module, "DecoderCore", (PyObject *)&DecoderCoreType) < 0) {
        Py_DECREF(&DecoderCoreType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&EncoderCoreType);
    if (PyModule_AddObject(module, "EncoderCore", (PyObject *)&EncoderCoreType) < 0) {
        Py_DECREF(&EncoderCoreType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
