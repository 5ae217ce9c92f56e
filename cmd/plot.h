/* plot.h - pictures of a run, drawn by gnuplot (Debian's gnuplot-nox, its
 * pngcairo terminal): iotcnn draws no pixels itself, and the JSON metrics
 * stay the source of truth (the pictures are made from them).
 *
 * Each picture is written atomically: gnuplot writes a temporary beside
 * the target, renamed over it once gnuplot succeeded. Returns 0 when the
 * PNG was written, PLOT_NO_GNUPLOT when gnuplot is not installed, or
 * PLOT_FAILED with the reason in why. */
#ifndef PLOT_H
#define PLOT_H

#include <stddef.h>

#include "format/classes.h"

enum { PLOT_OK = 0, PLOT_NO_GNUPLOT = 1, PLOT_FAILED = 2 };

/* Loss, accuracy (training and, when logged, validation) and learning rate
 * per epoch, from a metrics log (MODEL.metrics.jsonl), into png. */
int plot_curves(const char *metrics_path, const char *png, char *why, size_t why_size);

/* A k x k confusion matrix (rows: true class, columns: predicted), each
 * row as shares of its images, labelled with the class names. */
int plot_confusion(const int *confusion, int k, const cls_names *names, const char *title,
                   const char *png, char *why, size_t why_size);

#endif
