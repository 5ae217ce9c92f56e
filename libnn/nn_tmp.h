/* nn_tmp.h - the temporaries of atomic writes: whose they are, and the
 * sweep that removes those whose writer died.
 *
 * nn_write_file_atomic (nn_io.h) writes PATH through a temporary next to
 * it. Where the file system allows (Linux O_TMPFILE) that temporary has no
 * name until the data is written and synced, so a writer killed mid-write
 * leaves nothing behind; it then gets, for the instant between linking it
 * and renaming it over PATH, the name (also the name of the whole write
 * where O_TMPFILE is not available)
 *
 *     PATH.tmp.<pid>.<start>.<boot>.<ns>
 *
 * pid    the writer's process id
 * start  its start time, in clock ticks after boot (/proc/PID/stat)
 * boot   the first 8 hex digits of the boot id (/proc/sys/kernel/random/boot_id)
 * ns     the inode of its pid namespace (/proc/self/ns/pid)
 * (0 for what cannot be read). A pid is reused, but not with the same start
 * time in the same boot, so the four name one process for good.
 *
 * Before every write, nn_write_file_atomic sweeps the target's directory
 * and removes the temporaries of writers that are gone; a temporary is
 * stale when
 *   - its boot differs from ours: its writer ran before a reboot;
 *   - same boot and pid namespace: no live process has its pid, or the one
 *     that has it started at another time (the pid was reused); a zombie
 *     counts as gone;
 *   - another pid namespace (a container sharing the directory), where its
 *     writer cannot be seen from here: only once it is NN_TMP_FOREIGN_AGE
 *     seconds old (a live writer finishes a file long before).
 * Temporaries of other iotcnn processes alive on this machine are never
 * touched. The names older versions used, FILE.ckpt.tmp.<pid> and
 * FILE.iotc.tmp.<pid>, are removed when no process has that pid. Nothing
 * else is: only regular files whose whole name matches one of the patterns. */
#ifndef NN_TMP_H
#define NN_TMP_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NN_TMP_FOREIGN_AGE 3600

typedef struct {
    long long pid;
    unsigned long long start; /* clock ticks after boot              */
    unsigned long boot;       /* first 32 bits of the boot id        */
    unsigned long long ns;    /* inode of the pid namespace          */
} nn_tmp_owner;

/* The identity of this process. */
void nn_tmp_owner_self(nn_tmp_owner *o);

/* The identity of live process pid as seen from here (boot and namespace
 * ours); 0 when it is not alive (or a zombie), 1 when it is. */
int nn_tmp_owner_of(pid_t pid, nn_tmp_owner *o);

/* Writes "PATH.tmp.<pid>.<start>.<boot>.<ns>" into buf (cap bytes);
 * returns the length it needs (as snprintf: >= cap means cut). */
int nn_tmp_name(char *buf, size_t cap, const char *path, const nn_tmp_owner *o);

/* Removes the stale temporaries (above) in directory dir; me is this
 * process (nn_tmp_owner_self). Best effort: what cannot be listed, judged
 * or removed is left alone. Returns how many were removed. */
int nn_tmp_sweep(const char *dir, const nn_tmp_owner *me);

#ifdef __cplusplus
}
#endif

#endif
