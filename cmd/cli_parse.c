/* cli_parse.c - the one option parser of every subcommand, driven by its
 * table (cli.h): values, defaults, "did you mean", and the help text. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int cli_edit_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    int la = (int)strnlen(a, MAX - 1), lb = (int)strnlen(b, MAX - 1);
    int row[MAX];
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cli_did_you_mean(const cli_command *c, const char *word)
{
    while (*word == '-')
        word++;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(word, "="), word);
    const char *best = NULL;
    int best_d = 1 << 30;
    for (int i = 0; i < c->n_opts; i++) {
        const char *cand[2] = {c->opts[i].name, c->opts[i].alias};
        for (int k = 0; k < 2; k++) {
            if (!cand[k])
                continue;
            int d = cli_edit_distance(name, cand[k]), len = (int)strlen(cand[k]);
            int limit = len / 3 < 1 ? 1 : len / 3 > 3 ? 3 : len / 3;
            if (d <= limit && d < best_d)
                best = cand[k], best_d = d;
        }
    }
    return best;
}

/* The option arg names ("--limit", "--limit=5", "-m"), or NULL; *inline_value
 * is the text after '=' (NULL if none). */
static const cli_option *find(const cli_command *c, const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    if (arg[0] == '-' && arg[1] != '-' && arg[1] && !arg[2]) {
        for (int i = 0; i < c->n_opts; i++)
            if (c->opts[i].short_name == arg[1])
                return &c->opts[i];
        return NULL;
    }
    if (strncmp(arg, "--", 2) != 0)
        return NULL;
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");
    for (int i = 0; i < c->n_opts; i++) {
        const char *cand[2] = {c->opts[i].name, c->opts[i].alias};
        for (int k = 0; k < 2; k++)
            if (cand[k] && strlen(cand[k]) == len && strncmp(name, cand[k], len) == 0) {
                if (name[len] == '=')
                    *inline_value = name + len + 1;
                return &c->opts[i];
            }
    }
    return NULL;
}

/* Stores text as o's value into opts; exits 2 naming the option when the
 * text is not a value of its kind. */
static void store(const cli_command *c, const cli_option *o, void *opts, const char *text)
{
    char *field = (char *)opts + o->offset, *end = NULL;
    errno = 0;
    if (o->kind == CLI_STRING || o->kind == CLI_PATH) {
        *(const char **)field = text;
    } else if (o->kind == CLI_FLOAT) {
        double v = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(v) || v < o->flo || v > o->fhi)
            cli_usage_error(c->name, "--%s: expected a number in [%g, %g], got '%s'", o->name,
                            o->flo, o->fhi, text);
        *(double *)field = v;
    } else {
        long long v = strtoll(text, &end, 10);
        if (errno || end == text || *end || v < o->lo || v > o->hi)
            cli_usage_error(c->name, "--%s: expected an integer in [%lld, %lld], got '%s'",
                            o->name, o->lo, o->hi, text);
        if (o->kind == CLI_INT64)
            *(long long *)field = v;
        else
            *(int *)field = (int)v;
    }
}

static void apply_defaults(const cli_command *c, void *opts)
{
    for (int i = 0; i < c->n_opts; i++)
        if (c->opts[i].def && c->opts[i].kind != CLI_FLAG)
            store(c, &c->opts[i], opts, c->opts[i].def);
}

_Noreturn static void unknown(const cli_command *c, const char *arg)
{
    const char *near = cli_did_you_mean(c, arg);
    if (near)
        cli_usage_error(c->name, "unknown option '%s' for '%s'; did you mean '--%s'?", arg,
                        c->name, near);
    cli_usage_error(c->name, "unknown option '%s' for '%s'", arg, c->name);
}

void cli_parse(const cli_command *c, void *opts, int argc, char **argv, const char **operands,
               int max_operands, int *n_operands)
{
    apply_defaults(c, opts);
    if (n_operands)
        *n_operands = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *value;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cli_print_help(stdout, c);
            exit(0);
        }
        const cli_option *o = find(c, arg, &value);
        if (!o && arg[0] == '-' && arg[1])
            unknown(c, arg);
        if (!o) {
            if (!c->operands)
                cli_usage_error(c->name, "unexpected argument '%s' ('%s' takes options only)",
                                arg, c->name);
            if (*n_operands == max_operands)
                cli_usage_error(c->name, "at most %d %s", max_operands, c->operands);
            operands[(*n_operands)++] = arg;
            continue;
        }
        if (o->kind == CLI_FLAG) {
            if (value)
                cli_usage_error(c->name, "option --%s takes no value", o->name);
            *(int *)((char *)opts + o->offset) = o->set;
            continue;
        }
        if (!value) {
            if (i + 1 >= argc)
                cli_usage_error(c->name, "option %s needs a value (%s)", arg, o->arg);
            value = argv[++i];
        }
        store(c, o, opts, value);
    }
}

/* "  -m, --model MODEL" */
static int option_label(char *buf, size_t size, const cli_option *o)
{
    char sh[8] = "    ";
    if (o->short_name)
        snprintf(sh, sizeof sh, "-%c, ", o->short_name);
    return snprintf(buf, size, "  %s--%s%s%s", sh, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* Help text, continuation lines indented to col. */
static void print_wrapped(FILE *out, const char *text, int col)
{
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        fprintf(out, "%.*s", (int)len, p);
        p += len;
        if (*p == '\n' && p[1])
            fprintf(out, "\n%*s", col, "");
        if (*p)
            p++;
    }
}

void cli_print_help(FILE *out, const cli_command *c)
{
    fprintf(out, "Usage: iotcnn %s %s\n\n%s\n", c->name, c->synopsis, c->about);
    int col = 0;
    char label[128];
    for (int i = 0; i < c->n_opts; i++) {
        int n = option_label(label, sizeof label, &c->opts[i]);
        col = n > col ? n : col;
    }
    col += 2;
    for (int i = 0; i < c->n_opts; i++) {
        const cli_option *o = &c->opts[i];
        option_label(label, sizeof label, o);
        fprintf(out, "%-*s", col, label);
        print_wrapped(out, o->help, col);
        if (o->def)
            fprintf(out, " (default %s)", o->def);
        if (o->alias)
            fprintf(out, " (also --%s)", o->alias);
        fputc('\n', out);
    }
    fprintf(out, "  -h, --help%*sthis help\n", col - 12, "");
    if (c->notes)
        fprintf(out, "\n%s", c->notes);
    fputs(CLI_EXIT_HELP, out);
}
