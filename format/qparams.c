/* qparams.c - ranges, scales and multipliers of quantized models. */
#include "qparams.h"

#include <float.h>
#include <math.h>
#include <string.h>

qm_qparams qp_from_range(double lo, double hi)
{
    if (!isfinite(lo) || lo > 0)
        lo = 0;
    if (!isfinite(hi) || hi < 0)
        hi = 0;
    if (!(hi > lo))
        return (qm_qparams){1.0f / 255.0f, -128};
    double scale = (hi - lo) / 255.0;
    float s = (float)scale;
    if (!(s >= FLT_MIN)) /* a denormal or zero width: keep the scale usable */
        s = FLT_MIN;
    if (!isfinite(s))
        s = FLT_MAX;
    double z = round(-128.0 - lo / (double)s);
    if (z < -128)
        z = -128;
    if (z > 127)
        z = 127;
    return (qm_qparams){s, (int32_t)z};
}

void qp_range(qm_qparams q, double *lo, double *hi)
{
    *lo = (double)q.scale * (double)(-128 - q.zero);
    *hi = (double)q.scale * (double)(127 - q.zero);
}

float qp_round_scale_up(float s)
{
    uint32_t b;
    memcpy(&b, &s, 4);
    if ((b & 0xffffu) == 0)
        return s;
    uint32_t up = (b | 0xffffu) + 1u;
    float r;
    memcpy(&r, &up, 4);
    return isfinite(r) ? r : s;
}

nn_status qp_requant(float in_scale, float w_scale, float out_scale, int32_t *mult, int32_t *shift)
{
    double real = (double)in_scale * (double)w_scale;
    real = real / (double)out_scale;
    return qm_quantize_multiplier(real, mult, shift);
}

nn_status qp_add_requant(float a_scale, float b_scale, float out_scale, int32_t mult[2],
                         int32_t *shift)
{
    double r[2] = {(double)a_scale / (double)out_scale, (double)b_scale / (double)out_scale};
    for (int k = 0; k < 2; k++)
        if (!isfinite(r[k]) || r[k] < 0 || r[k] >= 536870912.0)
            return NN_ERR_ARG;
    double rmax = r[0] > r[1] ? r[0] : r[1];
    int s = 62;
    if (rmax > 0) {
        int e;
        (void)frexp(rmax, &e); /* rmax = f * 2^e, f in [0.5, 1) */
        s = 30 - e;            /* rmax * 2^s < 2^30 */
        if (s > 62)
            s = 62;
        if (s < 1)
            return NN_ERR_ARG;
    }
    for (int k = 0; k < 2; k++)
        mult[k] = (int32_t)llround(ldexp(r[k], s)); /* <= 2^30 */
    *shift = s;
    return NN_OK;
}

void qp_input_lut(int8_t *lut, int in_c, const float *mean, const float *std, qm_qparams in)
{
    for (int c = 0; c < in_c; c++) {
        for (int p = 0; p < 256; p++) {
            double x = (double)p / 255.0;
            x = x - (double)mean[c];
            x = x / (double)std[c];
            double q = round(x / (double)in.scale);
            q = q + (double)in.zero;
            lut[c * 256 + p] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
        }
    }
}

qm_qparams qp_input_qparams(int in_c, const float *mean, const float *std)
{
    double lo = 0, hi = 0;
    for (int c = 0; c < in_c; c++) {
        double a = (0.0 - (double)mean[c]) / (double)std[c];
        double b = (1.0 - (double)mean[c]) / (double)std[c];
        if (a < lo)
            lo = a;
        if (b > hi)
            hi = b;
    }
    return qp_from_range(lo, hi);
}
