/* nn_window.h - the geometry of a sliding window shared by the conv and
 * depthwise kernels (private to libnn). */
#ifndef NN_WINDOW_H
#define NN_WINDOW_H

/* Output positions o in [*lo, *hi) whose input coordinate
 * o*stride - pad + kk lies inside [0, in): where tap offset kk along an
 * axis of `in` inputs and `out` outputs is live. */
static inline void nn_tap_range(int *lo, int *hi, int kk, int pad, int stride, int in, int out)
{
    int off = pad - kk; /* input coordinate = o*stride - off */
    int l = off > 0 ? (off + stride - 1) / stride : 0;
    int top = in - 1 + off; /* need o*stride <= top */
    int h = top >= 0 ? top / stride + 1 : 0;
    if (h > out)
        h = out;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

#endif
