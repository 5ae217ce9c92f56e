/* Tests of the .iotc format (format/iotc.h): field-by-field round trips
 * for every weight encoding, every truncation and every single-byte change
 * rejected, payload mutations with a recomputed CRC never crashing the
 * loader, section rules, unwritable models, atomic writes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/ckpt.h"
#include "format/iotc.h"
#include "format/wcodec.h"
#include "quantize/qref.h"
#include "quantize/quantize.h"
#include "qfixtures.h"
#include "qgolden.h"

/* ---- the file format ------------------------------------------------------------ */

static void expect_same_model(const iotc_model *a, const iotc_model *b)
{
    const qm_model *x = &a->m, *y = &b->m;
    cr_assert_eq(x->n_ops, y->n_ops);
    cr_expect(x->in_c == y->in_c && x->in_h == y->in_h && x->in_w == y->in_w);
    cr_expect_eq(x->num_classes, y->num_classes);
    cr_expect(memcmp(&x->in, &y->in, sizeof x->in) == 0);
    cr_expect_eq(memcmp(x->input_lut, y->input_lut, (size_t)x->in_c * 256), 0);
    for (int c = 0; c < x->in_c; c++)
        cr_expect(a->mean[c] == b->mean[c] && a->std[c] == b->std[c]);
    for (int i = 0; i < x->n_ops; i++) {
        const qm_op *p = &x->ops[i], *q = &y->ops[i];
        cr_expect(p->type == q->type && p->input == q->input, "op %d", i);
        if (p->type == QM_ADD)
            cr_expect(p->input2 == q->input2 && p->add_mult[0] == q->add_mult[0] &&
                          p->add_mult[1] == q->add_mult[1] && p->add_shift == q->add_shift,
                      "op %d", i);
        cr_expect(p->in_c == q->in_c && p->in_h == q->in_h && p->in_w == q->in_w, "op %d", i);
        cr_expect(p->out_c == q->out_c && p->out_h == q->out_h && p->out_w == q->out_w, "op %d", i);
        cr_expect(p->kernel == q->kernel && p->stride == q->stride && p->pad == q->pad, "op %d", i);
        cr_expect(p->relu == q->relu, "op %d", i);
        cr_expect(memcmp(&p->out, &q->out, sizeof p->out) == 0, "op %d", i);
        cr_expect_eq(a->src_layer[i], b->src_layer[i]);
        cr_expect_str_eq(a->name[i], b->name[i]);
        if (p->type != QM_CONV2D && p->type != QM_DENSE)
            continue;
        cr_expect(p->weight_bits == q->weight_bits && p->n_weights == q->n_weights, "op %d", i);
        size_t oc = (size_t)p->out_c;
        cr_expect_eq(memcmp(p->weights, q->weights, p->n_weights), 0, "op %d weights", i);
        cr_expect_eq(memcmp(p->bias, q->bias, oc * 4), 0, "op %d bias", i);
        cr_expect_eq(memcmp(p->w_scale, q->w_scale, oc * 4), 0, "op %d w_scale", i);
        cr_expect_eq(memcmp(p->mult, q->mult, oc * 4), 0, "op %d mult", i);
        cr_expect_eq(memcmp(p->shift, q->shift, oc), 0, "op %d shift", i);
        cr_expect_eq(a->encoding[i], b->encoding[i], "op %d encoding", i);
        cr_expect_eq(a->op_bytes[i], b->op_bytes[i], "op %d bytes", i);
    }
    cr_assert_eq(a->n_meta, b->n_meta);
    for (int i = 0; i < a->n_meta; i++) {
        cr_expect_str_eq(a->meta_key[i], b->meta_key[i]);
        cr_expect_str_eq(a->meta_value[i], b->meta_value[i]);
    }
    cr_assert_eq(a->n_sections, b->n_sections);
    for (int s = 0; s < a->n_sections; s++)
        cr_expect(strcmp(a->sections[s].tag, b->sections[s].tag) == 0 &&
                  a->sections[s].offset == b->sections[s].offset &&
                  a->sections[s].bytes == b->sections[s].bytes);
    cr_expect_eq(a->file_bytes, b->file_bytes);
}

/* Encodes f, decodes the image, compares, returns the image (caller frees). */
static uint8_t *round_trip(iotc_model *f, size_t *len)
{
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_error err;
    cr_assert_eq(iotc_encode(f, &w, &err), NN_OK, "%s", err.msg);
    iotc_model *g = malloc(sizeof *g);
    cr_assert_eq(iotc_decode(g, w.data, w.len, "rt.iotc", &err), NN_OK, "%s", err.msg);
    expect_same_model(f, g);
    iotc_free(g);
    free(g);
    *len = w.len;
    return w.data;
}

/* The plain model quantized: weights pruned to `keep` of them (every k-th
 * kept) when keep < 1, at `bits`. */
static void quantized_plain(iotc_model *f, double keep, int bits, uint64_t seed)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, seed, 0);
    if (keep < 1)
        for (int i = 0; i < m.n_nodes; i++) {
            const nn_node *nd = &m.nodes[i];
            if (nd->spec.type == NN_LAYER_CONV2D || nd->spec.type == NN_LAYER_DENSE)
                for (size_t k = 0; k < nd->w.n; k++)
                    if ((double)(k % 100) >= keep * 100)
                        m.params[nd->w.off + k] = 0.0f;
        }
    uint8_t *px = qf_pixels(40, 1, 12, 12, seed);
    qz_config cfg;
    qz_config_defaults(&cfg);
    cfg.weight_bits = bits;
    nn_error err;
    iotc_init(f);
    const qz_data data = {.images = px, .n = 40};
    cr_assert_eq(qz_quantize_model(&f->m, NULL, &m, &cfg, &data, 1, &err), NN_OK, "%s", err.msg);
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        f->mean[c] = m.mean[c], f->std[c] = m.std[c];
    f->src_layer[0] = 0;
    snprintf(f->name[0], IOTC_NAME_MAX, "conv-1.a_B");
    cr_assert_eq(iotc_set_meta(f, "source", "plain.ckpt", &err), NN_OK);
    cr_assert_eq(iotc_set_meta(f, "method", "mse", &err), NN_OK);
    free(px);
    nn_model_free(&m);
}

Test(iotc_format, round_trip_field_by_field)
{
    iotc_model *f = malloc(sizeof *f);
    size_t len;
    /* The golden model: multipliers and table not derivable, so stored. */
    iotc_init(f);
    golden_model(&f->m);
    free(round_trip(f, &len));
    iotc_free(f);
    /* Quantized, 8-bit: derived multipliers and table, 16-bit scales. */
    quantized_plain(f, 1.0, 8, 3);
    uint8_t *img = round_trip(f, &len);
    cr_expect_eq(img[16 + 12], 2, "META count"); /* the first section's payload */
    free(img);
    size_t dense_len = len;
    iotc_free(f);
    /* 4-bit, 90% pruned: sparse encodings win. */
    quantized_plain(f, 0.1, 4, 3);
    free(round_trip(f, &len));
    cr_expect(f->encoding[3] == WC_GAPS_HUFF || f->encoding[3] == WC_GAPS_RAW ||
                  f->encoding[3] == WC_BITMAP_HUFF,
              "dense layer encoded %s", wc_encoding_name(f->encoding[3]));
    cr_expect_lt(len * 5, dense_len, "pruned 4-bit %zu bytes vs dense 8-bit %zu", len, dense_len);
    /* Scales that are not 16-bit, one multiplier not derivable. */
    f->m.ops[0].w_scale[0] *= 1.0001f;
    f->m.ops[3].mult[1] ^= 1;
    free(round_trip(f, &len));
    iotc_free(f);
    free(f);
}

/* The writer and the reader give the weight codec the op's kernel: a conv
 * whose filters are kept or dropped whole, each of one sign and size, is
 * stored as "context+taps" (the 3x3 taps of a filter predict each other)
 * and reads back as it was. */
Test(iotc_format, conv_filters_take_the_tap_contexts)
{
    iotc_model *f = malloc(sizeof *f);
    quantized_plain(f, 1.0, 4, 7);
    qm_op *op = &f->m.ops[1];
    cr_assert(op->type == QM_CONV2D && op->kernel == 3 && op->in_c == 8, "op 1 is the 3x3 conv");
    for (int o = 0; o < op->out_c; o++)
        for (int c = 0; c < op->in_c; c++)
            for (int t = 0; t < 9; t++)
                op->weights[(o * 9 + t) * op->in_c + c] =
                    (int8_t)((o + c) % 3 ? 0 : (o * 7 + c) % 2 ? 5 : -5);
    size_t len;
    free(round_trip(f, &len));
    cr_expect_eq(f->encoding[1], WC_CONTEXT_TAPS, "the 3x3 conv encoded %s",
                 wc_encoding_name(f->encoding[1]));
    iotc_free(f);
    free(f);
}

Test(iotc_format, unwritable_models_and_paths_are_errors)
{
    iotc_model *f = malloc(sizeof *f);
    quantized_plain(f, 1.0, 8, 5);
    nn_error err;
    nn_wbuf w;
    nn_wbuf_init(&w);
    /* A pool that changes the quantization. */
    f->m.ops[2].out.zero += 1;
    cr_expect_eq(iotc_encode(f, &w, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "op 2 (maxpool)"), "%s", err.msg);
    f->m.ops[2].out.zero -= 1;
    /* Names and metadata out of their character sets. */
    strcpy(f->name[1], "a b");
    cr_expect_eq(iotc_encode(f, &w, &err), NN_ERR_FORMAT);
    f->name[1][0] = '\0';
    cr_expect_eq(iotc_set_meta(f, "Bad", "x", &err), NN_ERR_ARG);
    cr_expect_eq(iotc_set_meta(f, "ok", "line\nbreak", &err), NN_ERR_ARG);
    /* A bias that leaves an int32 accumulator no room. */
    int32_t keep = f->m.ops[3].bias[2];
    f->m.ops[3].bias[2] = INT32_MAX - 10;
    cr_expect_eq(iotc_check_accumulators(&f->m, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "op 3 (dense): channel 2") && strstr(err.msg, "overflow"), "%s",
              err.msg);
    cr_expect_eq(iotc_encode(f, &w, &err), NN_ERR_FORMAT);
    f->m.ops[3].bias[2] = keep;
    cr_expect_eq(iotc_check_accumulators(&f->m, &err), NN_OK);
    /* An invalid model. */
    f->m.ops[0].shift[0] = 0;
    cr_expect_eq(iotc_encode(f, &w, &err), NN_ERR_FORMAT);
    f->m.ops[0].shift[0] = 20;
    /* A directory that does not exist: an I/O error, no file left. */
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/no/such/m.iotc", dir);
    cr_expect_eq(iotc_save(path, f, &err), NN_ERR_IO, "%s", err.msg);
    /* A good save, then a failing one over it: the old file stays whole. */
    snprintf(path, sizeof path, "%s/m.iotc", dir);
    cr_assert_eq(iotc_save(path, f, &err), NN_OK, "%s", err.msg);
    struct stat st1, st2;
    cr_assert_eq(stat(path, &st1), 0);
    f->m.ops[0].shift[0] = 0;
    cr_expect_neq(iotc_save(path, f, &err), NN_OK);
    cr_expect(strstr(err.msg, path), "%s", err.msg);
    cr_assert_eq(stat(path, &st2), 0);
    cr_expect_eq(st1.st_size, st2.st_size);
    iotc_model *g = malloc(sizeof *g);
    cr_expect_eq(iotc_load(g, path, &err), NN_OK, "%s", err.msg);
    iotc_free(g);
    free(g);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "ls %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int files = 0;
    cr_assert_eq(fscanf(p, "%d", &files), 1);
    pclose(p);
    cr_expect_eq(files, 1, "temporary files left behind");
    fx_rmtree(dir);
    nn_wbuf_free(&w);
    iotc_free(f);
    free(f);
}

/* A small model file: conv - maxpool - dense on 1x6x6 (about 300 bytes). */
static uint8_t *small_file(size_t *len)
{
    nn_model_spec s;
    LS_SPEC(&s, 1, 6, 6, 3,
            ls_conv(4, 3, 1, 1),
            ls_layer(NN_LAYER_RELU),
            ls_layer(NN_LAYER_MAXPOOL),
            ls_dense(3));
    nn_model m;
    qf_build(&m, &s, 77, 0);
    m.params[m.nodes[3].w.off + 5] = 0.0f;
    uint8_t *px = qf_pixels(10, 1, 6, 6, 1);
    qz_config cfg;
    qz_config_defaults(&cfg);
    nn_error err;
    iotc_model *f = malloc(sizeof *f);
    iotc_init(f);
    const qz_data data = {.images = px, .n = 10};
    cr_assert_eq(qz_quantize_model(&f->m, NULL, &m, &cfg, &data, 1, &err), NN_OK, "%s", err.msg);
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        f->mean[c] = m.mean[c], f->std[c] = m.std[c];
    cr_assert_eq(iotc_set_meta(f, "source", "small", &err), NN_OK);
    nn_wbuf w;
    nn_wbuf_init(&w);
    cr_assert_eq(iotc_encode(f, &w, &err), NN_OK, "%s", err.msg);
    iotc_free(f);
    free(f);
    free(px);
    nn_model_free(&m);
    *len = w.len;
    return w.data;
}

Test(iotc_format, every_truncation_is_rejected)
{
    size_t len;
    uint8_t *d = small_file(&len);
    cr_log_info("small file: %zu bytes", len);
    iotc_model *f = malloc(sizeof *f);
    nn_error err;
    cr_assert_eq(iotc_decode(f, d, len, "s.iotc", &err), NN_OK, "%s", err.msg);
    iotc_free(f);
    for (size_t n = 0; n < len; n++) {
        nn_status st = iotc_decode(f, d, n, "s.iotc", &err);
        cr_expect_eq(st, NN_ERR_FORMAT, "truncated to %zu: status %d", n, st);
        cr_expect(strstr(err.msg, "s.iotc: ") && strstr(err.msg, "offset "), "%zu bytes: %s", n,
                  err.msg);
        cr_expect_null(f->m.blob, "%zu bytes: model not cleared", n);
    }
    free(f);
    free(d);
}

/* Every other value of every byte: the CRC32s (which detect every error
 * confined to 32 bits) and the framing checks reject them all. */
Test(iotc_format, every_single_byte_change_is_rejected)
{
    size_t len;
    uint8_t *d = small_file(&len);
    iotc_model *f = malloc(sizeof *f);
    nn_error err;
    long tried = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t keep = d[i];
        for (int v = 0; v < 256; v++) {
            if (v == keep)
                continue;
            d[i] = (uint8_t)v;
            nn_status st = iotc_decode(f, d, len, "s.iotc", &err);
            tried++;
            if (st == NN_OK) {
                cr_expect_fail("byte %zu = %d: corrupt file loaded", i, v);
                iotc_free(f);
            } else {
                cr_expect_eq(st, NN_ERR_FORMAT, "byte %zu = %d: %s", i, v, err.msg);
                if (!strstr(err.msg, "offset "))
                    cr_expect_fail("byte %zu: no offset in %s", i, err.msg);
            }
        }
        d[i] = keep;
    }
    cr_log_info("%ld single-byte changes rejected", tried);
    free(f);
    free(d);
}

/* Payload mutations with the CRC recomputed reach the decoders: each is
 * a clean error, or a model that passes qm_model_validate and runs. */
Test(iotc_format, payload_mutations_with_valid_crc_never_crash)
{
    size_t len;
    uint8_t *d = small_file(&len);
    iotc_section secs[16];
    int n;
    nn_error err;
    cr_assert_eq(ctr_scan(d, len, "s.iotc", &IOTC_FORMAT, secs, 16, &n, &err), NN_OK);
    iotc_model *f = malloc(sizeof *f);
    uint8_t px[36];
    memset(px, 200, sizeof px);
    int8_t scratch[4096];
    int accepted = 0, rejected = 0;
    const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    for (int s = 0; s < n; s++) {
        size_t p0 = (size_t)secs[s].offset + 12, plen = (size_t)secs[s].bytes - 16;
        for (size_t i = p0; i < p0 + plen; i++) {
            uint8_t keep = d[i];
            for (int k = 0; k < 8; k++) {
                uint8_t v = k < 5 ? vals[k] : (uint8_t)(keep ^ (1u << (k - 2)));
                if (v == keep)
                    continue;
                d[i] = v;
                uint32_t crc = nn_crc32(d + secs[s].offset, plen + 12);
                uint8_t *c = d + p0 + plen, old[4];
                memcpy(old, c, 4);
                c[0] = (uint8_t)crc, c[1] = (uint8_t)(crc >> 8), c[2] = (uint8_t)(crc >> 16),
                c[3] = (uint8_t)(crc >> 24);
                nn_status st = iotc_decode(f, d, len, "s.iotc", &err);
                if (st == NN_OK) {
                    accepted++;
                    cr_expect_eq(qm_model_validate(&f->m, &err), NN_OK);
                    cr_assert_leq(qm_ref_scratch_bytes(&f->m), sizeof scratch);
                    qm_ref_run(&f->m, px, scratch);
                    iotc_free(f);
                } else {
                    rejected++;
                    cr_expect_eq(st, NN_ERR_FORMAT, "%s", err.msg);
                    if (!strstr(err.msg, "section "))
                        cr_expect_fail("no section named: %s", err.msg);
                }
                memcpy(c, old, 4);
            }
            d[i] = keep;
        }
    }
    cr_log_info("mutations: %d accepted (values still valid), %d rejected", accepted, rejected);
    cr_expect_gt(rejected, 100);
    free(f);
    free(d);
}

/* Appends a section (with its CRC) and bumps the section count. */
static uint8_t *add_section(const uint8_t *d, size_t len, const char *tag, const uint8_t *p,
                            size_t plen, size_t *out_len)
{
    uint8_t *o = malloc(len + plen + 16);
    memcpy(o, d, len);
    uint32_t count = (uint32_t)o[12] | (uint32_t)o[13] << 8;
    count++;
    o[12] = (uint8_t)count, o[13] = (uint8_t)(count >> 8);
    uint8_t *s = o + len;
    memcpy(s, tag, 4);
    for (int k = 0; k < 8; k++)
        s[4 + k] = (uint8_t)((uint64_t)plen >> (8 * k));
    memcpy(s + 12, p, plen);
    uint32_t crc = nn_crc32(s, plen + 12);
    for (int k = 0; k < 4; k++)
        s[12 + plen + k] = (uint8_t)(crc >> (8 * k));
    *out_len = len + plen + 16;
    return o;
}

Test(iotc_format, unknown_sections_skipped_required_ones_enforced)
{
    size_t len, l2;
    uint8_t *d = small_file(&len);
    iotc_model *f = malloc(sizeof *f);
    nn_error err;
    const uint8_t junk[3] = {1, 2, 3};
    uint8_t *e = add_section(d, len, "ZZZ9", junk, 3, &l2);
    cr_expect_eq(iotc_decode(f, e, l2, "s.iotc", &err), NN_OK, "%s", err.msg);
    iotc_free(f);
    free(e);
    e = add_section(d, len, "L001", junk, 3, &l2); /* op 1 is the max-pool */
    cr_expect_eq(iotc_decode(f, e, l2, "s.iotc", &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "L001 names no conv2d or dense"), "%s", err.msg);
    free(e);
    e = add_section(d, len, "INPT", junk, 3, &l2);
    cr_expect_eq(iotc_decode(f, e, l2, "s.iotc", &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "duplicate section"), "%s", err.msg);
    free(e);
    /* Drop the last section (L002, the dense layer's weights). */
    iotc_section secs[16];
    int n;
    cr_assert_eq(ctr_scan(d, len, "s.iotc", &IOTC_FORMAT, secs, 16, &n, &err), NN_OK);
    cr_assert_str_eq(secs[n - 1].tag, "L002");
    d[12] = (uint8_t)(n - 1);
    cr_expect_eq(iotc_decode(f, d, (size_t)secs[n - 1].offset, "s.iotc", &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "no weight section L002"), "%s", err.msg);
    free(d);
    free(f);
}

Test(iotc_format, load_names_the_path_and_scan_reads_checkpoints)
{
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, 1, 0);
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    nn_error err;
    cr_assert_eq(ckpt_save(path, &m, NULL, NULL, NULL, NULL, &err), NN_OK);
    iotc_model *f = malloc(sizeof *f);
    cr_expect_eq(iotc_load(f, path, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, path) && strstr(err.msg, "bad magic"), "%s", err.msg);
    uint8_t *data;
    size_t len;
    cr_assert_eq(nn_read_file(path, &data, &len, 0, &err), NN_OK);
    iotc_section secs[8];
    int n;
    cr_assert_eq(ctr_scan(data, len, path, &CKPT_FORMAT, secs, 8, &n, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(n, 3);
    cr_expect_str_eq(secs[1].tag, "PARM");
    cr_expect_eq(secs[1].bytes, m.n_params * 4 + 16);
    uint64_t total = 16;
    for (int k = 0; k < n; k++)
        total += secs[k].bytes;
    cr_expect_eq(total, len);
    snprintf(path, sizeof path, "%s/missing.iotc", dir);
    cr_expect_eq(iotc_load(f, path, &err), NN_ERR_IO);
    free(data);
    free(f);
    nn_model_free(&m);
    fx_rmtree(dir);
}
