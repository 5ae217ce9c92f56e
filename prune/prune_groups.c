#include "prune_groups.h"

#include <string.h>

int pr_is_producer(const nn_node *nd)
{
    return nd->spec.type == NN_LAYER_CONV2D || nd->spec.type == NN_LAYER_DENSE;
}

void pr_groups_source(const pr_groups *g, int src, int *group, int *hw)
{
    if (src < 0) {
        *group = 0;
        *hw = 1;
    } else {
        *group = g->group[src];
        *hw = g->hw[src];
    }
}

const char *pr_group_fixed_reason(pr_group_fixed f)
{
    switch (f) {
    case PR_GROUP_FREE:
        return "prunable";
    case PR_GROUP_INPUT:
        return "its channels are added to the network input";
    case PR_GROUP_OUTPUT:
        return "its outputs are the class scores";
    case PR_GROUP_LAYOUT:
        return "an add joins it to a tensor flattened differently";
    }
    return "fixed";
}

/* Union-find over spaces: id 0 is the input, id i + 1 node i's own. */
static int find(int *parent, int x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static void unite(int *parent, int a, int b)
{
    a = find(parent, a), b = find(parent, b);
    if (a < b)
        parent[b] = a; /* the smaller id is the root: the input stays 0 */
    else if (b < a)
        parent[a] = b;
}

nn_status pr_groups_build(pr_groups *g, const nn_model *m, nn_error *err)
{
    memset(g, 0, sizeof *g);
    int n = m->n_nodes;
    int parent[PR_MAX_GROUPS], space[NN_MAX_LAYERS], chans[PR_MAX_GROUPS];
    pr_group_fixed flag[PR_MAX_GROUPS];
    for (int x = 0; x <= n; x++)
        parent[x] = x, flag[x] = PR_GROUP_FREE, chans[x] = 0;
    flag[0] = PR_GROUP_INPUT;
    chans[0] = m->spec.in_c;

    for (int i = 0; i < n; i++) {
        const nn_node *nd = &m->nodes[i];
        int src = nd->spec.input, s_space = src < 0 ? 0 : space[src];
        int s_hw = src < 0 ? 1 : g->hw[src];
        if (pr_is_producer(nd)) {
            space[i] = i + 1;
            g->hw[i] = 1;
            chans[i + 1] = nd->out_c;
            continue;
        }
        space[i] = s_space;
        g->hw[i] = s_hw;
        if (nd->spec.type == NN_LAYER_FLATTEN) {
            g->hw[i] = s_hw * nd->in_h * nd->in_w;
        } else if (nd->spec.type == NN_LAYER_ADD) {
            int src2 = nd->spec.input2;
            int s2_space = src2 < 0 ? 0 : space[src2], s2_hw = src2 < 0 ? 1 : g->hw[src2];
            if (s2_hw != s_hw)
                flag[s_space] = flag[s2_space] = PR_GROUP_LAYOUT;
            unite(parent, s_space, s2_space);
        }
    }
    if (n > 0 && flag[space[n - 1]] == PR_GROUP_FREE)
        flag[space[n - 1]] = PR_GROUP_OUTPUT;

    /* Roots in id order become groups 0, 1, ...; a root inherits the first
     * fixed reason of its members (the input's first, then in id order). */
    int number[PR_MAX_GROUPS];
    for (int x = 0; x <= n; x++)
        number[x] = -1;
    for (int x = 0; x <= n; x++) {
        int r = find(parent, x);
        if (x == 0 || (x > 0 && pr_is_producer(&m->nodes[x - 1]))) {
            if (number[r] < 0) {
                number[r] = g->n_groups++;
                g->channels[number[r]] = chans[r];
            }
            if (g->fixed[number[r]] == PR_GROUP_FREE)
                g->fixed[number[r]] = flag[x];
        }
    }
    for (int i = 0; i < n; i++) {
        g->group[i] = number[find(parent, space[i])];
        const nn_node *nd = &m->nodes[i];
        int gi = g->group[i];
        if (gi < 0)
            return nn_errorf(err, NN_ERR_ARG, "pruning: layer %d has no channel group", i);
        /* Fixed groups are never pruned; only free ones need the mapping. */
        if (g->fixed[gi] == PR_GROUP_FREE &&
            (size_t)g->channels[gi] * (size_t)g->hw[i] != (size_t)nd->out_c)
            return nn_errorf(err, NN_ERR_ARG,
                             "pruning: layer %d: %d output channels do not match its channel "
                             "group (%d channels x %d)",
                             i, nd->out_c, g->channels[gi], g->hw[i]);
    }
    return NN_OK;
}
