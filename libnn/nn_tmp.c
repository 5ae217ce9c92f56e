/* nn_tmp.c - temporaries' owners and the sweep of stale ones (nn_tmp.h). */
#include "nn_tmp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Reads a small /proc file into buf (NUL-terminated); 0 on failure. */
static int read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return 1;
}

/* State and start time of a process from /proc/<pid>/stat ("self" when
 * pid is 0). The command name (field 2) may hold spaces and parentheses,
 * so the fields are counted from the last ')'. 0 when unreadable. */
static int proc_stat(long long pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    if (pid)
        snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    else
        snprintf(path, sizeof path, "/proc/self/stat");
    if (!read_small(path, buf, sizeof buf))
        return 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) { /* start time is field 22 */
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    char *end;
    errno = 0;
    *start = strtoull(p, &end, 10);
    return errno == 0 && end != p;
}

static unsigned long boot_id(void)
{
    char buf[64];
    if (!read_small("/proc/sys/kernel/random/boot_id", buf, sizeof buf))
        return 0;
    buf[8] = '\0';
    return strtoul(buf, NULL, 16);
}

static unsigned long long pid_namespace(void)
{
    struct stat sb;
    return stat("/proc/self/ns/pid", &sb) == 0 ? (unsigned long long)sb.st_ino : 0;
}

void nn_tmp_owner_self(nn_tmp_owner *o)
{
    char state;
    o->pid = (long long)getpid();
    if (!proc_stat(0, &state, &o->start))
        o->start = 0;
    o->boot = boot_id();
    o->ns = pid_namespace();
}

/* 1 when a process with this pid exists (another user's included) and is
 * not a zombie; its start time in *start (0 when unreadable). */
static int pid_alive(long long pid, unsigned long long *start)
{
    *start = 0;
    if (pid <= 0 || (pid_t)pid != pid)
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return 0; /* ESRCH: no such process */
    char state;
    if (!proc_stat(pid, &state, start))
        return 1; /* alive, but no /proc to ask: assume it is the writer */
    return state != 'Z' && state != 'X';
}

int nn_tmp_owner_of(pid_t pid, nn_tmp_owner *o)
{
    nn_tmp_owner_self(o);
    o->pid = pid;
    return pid_alive(pid, &o->start);
}

int nn_tmp_name(char *buf, size_t cap, const char *path, const nn_tmp_owner *o)
{
    return snprintf(buf, cap, "%s.tmp.%lld.%llu.%08lx.%llu", path, o->pid, o->start, o->boot,
                    o->ns);
}

/* ---- recognizing temporaries ---------------------------------------------- */

/* A run of decimal digits ending at *end (exclusive), scanning backwards
 * from there; on success *end moves to its first digit. */
static int digits_back(const char *name, const char **end, unsigned long long *v, int exact_hex)
{
    const char *p = *end;
    int n = 0;
    while (p > name && (exact_hex ? strchr("0123456789abcdef", p[-1]) && p[-1]
                                  : p[-1] >= '0' && p[-1] <= '9'))
        p--, n++;
    if (n == 0 || n > 20 || (exact_hex && n != 8))
        return 0;
    char buf[24];
    memcpy(buf, p, (size_t)n);
    buf[n] = '\0';
    errno = 0;
    *v = strtoull(buf, NULL, exact_hex ? 16 : 10);
    *end = p;
    return errno == 0;
}

/* Consumes `s` right before *end. */
static int literal_back(const char *name, const char **end, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(*end - name) < n || memcmp(*end - n, s, n) != 0)
        return 0;
    *end -= n;
    return 1;
}

enum { TMP_NONE, TMP_CURRENT, TMP_LEGACY };

/* Which kind of temporary a directory entry's name is, with its owner. */
static int parse_tmp_name(const char *name, nn_tmp_owner *o)
{
    const char *end = name + strlen(name);
    unsigned long long pid, start, boot, ns;
    memset(o, 0, sizeof *o);
    if (digits_back(name, &end, &ns, 0) && literal_back(name, &end, ".") &&
        digits_back(name, &end, &boot, 1) && literal_back(name, &end, ".") &&
        digits_back(name, &end, &start, 0) && literal_back(name, &end, ".") &&
        digits_back(name, &end, &pid, 0) && literal_back(name, &end, ".tmp.") && end > name) {
        *o = (nn_tmp_owner){(long long)pid, start, (unsigned long)boot, ns};
        return TMP_CURRENT;
    }
    end = name + strlen(name);
    if (digits_back(name, &end, &pid, 0) && literal_back(name, &end, ".tmp.") &&
        (literal_back(name, &end, ".ckpt") || literal_back(name, &end, ".iotc")) && end > name) {
        o->pid = (long long)pid;
        return TMP_LEGACY;
    }
    return TMP_NONE;
}

/* Is the temporary of owner o (kind, modified at mtime) stale? */
static int is_stale(int kind, const nn_tmp_owner *o, const nn_tmp_owner *me, time_t mtime)
{
    unsigned long long start;
    if (kind == TMP_LEGACY)
        return !pid_alive(o->pid, &start);
    if (o->boot != me->boot)
        return 1;
    if (o->ns != me->ns)
        return time(NULL) - mtime >= NN_TMP_FOREIGN_AGE;
    if (!pid_alive(o->pid, &start))
        return 1;
    return start != 0 && start != o->start; /* the pid was reused */
}

int nn_tmp_sweep(const char *dir, const nn_tmp_owner *me)
{
    DIR *d = opendir(dir && dir[0] ? dir : ".");
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        nn_tmp_owner o;
        int kind = parse_tmp_name(e->d_name, &o);
        if (kind == TMP_NONE)
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (is_stale(kind, &o, me, sb.st_mtime) && unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
