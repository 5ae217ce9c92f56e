/* pl_dist_launch.c - what mpirun tells the processes it starts, read from
 * the environment (pl_dist.h): the same in the MPI and the default build. */
#include "pl_dist.h"

#include <stdlib.h>

/* The first of these variables that is set, as a number; -1 if none is. */
static int env_number(const char *const *vars, int n)
{
    for (int i = 0; i < n; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v);
    }
    return -1;
}

int pl_dist_launched_size(void)
{
    /* Open MPI, then MPICH / Hydra (PMI) and Slurm's PMI-2 */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    int n = env_number(vars, (int)(sizeof vars / sizeof vars[0]));
    return n > 1 ? n : 1;
}

int pl_dist_launched_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
    int r = env_number(vars, (int)(sizeof vars / sizeof vars[0]));
    return r > 0 ? r : 0;
}
