/* SPDX-License-Identifier: MIT */
/* Rendezvous hashing of firings over a fleet's members (see rendezvous.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "rendezvous.h"

uint64_t rendezvous_weight(const char *member, const char *job, int64_t scheduled) {
        uint64_t h = FNV1A64_OFFSET, t = (uint64_t) scheduled;
        unsigned char le[8];

        h = fnv1a64(h, member, strlen(member) + 1);
        h = fnv1a64(h, job, strlen(job) + 1);
        for (size_t i = 0; i < 8; i++)
                le[i] = (unsigned char) (t >> (8 * i));
        return fmix64(fnv1a64(h, le, sizeof(le)));
}

unsigned rendezvous_rank(const char *self, const char *const *members, size_t n,
                         const char *job, int64_t scheduled) {
        uint64_t mine = rendezvous_weight(self, job, scheduled);
        unsigned rank = 0;

        for (size_t i = 0; i < n; i++) {
                uint64_t w;
                int c = strcmp(members[i], self);

                if (c == 0)
                        continue;
                w = rendezvous_weight(members[i], job, scheduled);
                if (w > mine || (w == mine && c < 0))
                        rank++;
        }
        return rank;
}

unsigned rendezvous_turn(unsigned rank, unsigned candidates) {
        return rank < candidates ? rank : candidates + 1;
}

unsigned rendezvous_fallback(unsigned n, unsigned candidates) {
        return n > 0 && n - 1 < candidates ? n - 1 : candidates;
}

bool rendezvous_looks(unsigned rank, unsigned n, unsigned candidates) {
        return rank <= 1 || rank == rendezvous_fallback(n, candidates);
}

bool rendezvous_looks_alone(unsigned rank, unsigned n, unsigned candidates) {
        return rank == 0 || rank == rendezvous_fallback(n, candidates);
}

typedef struct Ranked {
        uint64_t weight;
        const char *id;
} Ranked;

/* Heavier first; of equal weights, the smaller id first (as rendezvous_rank() counts). */
static int ranked_compare(const void *a, const void *b) {
        const Ranked *x = a, *y = b;

        if (x->weight != y->weight)
                return x->weight > y->weight ? -1 : 1;
        return strcmp(x->id, y->id);
}

/* self and the members other than self, ranked for the firing: an array of *ret_m (caller
 * frees); NULL when out of memory. */
static Ranked *rank_all(const char *self, const char *const *members, size_t n,
                        const char *job, int64_t scheduled, size_t *ret_m) {
        Ranked *all = malloc((n + 1) * sizeof(Ranked));
        size_t m = 0;

        if (!all)
                return NULL;
        all[m++] = (Ranked) { rendezvous_weight(self, job, scheduled), self };
        for (size_t i = 0; i < n; i++)
                if (strcmp(members[i], self) != 0)
                        all[m++] = (Ranked) { rendezvous_weight(members[i], job, scheduled),
                                              members[i] };
        qsort(all, m, sizeof(Ranked), ranked_compare);
        *ret_m = m;
        return all;
}

int rendezvous_lookers(const char *self, const char *const *members, size_t n,
                       const char *job, int64_t scheduled, unsigned candidates,
                       const char *ret[static 3]) {
        size_t m;
        Ranked *all = rank_all(self, members, n, job, scheduled, &m);
        unsigned fallback;
        int k = 0;

        if (!all)
                return -ENOMEM;
        fallback = rendezvous_fallback((unsigned) m, candidates ? candidates : 1);
        for (size_t r = 0; r < m; r++)
                if ((r <= 1 || r == fallback) && all[r].id != self)
                        ret[k++] = all[r].id;
        free(all);
        return k;
}

int rendezvous_checker(const char *self, const char *const *members, size_t n,
                       const char *holder, const char *job, int64_t scheduled,
                       unsigned candidates, bool alone) {
        size_t m, held = SIZE_MAX, mine = SIZE_MAX, want = SIZE_MAX;
        Ranked *all = rank_all(self, members, n, job, scheduled, &m);
        unsigned fallback;

        if (!all)
                return -ENOMEM;
        fallback = rendezvous_fallback((unsigned) m, candidates ? candidates : 1);
        for (size_t r = 0; r < m; r++) {
                if (all[r].id == self)
                        mine = r;
                else if (strcmp(all[r].id, holder) == 0)
                        held = r;
                else if (want == SIZE_MAX)
                        want = r;       /* the first other than self and the holder */
        }
        free(all);
        if (held == SIZE_MAX)
                return 1;
        if (alone)
                return mine == (held == fallback ? 0 : fallback);
        return mine < want;             /* self ranks first once the holder is left out */
}

int rendezvous_successor(const char *self, const char *const *members, size_t n,
                         const char *job, int64_t scheduled, unsigned candidates,
                         const char **ret) {
        size_t m, lookers = 0, spares = 0, to = SIZE_MAX;
        Ranked *all = rank_all(self, members, n, job, scheduled, &m);
        unsigned k = candidates ? candidates : 1;
        bool self_looks = false;

        *ret = NULL;
        if (!all)
                return -ENOMEM;
        for (size_t r = 0; r < m; r++) {
                bool looks = rendezvous_looks((unsigned) r, (unsigned) m, k);

                if (all[r].id == self) {        /* the looker's index, or the spare's */
                        self_looks = looks;
                        to = looks ? lookers : spares;
                }
                if (looks)
                        lookers++;
                else
                        spares++;
        }
        if (!self_looks && to != SIZE_MAX)
                to += lookers;                  /* the next spare in self's lane */
        for (size_t r = 0, j = 0; r < m && to < spares; r++)
                if (!rendezvous_looks((unsigned) r, (unsigned) m, k) && j++ == to) {
                        *ret = all[r].id;
                        break;
                }
        free(all);
        return *ret ? 1 : 0;
}
