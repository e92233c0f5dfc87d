/* SPDX-License-Identifier: MIT */
#pragma once

/* Rendezvous (highest-random-weight) hashing of a firing over the members of a fleet: every
 * member computes the same order from the same list, so the member ranked first claims the
 * firing at once and the others only later (daemon/core/elect.c). The weight of a member is
 * a hash of (member id, job, scheduled instant): each firing ranks the members afresh, so
 * work spreads evenly, and a member that leaves moves only the firings it ranked first. */

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
