/* test_tmp.c - the temporaries of atomic writes (nn_tmp.h): the sweep
 * removes exactly the stale ones (dead writer, reused pid, zombie, earlier
 * boot, old foreign namespace, legacy names of dead pids) and leaves live
 * writers' and every unrelated file alone; nn_write_file_atomic sweeps its
 * directory, never writes through a name it did not make, and works
 * through its named fallback when /proc is not there. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libnn/nn_io.h"
#include "libnn/nn_tmp.h"
#include "cli_helpers.h"
#include "fixtures.h"

static char g_dir[64];

static void make_dir(void) { fx_tmpdir(g_dir, sizeof g_dir); }
static void remove_dir(void) { fx_rmtree(g_dir); }

static void touch(const char *name, long age_seconds)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    ch_spit(path, "x", 1);
    if (age_seconds) {
        struct timeval tv[2];
        gettimeofday(&tv[0], NULL);
        tv[0].tv_sec -= age_seconds;
        tv[1] = tv[0];
        cr_assert_eq(utimes(path, tv), 0);
    }
}

static int present(const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* The temporary name of base for owner o (the name alone, no directory). */
static const char *tmp_of(const char *base, const nn_tmp_owner *o)
{
    static char names[16][256];
    static int next;
    char *buf = names[next++ % 16];
    cr_assert_lt(nn_tmp_name(buf, 256, base, o), 256);
    return buf;
}

/* A child blocked on a pipe until the write end closes. */
static pid_t blocked_child(int *release_fd)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close(fds[1]);
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(fds[0]);
    *release_fd = fds[1];
    return pid;
}

Test(tmp, sweep_removes_only_temporaries_of_dead_writers, .init = make_dir, .fini = remove_dir)
{
    nn_tmp_owner me, live, dead, zombie;
    nn_tmp_owner_self(&me);
    cr_assert(me.pid > 0 && me.start > 0 && me.boot != 0, "no /proc identity");

    pid_t dead_pid = fork();
    if (dead_pid == 0)
        _exit(0);
    cr_assert_eq(waitpid(dead_pid, NULL, 0), dead_pid);
    dead = me, dead.pid = dead_pid;

    int live_fd, zombie_fd;
    pid_t live_pid = blocked_child(&live_fd), zombie_pid = blocked_child(&zombie_fd);
    cr_assert_eq(nn_tmp_owner_of(live_pid, &live), 1);
    cr_assert_eq(live.start >= me.start, 1);
    cr_assert_eq(nn_tmp_owner_of(zombie_pid, &zombie), 1);
    close(zombie_fd); /* it exits; not reaped: a zombie */
    for (int i = 0; i < 200 && nn_tmp_owner_of(zombie_pid, &(nn_tmp_owner){0}); i++)
        usleep(5000);
    cr_assert_eq(nn_tmp_owner_of(zombie_pid, &(nn_tmp_owner){0}), 0, "a zombie counts as alive");

    nn_tmp_owner reused = me, old_boot = live, foreign = dead;
    reused.start = me.start + 1;
    old_boot.boot = me.boot ^ 1;
    foreign.ns = me.ns + 1;

    const char *gone[] = {tmp_of("dead.ckpt", &dead), tmp_of("reused.ckpt", &reused),
                          tmp_of("zombie.ckpt", &zombie), tmp_of("old_boot.iotc", &old_boot),
                          tmp_of("foreign_old.png", &foreign), NULL, NULL};
    char legacy_dead[64], legacy_iotc[64], legacy_live[64], legacy_other[64];
    snprintf(legacy_dead, sizeof legacy_dead, "run.ckpt.tmp.%d", (int)dead_pid);
    snprintf(legacy_iotc, sizeof legacy_iotc, "m.iotc.tmp.%d", (int)dead_pid);
    snprintf(legacy_live, sizeof legacy_live, "live.ckpt.tmp.%d", (int)live_pid);
    snprintf(legacy_other, sizeof legacy_other, "notes.txt.tmp.%d", (int)dead_pid);
    gone[5] = legacy_dead, gone[6] = legacy_iotc;
    const char *kept[] = {tmp_of("live.ckpt", &live),
                          tmp_of("mine.ckpt", &me),
                          tmp_of("foreign_new.ckpt", &foreign),
                          legacy_live,
                          legacy_other,
                          "m.ckpt",
                          "m.ckpt.tmp",
                          "notes.tmp.123",
                          "x.ckpt.tmp.abc",
                          "a.tmp.1.2.zzzzzzzz.3",
                          "a.tmp.1.2.0a1b2c3.3",
                          "a.tmp.1.2.0A1B2C3D.3",
                          "a.tmp.1.2.0a1b2c3d.3x",
                          "a.ckpt.tmp.-5"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        touch(gone[i], strncmp(gone[i], "foreign_old", 11) == 0 ? NN_TMP_FOREIGN_AGE + 60 : 0);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        touch(kept[i], 0);
    /* Only regular files: a directory and a symlink with a dead writer's
     * name stay. */
    char path[512];
    const char *dir_name = tmp_of("adir.ckpt", &dead), *link_name = tmp_of("alink.ckpt", &dead);
    snprintf(path, sizeof path, "%s/%s", g_dir, dir_name);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/%s", g_dir, link_name);
    cr_assert_eq(symlink("m.ckpt", path), 0);

    int removed = nn_tmp_sweep(g_dir, &me);
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        cr_expect(!present(gone[i]), "stale %s was kept", gone[i]);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        cr_expect(present(kept[i]), "%s was removed", kept[i]);
    cr_expect(present(dir_name) && present(link_name));
    cr_expect_eq(removed, (int)(sizeof gone / sizeof gone[0]));
    cr_expect_eq(nn_tmp_sweep(g_dir, &me), 0, "a second sweep found more");

    close(live_fd);
    waitpid(live_pid, NULL, 0);
    waitpid(zombie_pid, NULL, 0);
    /* Once its writer is gone, the live one's temporary is stale too. */
    cr_expect_eq(nn_tmp_sweep(g_dir, &me), 2); /* its current and its legacy name */
    cr_expect(!present(kept[0]) && !present(legacy_live));
}

/* Plants the temporary of base that a writer killed before finishing
 * would leave (a process of this boot that has exited); returns its name. */
static const char *plant_dead_writers_tmp(const char *base)
{
    nn_tmp_owner dead;
    nn_tmp_owner_self(&dead);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    dead.pid = pid;
    const char *name = tmp_of(base, &dead);
    touch(name, 0);
    return name;
}

/* Every write sweeps the target's directory (and only that one). */
Test(tmp, atomic_write_sweeps_its_directory, .init = make_dir, .fini = remove_dir)
{
    const char *stale = plant_dead_writers_tmp("m.ckpt");
    char sub[512], path[1024];
    snprintf(sub, sizeof sub, "%s/sub", g_dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/sub/%s", g_dir, stale);
    ch_spit(path, "x", 1);

    snprintf(path, sizeof path, "%s/m.ckpt", g_dir);
    nn_error err;
    cr_assert_eq(nn_write_file_atomic(path, "data", 4, &err), NN_OK, "%s", err.msg);
    cr_expect(!present(stale), "the stale temporary survived the next write");
    snprintf(path, sizeof path, "sub/%s", stale);
    cr_expect(present(path), "a write swept another directory");
}

/* The probe that `train -o` makes before any work has a temporary's name,
 * so it sweeps first too: a run killed during the probe must not leave the
 * leftovers of the runs killed before it (scripts/kill9_check.sh found it). */
Test(tmp, writable_probe_sweeps_its_directory, .init = make_dir, .fini = remove_dir)
{
    const char *stale = plant_dead_writers_tmp("m.ckpt");
    char path[1024];
    snprintf(path, sizeof path, "%s/m.ckpt", g_dir);
    nn_error err;
    cr_assert_eq(nn_check_writable(path, &err), NN_OK, "%s", err.msg);
    cr_expect(!present(stale), "the probe left a stale temporary in place");
    cr_expect(!present("m.ckpt"), "the probe left a file behind");
}

/* A name this very process would use already exists (planted, or another
 * thread writing the same path): the write fails naming the step and the
 * reason, and neither the planted file nor the target is touched. */
Test(tmp, atomic_write_never_writes_through_a_name_it_did_not_make, .init = make_dir,
     .fini = remove_dir)
{
    char path[512], planted[600], victim[512];
    snprintf(path, sizeof path, "%s/m.ckpt", g_dir);
    snprintf(victim, sizeof victim, "%s/victim", g_dir);
    ch_spit(victim, "keep", 4);
    nn_tmp_owner me;
    nn_tmp_owner_self(&me);
    cr_assert_lt(nn_tmp_name(planted, sizeof planted, path, &me), (int)sizeof planted);
    cr_assert_eq(symlink(victim, planted), 0);
    nn_error err;
    cr_assert_eq(nn_write_file_atomic(path, "data", 4, &err), NN_ERR_IO);
    cr_expect(strstr(err.msg, path) && strstr(err.msg, strerror(EEXIST)), "%s", err.msg);
    char *v = ch_slurp(victim, NULL);
    cr_expect_str_eq(v, "keep");
    free(v);
    struct stat sb;
    cr_expect(lstat(planted, &sb) == 0 && S_ISLNK(sb.st_mode), "the planted link was removed");
    cr_expect(lstat(path, &sb) != 0, "the target was created");
}

/* Without /proc (a fresh mount namespace with an empty tmpfs over it) the
 * unnamed temporary cannot be linked and there is no identity to read:
 * the write goes through its named fallback and still leaves exactly the
 * target. Needs the privilege to make a mount namespace. */
Test(tmp, atomic_write_named_fallback_without_proc, .init = make_dir, .fini = remove_dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/m.ckpt", g_dir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("none", "/proc", "tmpfs", 0, NULL) != 0)
            _exit(77);
        if (access("/proc/self/stat", F_OK) == 0)
            _exit(78);
        nn_error err;
        _exit(nn_write_file_atomic(path, "named", 5, &err) == NN_OK ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        cr_skip_test("cannot make a mount namespace here (needs root)");
    cr_assert_eq(WEXITSTATUS(status), 0, "the named fallback failed (%d)", WEXITSTATUS(status));
    char *got = ch_slurp(path, NULL);
    cr_expect_str_eq(got, "named");
    free(got);
    DIR *d = opendir(g_dir);
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        entries += e->d_name[0] != '.';
    closedir(d);
    cr_expect_eq(entries, 1, "a temporary was left next to the target");
}
