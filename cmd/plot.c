/* plot.c - pictures of a run through gnuplot (plot.h). */
#include "plot.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <math.h>
#include <unistd.h>

#include "libnn/nn_tmp.h"

extern char **environ;

static int failed(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return PLOT_FAILED;
}

/* A text for inside a gnuplot single-quoted string: ' doubled. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        fputs(*s == '\'' ? "''" : (char[2]){*s, 0}, f);
    fputc('\'', f);
}

/* The temporary gnuplot writes: beside png, named as every atomic write's
 * (nn_tmp.h), so that a killed run's leftover is swept by the next write. */
static void out_name(char *out, size_t n, const char *png)
{
    nn_tmp_owner me;
    nn_tmp_owner_self(&me);
    nn_tmp_name(out, n, png, &me);
}

/* Runs `gnuplot dir/plot.gp` (its messages into dir/log), which writes the
 * temporary out_name(png); then renames that over png. */
static int run_gnuplot(const char *dir, const char *png, char *why, size_t n)
{
    char script[450], log[450], out[600];
    snprintf(script, sizeof script, "%s/plot.gp", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    out_name(out, sizeof out, png);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {"gnuplot", script, NULL};
    pid_t pid;
    int e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e == ENOENT)
        return PLOT_NO_GNUPLOT;
    if (e != 0)
        return failed(why, n, "cannot run gnuplot: %s", strerror(e));
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[200] = "";
        FILE *f = fopen(log, "r");
        if (f) {
            size_t got = fread(msg, 1, sizeof msg - 1, f);
            msg[got] = '\0';
            fclose(f);
        }
        unlink(out);
        return failed(why, n, "gnuplot failed: %s", msg[0] ? msg : "no message");
    }
    if (rename(out, png) != 0) {
        int re = errno;
        unlink(out);
        return failed(why, n, "%s: cannot write: %s", png, strerror(re));
    }
    return PLOT_OK;
}

/* A fresh folder for the data and the script ($TMPDIR or /tmp), and its
 * removal. */
static int workdir(char *dir, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, n, "%s/iotcnn-plot.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static void rmwork(const char *dir)
{
    const char *names[] = {"data", "plot.gp", "log"};
    char p[450];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* dir/data: epoch, train loss, train accuracy, val loss, val accuracy, lr
 * ("NaN" where a line has no validation). Returns how many lines, or -1. */
static int write_curve_data(const char *metrics, const char *dir, int *has_val)
{
    FILE *in = fopen(metrics, "r"), *out = NULL;
    char path[450], line[2048];
    snprintf(path, sizeof path, "%s/data", dir);
    if (!in || !(out = fopen(path, "w"))) {
        if (in)
            fclose(in);
        return -1;
    }
    int lines = 0;
    *has_val = 0;
    while (fgets(line, sizeof line, in)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *v[6];
        const char *keys[6] = {"epoch",    "train_loss",   "train_accuracy",
                               "val_loss", "val_accuracy", "lr"};
        for (int k = 0; k < 6; k++)
            v[k] = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
        if (cJSON_IsNumber(v[0])) {
            for (int k = 0; k < 6; k++)
                fprintf(out, k ? "\t%.8g" : "%.8g", cJSON_IsNumber(v[k]) ? v[k]->valuedouble : NAN);
            fputc('\n', out);
            *has_val |= cJSON_IsNumber(v[4]);
            lines++;
        }
        cJSON_Delete(j);
    }
    fclose(in);
    return fclose(out) == 0 ? lines : -1;
}

int plot_curves(const char *metrics_path, const char *png, char *why, size_t why_size)
{
    char dir[400], path[450];
    if (workdir(dir, sizeof dir) != 0)
        return failed(why, why_size, "cannot make a working folder: %s", strerror(errno));
    int has_val, lines = write_curve_data(metrics_path, dir, &has_val), rc;
    snprintf(path, sizeof path, "%s/plot.gp", dir);
    FILE *f = lines > 0 ? fopen(path, "w") : NULL;
    if (!f) {
        rc = failed(why, why_size, "%s: no epochs to plot", metrics_path);
    } else {
        char out[600];
        out_name(out, sizeof out, png);
        fputs("set terminal pngcairo size 900,1000 font ',10'\nset output ", f);
        put_quoted(f, out);
        fputs("\nset datafile separator '\\t'\nset grid\nset key outside right\n"
              "set xlabel 'epoch'\nset multiplot layout 3,1 title ", f);
        put_quoted(f, metrics_path);
        fprintf(f, "\nD = '%s/data'\n%s", dir, lines <= 30 ? "set xtics 1\n" : "");
        fprintf(f, "set ylabel 'loss'\nplot D using 1:2 with linespoints title 'training'%s\n",
                has_val ? ", D using 1:4 with linespoints title 'validation'" : "");
        fprintf(f, "set ylabel 'accuracy (%%)'\nplot D using 1:($3*100) with linespoints "
                   "title 'training'%s\n",
                has_val ? ", D using 1:($5*100) with linespoints title 'validation'" : "");
        fprintf(f, "set ylabel 'learning rate'\nplot D using 1:6 with linespoints title "
                   "'rate (last step)'\nunset multiplot\n");
        rc = fclose(f) == 0 ? run_gnuplot(dir, png, why, why_size)
                            : failed(why, why_size, "cannot write the plot script");
    }
    rmwork(dir);
    return rc;
}

int plot_confusion(const int *confusion, int k, const cls_names *names, const char *title,
                   const char *png, char *why, size_t why_size)
{
    char dir[400], path[450];
    if (workdir(dir, sizeof dir) != 0)
        return failed(why, why_size, "cannot make a working folder: %s", strerror(errno));
    snprintf(path, sizeof path, "%s/data", dir);
    FILE *d = fopen(path, "w");
    for (int t = 0; d && t < k; t++) { /* row t, column p: the share of t's images */
        long row = 0;
        for (int p = 0; p < k; p++)
            row += confusion[t * k + p];
        for (int p = 0; p < k; p++)
            fprintf(d, "%d\t%d\t%.6f\t%d\n", p, t, row ? (double)confusion[t * k + p] / row : 0.0,
                    confusion[t * k + p]);
    }
    snprintf(path, sizeof path, "%s/plot.gp", dir);
    FILE *f = d && fclose(d) == 0 ? fopen(path, "w") : NULL;
    int rc;
    if (!f) {
        rc = failed(why, why_size, "cannot write the plot data");
    } else {
        int side = 200 + 40 * (k < 40 ? k : 40);
        char out[600];
        out_name(out, sizeof out, png);
        fprintf(f, "set terminal pngcairo size %d,%d font ',9'\nset output ", side + 120, side);
        put_quoted(f, out);
        fputs("\nset datafile separator '\\t'\nset title ", f);
        put_quoted(f, title);
        fprintf(f, "\nset xlabel 'predicted'\nset ylabel 'true'\nset yrange [%d.5:-0.5]\n"
                   "set xrange [-0.5:%d.5]\nset cbrange [0:1]\nset cblabel 'share of the true "
                   "class'\nset palette defined (0 'white', 1 '#08306b')\nset xtics rotate by 45 right (",
                k - 1, k - 1);
        char buf[32];
        for (int c = 0; c < k; c++) {
            fputs(c ? ", " : "", f);
            put_quoted(f, cls_name(names, c, buf, sizeof buf));
            fprintf(f, " %d", c);
        }
        fputs(")\nset ytics (", f);
        for (int c = 0; c < k; c++) {
            fputs(c ? ", " : "", f);
            put_quoted(f, cls_name(names, c, buf, sizeof buf));
            fprintf(f, " %d", c);
        }
        fprintf(f, ")\nplot '%s/data' using 1:2:3 with image notitle%s\n", dir,
                k <= 20 ? ", '' using 1:2:(sprintf('%d',$4)) with labels notitle" : "");
        rc = fclose(f) == 0 ? run_gnuplot(dir, png, why, why_size)
                            : failed(why, why_size, "cannot write the plot script");
    }
    rmwork(dir);
    return rc;
}
