/* SPDX-License-Identifier: MIT */
#pragma once

/* Rendezvous (highest-random-weight) hashing of a firing over the members of a fleet: every
 * member computes the same order from the same list, so the member ranked first claims the
 * firing at once and the others only later (daemon/core/elect.c). The weight of a member is
 * a hash of (member id, job, scheduled instant): each firing ranks the members afresh, so
 * work spreads evenly, and a member that leaves moves only the firings it ranked first. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The weight of member for the firing (job, scheduled): fmix64 of FNV-1a over
 * "MEMBER\0JOB\0" and the instant's 8 bytes, little-endian. */
uint64_t rendezvous_weight(const char *member, const char *job, int64_t scheduled);

/* self's rank for the firing among self and members (0: claims first): how many members
 * other than self weigh more (ties go to the smaller id). Duplicates of self in members are
 * not counted; members may be NULL when n is 0 (rank 0). */
unsigned rendezvous_rank(const char *self, const char *const *members, size_t n,
                         const char *job, int64_t scheduled);

/* The turn of rank `rank` for a firing, with `candidates` candidates (at least 1): how many
 * staggers it waits before it looks at the firing. Rank 0 claims at once, rank r below
 * candidates after r staggers, every other rank after candidates + 1 (the margin is one
 * more stagger), so that a fleet whose candidates all died still runs the firing. */
unsigned rendezvous_turn(unsigned rank, unsigned candidates);

/* The fallback rank of a fleet of n members (self included), which looks when every
 * candidate died: rank `candidates`, the first that is no candidate; a fleet of candidates
 * members or fewer has none, and its last rank, n - 1, takes its place. */
unsigned rendezvous_fallback(unsigned n, unsigned candidates);

/* Does rank `rank` of a fleet of n members look at the firing at all, when a look costs the
 * store a request (S3: a GET of the firing's record)? Rank 0 claims; of the lower ranks only
 * two look, so that a firing costs the same whatever the fleet's size: rank 1, the backup
 * when rank 0 died, and the fallback rank. With candidates 1, rank 1 is both. */
bool rendezvous_looks(unsigned rank, unsigned n, unsigned candidates);

/* The same where the winner cannot tell the others and every look costs a request (S3):
 * only rank 0 and the fallback rank look, so that a firing costs one look, not two. A
 * firing whose rank 0 died then runs at the fallback's turn, not rank 1's, and one is left
 * unrun only when rank 0 and the fallback rank died together. */
bool rendezvous_looks_alone(unsigned rank, unsigned n, unsigned candidates);

/* The members that look at the firing (rendezvous_looks()) other than self, which claimed
 * it: the members ranked 0, 1 and fallback among members and self (self may or may not be
 * in members; members has no duplicates). At most three into ret, best first; returns how
 * many, or -ENOMEM. A claim that won tells them (etcd: a note in their inbox), so that
 * they stand down without asking the store. */
int rendezvous_lookers(const char *self, const char *const *members, size_t n,
                       const char *job, int64_t scheduled, unsigned candidates,
                       const char *ret[static 3]);

/* Does self ask the store whether a firing that holder holds ran (the missed-firing check,
 * daemon/core/missed.c)? One of the members that looked at it and found it held asks. With
 * `alone` (rendezvous_looks_alone()): the looker that is not the holder, so the fallback
 * rank, or rank 0 when the holder is the fallback (when no member knew the others at the
 * firing's instant, rank 0 and the fallback are ranked only at the fallback's turn and both
 * claim at once: either may win). Otherwise the member ranked first once the holder is left
 * out (rank 0 or 1: both look). Ranks among members and self, as rendezvous_lookers(). A
 * holder that is not among members cannot be ranked: every member that found it held asks
 * (the alarm's conditional create keeps the raise to one). Returns 1, 0, or -ENOMEM. */
int rendezvous_checker(const char *self, const char *const *members, size_t n,
                       const char *holder, const char *job, int64_t scheduled,
                       unsigned candidates, bool alone);

/* Who takes over self's turn at a firing that self cannot run (its previous run of the job is
 * still going and its overlap policy skips): the members that do not look at the firing are
 * its spares, in rank order. The i-th of the L lookers (rank 0, 1, the fallback) hands its
 * turn to spare i, and spare j, when it stood in and cannot either, to spare j + L: each
 * looker has a lane of spares of its own, so that no member is handed the same turn twice.
 * Returns 1 with *ret (one of members), 0 when there is none (the lane has no further
 * spare), -ENOMEM. */
int rendezvous_successor(const char *self, const char *const *members, size_t n,
                         const char *job, int64_t scheduled, unsigned candidates,
                         const char **ret);
