/* test_cli_fail.c - end to end ($IOTCNN_BIN), how runs fail: training that
 * diverges (from the start, after a good epoch, in prune's fine-tuning)
 * stops with exit 1 and the divergence message, keeping the last good
 * checkpoint and nothing else; a write that fails (an output path that is
 * a directory, a missing or unwritable directory, a full disk simulated
 * with a file size limit) exits 1 with the path and the OS reason and
 * leaves no output and no temporary behind; so does standard output on a
 * full device. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_helpers.h"
#include "fixtures.h"
#include "kept_checkpoint.h"

/* The network of test_cli.c; %s is the learning rate, then extra blocks. */
static const char *net =
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2], \"std\": [0.3],"
    "  \"validation\": 100},"
    " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, \"pad\": 1},"
    "  {\"type\": \"batchnorm\"}, {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"size\": 2},"
    "  {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"
    " \"train\": {\"epochs\": 3, \"batch_size\": 16, \"seed\": 5, \"lr\": %s,"
    "  \"optimizer\": {\"type\": \"sgd\", \"momentum\": 0.9, \"nesterov\": true},"
    "  \"schedule\": {\"type\": \"cosine\"}}%s}";

/* dir with data/, good.json (lr 0.05) and absurd.json (lr 10^4). */
static void setup(char *dir, size_t size)
{
    ch_data_dir(dir, size);
    char text[2048];
    snprintf(text, sizeof text, net, "0.05", "");
    ch_write_text(dir, "good.json", text);
    snprintf(text, sizeof text, net, "1e4", "");
    ch_write_text(dir, "absurd.json", text);
}

static void expect_in(const char *text, const char *what)
{
    cr_expect_not_null(strstr(text, what), "expected \"%s\" in: %s", what, text);
}

/* ---- divergence ---------------------------------------------------------- */

Test(cli_fail, absurd_learning_rate_stops_before_any_checkpoint, .timeout = 60)
{
    char dir[64];
    setup(dir, sizeof dir);
    ch_expect_exit(dir, "train -c absurd.json -o m.ckpt --threads 2", 1, "training diverged",
                   "try a lower train.lr", "at epoch 1, batch ", "no checkpoint was written");
    cr_expect(!ch_exists(dir, "m.ckpt") && !ch_exists(dir, "m.metrics.jsonl"), "output left");
    cr_expect_eq(ch_count_named(dir, ".tmp"), 0);
    fx_rmtree(dir);
}

/* A good first epoch, then the run resumed with the absurd rate: exit 1,
 * and the checkpoint on disk is epoch 1's, byte for byte, finite; resumed
 * again with the good rate, the metrics log has epochs 1, 2, 3 once each. */
Test(cli_fail, divergence_keeps_the_last_good_checkpoint, .timeout = 60)
{
    char dir[64], path[600];
    setup(dir, sizeof dir);
    ch_run_ok(dir, "train -c good.json -o m.ckpt --threads 2 --stop-after 1");
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    size_t good_len;
    char *good = ch_slurp(path, &good_len);
    cr_assert_not_null(good);

    ch_expect_exit(dir, "train --resume m.ckpt -c absurd.json --threads 2", 1, "training diverged",
                   "at epoch 2, batch ", "the checkpoint of the last good epoch is kept");
    expect_kept_checkpoint(path, good, good_len, 1);
    /* With a sane rate again, the resumed run ends with one metrics line
     * per epoch. */
    ch_run_ok(dir, "train --resume m.ckpt -c good.json --threads 2");
    snprintf(path, sizeof path, "%s/m.metrics.jsonl", dir);
    char *metrics = ch_slurp(path, NULL);
    cr_assert_not_null(metrics);
    cr_expect(strncmp(metrics, "{\"epoch\":1,", 11) == 0, "%s", metrics);
    const char *e2 = strstr(metrics, "\n{\"epoch\":2,"), *e3 = strstr(metrics, "\n{\"epoch\":3,");
    cr_expect(e2 && e3 && e2 < e3 && strchr(e3 + 1, '\n')[1] == '\0', "%s", metrics);
    cr_expect_eq(ch_count_named(dir, ".tmp"), 0);
    free(good), free(metrics);
    fx_rmtree(dir);
}

Test(cli_fail, prune_finetuning_divergence_writes_nothing, .timeout = 60)
{
    char dir[64], text[2048];
    setup(dir, sizeof dir);
    snprintf(text, sizeof text, net, "0.05",
             ", \"prune\": {\"sparsity\": 0.5, \"finetune\": {\"epochs\": 2, \"lr\": 1e4}}");
    ch_write_text(dir, "prune.json", text);
    ch_run_ok(dir, "train -c good.json -o m.ckpt --threads 2 --epochs 1");
    ch_expect_exit(dir, "prune -c prune.json -m m.ckpt -o p.ckpt --threads 2", 1,
                   "training diverged", "try a lower prune.finetune.lr",
                   "fine-tuning stopped; p.ckpt was not written");
    cr_expect(!ch_exists(dir, "p.ckpt"), "a pruned model was written");
    cr_expect_eq(ch_count_named(dir, ".tmp"), 0);
    fx_rmtree(dir);
}

/* ---- failed writes ------------------------------------------------------- */

/* The metrics log cannot be written: the message names it with the OS
 * reason; the directory in its way is untouched and no temporary stays. */
Test(cli_fail, metrics_log_that_cannot_be_written, .timeout = 60)
{
    char dir[64], path[600];
    setup(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.metrics.jsonl", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    ch_expect_exit(dir, "train -c good.json -o m.ckpt --threads 2 --epochs 1", 1,
                   "m.metrics.jsonl", strerror(EISDIR));
    struct stat sb;
    cr_expect(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
    cr_expect_eq(ch_count_named(dir, ".tmp"), 0);
    fx_rmtree(dir);
}

/* Outputs in a missing directory, under a file, or where a directory is. */
Test(cli_fail, output_paths_that_cannot_be_written, .timeout = 60)
{
    char dir[64];
    setup(dir, sizeof dir);
    ch_write_text(dir, "file.txt", "x");
    char adir[600];
    snprintf(adir, sizeof adir, "%s/adir", dir);
    cr_assert_eq(mkdir(adir, 0755), 0);
    const struct {
        const char *args, *path;
        int err;
    } cases[] = {
        {"train -c good.json -o nodir/m.ckpt --epochs 1 --threads 2", "nodir/m.ckpt", ENOENT},
        {"train -c good.json -o file.txt/m.ckpt --epochs 1 --threads 2", "file.txt/m.ckpt",
         ENOTDIR},
        {"train -c good.json -o adir --epochs 1 --threads 2", "adir", EISDIR},
        {"augment -c good.json -o adir", "adir", EISDIR},
        {"quantize -c good.json -m missing.ckpt -o nodir/q.iotc", "nodir/q.iotc", ENOENT},
        {"prune -c good.json -m missing.ckpt -o nodir/p.ckpt", "nodir/p.ckpt", ENOENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ch_result r = ch_run(dir, cases[i].args);
        cr_expect_eq(r.status, 1, "%s: exit %d: %s", cases[i].args, r.status, r.err);
        expect_in(r.err, cases[i].path);
        expect_in(r.err, strerror(cases[i].err));
        /* checked before any work: no epoch ran, no model was read */
        cr_expect_null(strstr(r.err, "epoch"), "%s: trained first: %s", cases[i].args, r.err);
        cr_expect_null(strstr(r.err, "missing.ckpt"), "%s: read first: %s", cases[i].args, r.err);
        ch_free(&r);
    }
    cr_expect(!ch_exists(dir, "nodir") && !ch_exists(dir, "m.ckpt"));
    cr_expect_eq(ch_count_named(dir, ".tmp"), 0);
    cr_expect_eq(ch_count_named(adir, ".tmp"), 0);
    fx_rmtree(dir);
}

/* Runs "$IOTCNN_BIN args" in dir as user nobody when this is root (root
 * writes through permissions); returns the exit status and stderr. */
static ch_result run_unprivileged(const char *dir, const char *args)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && exec '%s' %s </dev/null >/dev/null", dir,
             getenv("IOTCNN_BIN"), args);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            _exit(99);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(98);
    }
    close(fds[1]);
    ch_result r = {0, calloc(1, 1), calloc(8192, 1)};
    size_t got = 0;
    ssize_t n;
    while (got < 8191 && (n = read(fds[0], r.err + got, 8191 - got)) > 0)
        got += (size_t)n;
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    r.status = WEXITSTATUS(status);
    cr_assert(r.status != 99, "cannot drop privileges to run as nobody");
    return r;
}

Test(cli_fail, unwritable_directory, .timeout = 60)
{
    char dir[64], ro[600];
    setup(dir, sizeof dir);
    snprintf(ro, sizeof ro, "%s/ro", dir);
    cr_assert_eq(mkdir(ro, 0555), 0);
    cr_assert_eq(chmod(ro, 0555), 0);
    cr_assert_eq(chmod(dir, 0755), 0); /* nobody can read data/ and the configs */
    ch_result r = run_unprivileged(dir, "train -c good.json -o ro/m.ckpt --epochs 1 --threads 2");
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    expect_in(r.err, "ro/m.ckpt");
    expect_in(r.err, strerror(EACCES));
    cr_expect_eq(ch_count_named(ro, ".tmp"), 0);
    cr_expect(!ch_exists(ro, "m.ckpt") && !ch_exists(ro, "m.metrics.jsonl"));
    ch_free(&r);
    fx_rmtree(dir);
}

/* A full disk, simulated: with a file size limit of 8 KiB (SIGXFSZ
 * ignored, as the shell passes it on) the 19 KB checkpoint's write fails
 * with EFBIG; nothing is left, not even an empty or partial file. */
Test(cli_fail, full_disk_leaves_no_partial_file, .timeout = 60)
{
    char dir[64];
    setup(dir, sizeof dir);
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = (struct rlimit){8192, old.rlim_max};
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ch_expect_exit(dir, "train -c good.json -o m.ckpt --epochs 1 --threads 2", 1, "m.ckpt",
                   strerror(EFBIG));
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    cr_expect(!ch_exists(dir, "m.ckpt") && !ch_exists(dir, "m.metrics.jsonl"), "output left");
    cr_expect_eq(ch_count_named(dir, ".tmp"), 0);
    fx_rmtree(dir);
}

/* Standard output on a full device: exit 1 with the reason, not 0 with a
 * result that never arrived. */
Test(cli_fail, standard_output_that_cannot_be_written, .timeout = 60)
{
    char dir[64], cmd[1024], path[600];
    setup(dir, sizeof dir);
    ch_run_ok(dir, "train -c good.json -o m.ckpt --threads 2 --epochs 1");
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' info -m m.ckpt --json >/dev/full 2>err", dir,
             getenv("IOTCNN_BIN"));
    int rc = system(cmd);
    cr_assert(WIFEXITED(rc));
    cr_expect_eq(WEXITSTATUS(rc), 1);
    snprintf(path, sizeof path, "%s/err", dir);
    char *err = ch_slurp(path, NULL);
    cr_assert_not_null(err);
    expect_in(err, "standard output");
    expect_in(err, strerror(ENOSPC));
    free(err);
    fx_rmtree(dir);
}

/* A command other than train started by mpirun as one of several processes
 * (the environment mpirun sets, Open MPI's and PMI's): process 0 refuses
 * with one message and exit 2, writing nothing; the others end silently
 * with 0 (mpirun then reports process 0's status). Before any MPI call, so
 * the same in the default and the MPI build; train, --version and help
 * still run (train's own refusal is pl_dist_none.c's, scripts/check_mpi.sh). */
Test(cli_fail, commands_other_than_train_refuse_to_run_under_mpirun, .timeout = 60)
{
    char dir[512];
    ch_data_dir(dir, sizeof dir);
    const char *bin = ch_iotcnn_bin();
    const char *cmds[] = {"info -m m.ckpt", "prune -c cfg.json -m m.ckpt -o p.ckpt",
                          "quantize -c cfg.json -m m.ckpt -o q.iotc", "eval -m q.iotc",
                          "export -m q.iotc -o fw", "predict -m q.iotc x.png",
                          "compare m.ckpt q.iotc", "augment -c cfg.json -o a.png"};
    const char *envs[] = {"OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=%d", "PMI_SIZE=3 PMI_RANK=%d"};
    for (size_t e = 0; e < sizeof envs / sizeof envs[0]; e++)
        for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++)
            for (int rank = 0; rank < 2; rank++) {
                char env[128], args[1024];
                snprintf(env, sizeof env, envs[e], rank);
                snprintf(args, sizeof args, "%s '%s' %s", env, bin, cmds[c]);
                ch_result r = ch_run_bin(dir, "env", args);
                cr_expect_eq(r.status, rank == 0 ? 2 : 0, "%s: exit %d: %s", args, r.status,
                             r.err);
                int lines = 0;
                for (const char *p = r.err; (p = strchr(p, '\n')); p++)
                    lines++;
                cr_expect_eq(lines, rank == 0 ? 1 : 0, "%s: stderr: %s", args, r.err);
                if (rank == 0)
                    cr_expect_not_null(strstr(r.err, "only `iotcnn train` runs over several "
                                                     "processes"),
                                       "%s: %s", args, r.err);
                ch_free(&r);
            }
    const char *outputs[] = {"p.ckpt", "q.iotc", "fw", "a.png"};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
        cr_expect(!ch_exists(dir, outputs[i]), "a command under mpirun wrote %s", outputs[i]);
    ch_result v = ch_run_bin(dir, "env", "OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=1 "
                                         "$IOTCNN_BIN --version");
    cr_expect_eq(v.status, 0, "--version under mpirun: %s", v.err);
    ch_free(&v);
}
