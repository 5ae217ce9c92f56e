/* classes.c - a model's class names and their CLSN payload (classes.h). */
#include "classes.h"

#include <stdio.h>
#include <string.h>

/* 0 if name is a valid class name; else why not. */
static const char *name_problem(const char *name, size_t len)
{
    if (len == 0)
        return "empty";
    if (len >= CLS_NAME_MAX)
        return "longer than 63 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x20 || ch == 0x7f)
            return "holds a control character";
    }
    return NULL;
}

nn_status cls_set(cls_names *c, const char *const *names, int n, nn_error *err)
{
    c->n = 0;
    if (!names || n < 1 || n > CLS_MAX_CLASSES)
        return nn_errorf(err, NN_ERR_ARG, "%d class names (1 to %d)", n, CLS_MAX_CLASSES);
    for (int k = 0; k < n; k++) {
        const char *why = names[k] ? name_problem(names[k], strlen(names[k])) : "missing";
        if (why)
            return nn_errorf(err, NN_ERR_ARG, "class %d name '%.63s' is %s", k,
                             names[k] ? names[k] : "", why);
        snprintf(c->name[k], CLS_NAME_MAX, "%s", names[k]);
    }
    c->n = n;
    return NN_OK;
}

const char *cls_name(const cls_names *c, int k, char *buf, size_t size)
{
    if (c && k >= 0 && k < c->n)
        return c->name[k];
    snprintf(buf, size, "class %d", k);
    return buf;
}

void cls_put(nn_wbuf *w, const cls_names *c)
{
    nn_wbuf_u32(w, (uint32_t)c->n);
    for (int k = 0; k < c->n; k++) {
        size_t len = strlen(c->name[k]);
        nn_wbuf_u8(w, (uint8_t)len);
        nn_wbuf_bytes(w, c->name[k], len);
    }
}

nn_status cls_get(nn_rbuf *r, int num_classes, cls_names *c, nn_error *err)
{
    c->n = 0;
    uint64_t at = nn_rbuf_offset(r);
    uint32_t n;
    nn_status st = nn_rbuf_u32(r, &n, "class count", err);
    if (st != NN_OK)
        return st;
    if ((int64_t)n != num_classes || n > CLS_MAX_CLASSES)
        return nn_rbuf_errorf(r, at, err, NN_ERR_FORMAT, "%u class names for a model of %d classes",
                              n, num_classes);
    for (uint32_t k = 0; k < n; k++) {
        uint8_t len;
        at = nn_rbuf_offset(r);
        if ((st = nn_rbuf_u8(r, &len, "class name length", err)) != NN_OK)
            return st;
        if (len == 0 || len >= CLS_NAME_MAX) /* before reading into name[k] */
            return nn_rbuf_errorf(r, at, err, NN_ERR_FORMAT, "class %u name is %s", k,
                                  len ? "longer than 63 bytes" : "empty");
        if ((st = nn_rbuf_bytes(r, c->name[k], len, "class name", err)) != NN_OK)
            return st;
        c->name[k][len] = '\0';
        const char *why = name_problem(c->name[k], len);
        if (why)
            return nn_rbuf_errorf(r, at, err, NN_ERR_FORMAT, "class %u name is %s", k, why);
    }
    c->n = (int)n;
    return NN_OK;
}
