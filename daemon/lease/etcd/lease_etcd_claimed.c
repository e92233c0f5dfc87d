/* SPDX-License-Identifier: MIT */
/* The firings other members claimed, as the notes in this daemon's inbox said
 * (lease_etcd_session.c), so that a lower rank that finds its firing claimed, and a
 * missed-firing check that finds it finished, answer without a request. An open-addressing
 * table (linear probing) of small entries keyed by a hash of the firing's key; an entry is
 * kept CLAIMED_KEEP_MS after the inbox last saw its note (the default missed_after is well
 * inside that), and the table is swept of older entries whenever it would grow, so it holds
 * about the firings this daemon is told of in that time: at most three per firing of the
 * fleet, a few KiB at a firing a second. A lookup that finds nothing costs a request, never
 * a wrong answer. Host names are interned: a fleet has few. */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "lease_etcd_internal.h"

#define CLAIMED_KEEP_MS         60000U          /* kept this long after last seen */
#define CLAIMED_CAP_MIN         64U
#define CLAIMED_CAP_MAX         (1U << 20)      /* entries; beyond: not noted (requests) */
#define CLAIMED_STRINGS_MAX     1024U           /* interned host names */

static uint64_t key_hash(const char *key, size_t n) {
        uint64_t h = fnv1a64(FNV1A64_OFFSET, key, n);

        return h ? h : 1;               /* 0: a free slot */
}

/* s's index of str (1-based; 0: none, or the list is full). */
static uint16_t intern(EtcdStore *s, const char *str) {
        char **p;

        if (!str)
                return 0;
        for (size_t i = 0; i < s->n_claimed_strings; i++)
                if (strcmp(s->claimed_strings[i], str) == 0)
                        return (uint16_t) (i + 1);
        if (s->n_claimed_strings >= CLAIMED_STRINGS_MAX ||
            !(p = realloc(s->claimed_strings, (s->n_claimed_strings + 1) * sizeof(char *))))
                return 0;
        s->claimed_strings = p;
        if (!(p[s->n_claimed_strings] = strdup(str)))
                return 0;
        return (uint16_t) ++s->n_claimed_strings;
}

const char *lease_etcd_claimed_string(const EtcdStore *s, uint16_t i) {
        return i > 0 && i <= s->n_claimed_strings ? s->claimed_strings[i - 1] : NULL;
}

static size_t slot_of(const EtcdClaimed *table, size_t cap, uint64_t hash) {
        size_t i = (size_t) (hash & (cap - 1));

        while (table[i].hash && table[i].hash != hash)
                i = (i + 1) & (cap - 1);
        return i;
}

/* Room for one more at a load of at most one half: the entries seen within CLAIMED_KEEP_MS
 * moved to a table four times their number (never below CLAIMED_CAP_MIN). */
static bool make_room(EtcdStore *s, uint64_t now) {
        size_t live = 0, cap = CLAIMED_CAP_MIN;
        EtcdClaimed *t;

        if (s->claimed && (s->n_claimed + 1) * 2 <= s->claimed_cap)
                return true;
        for (size_t i = 0; i < s->claimed_cap; i++)
                if (s->claimed[i].hash && now - s->claimed[i].at_ms < CLAIMED_KEEP_MS)
                        live++;
        while (cap < (live + 1) * 4 && cap < CLAIMED_CAP_MAX)
                cap *= 2;
        if ((live + 1) * 2 > cap || !(t = calloc(cap, sizeof(EtcdClaimed))))
                return false;
        for (size_t i = 0; i < s->claimed_cap; i++)
                if (s->claimed[i].hash && now - s->claimed[i].at_ms < CLAIMED_KEEP_MS)
                        t[slot_of(t, cap, s->claimed[i].hash)] = s->claimed[i];
        free(s->claimed);
        s->claimed = t;
        s->claimed_cap = cap;
        s->n_claimed = live;
        return true;
}

void lease_etcd_claimed_note(EtcdStore *s, const char *key, size_t n, const json_t *record) {
        const json_t *holder = json_object_get(record, "holder");
        uint64_t h = key_hash(key, n), now = lease_etcd_now_ms(s);
        EtcdClaimed *e;

        if (!make_room(s, now))
                return;                 /* full, or out of memory: a request answers */
        e = &s->claimed[slot_of(s->claimed, s->claimed_cap, h)];
        if (!e->hash)
                s->n_claimed++;
        *e = (EtcdClaimed) { .hash = h, .at_ms = now,
                          .pid = json_integer_value(json_object_get(holder, "pid")),
                          .host = intern(s, json_string_value(json_object_get(holder, "hostname"))),
                          .done = !lease_etcd_record_is_running(record) };
}

void lease_etcd_claimed_done(EtcdStore *s, const char *key, size_t n) {
        EtcdClaimed *e;

        if (!s->claimed)
                return;
        e = &s->claimed[slot_of(s->claimed, s->claimed_cap, key_hash(key, n))];
        if (!e->hash)
                return;         /* not told of its claim (or long ago): nothing to say */
        e->done = true;
        e->at_ms = lease_etcd_now_ms(s);
}

const EtcdClaimed *lease_etcd_claimed_find(EtcdStore *s, const char *key) {
        const EtcdClaimed *e;

        if (!s->claimed)
                return NULL;
        e = &s->claimed[slot_of(s->claimed, s->claimed_cap, key_hash(key, strlen(key)))];
        if (!e->hash || lease_etcd_now_ms(s) - e->at_ms >= CLAIMED_KEEP_MS)
                return NULL;
        return e;
}

void lease_etcd_claimed_free(EtcdStore *s) {
        for (size_t i = 0; i < s->n_claimed_strings; i++)
                free(s->claimed_strings[i]);
        free(s->claimed_strings);
        free(s->claimed);
}
