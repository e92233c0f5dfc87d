/* SPDX-License-Identifier: MIT */
/* The alarms of the etcd lease backend: one uv timer per store at the earliest alarm, so
 * that objects holding an alarm free synchronously (no uv_close to wait for). The armed
 * alarms form a pairing heap through the Alarm structs themselves: arming is O(1) and
 * disarming or running the earliest O(log n) amortized, with nothing to allocate (arming
 * cannot fail, unlike a push onto the scheduler's array heap, sched/heap.c), so that a
 * store with thousands of calls, watches and retries in flight (a fleet at its limit)
 * does not spend its time walking a sorted list. Alarms due at the same millisecond run in
 * the order they were armed. */
#include "lease_etcd_internal.h"

static void etcd_on_timer(uv_timer_t *t);

static bool before(const Alarm *a, const Alarm *b) {
        return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

/* One heap of two roots (either may be NULL). */
static Alarm *meld(Alarm *a, Alarm *b) {
        Alarm *t;

        if (!a || !b)
                return a ? a : b;
        if (before(b, a)) {
                t = a;
                a = b;
                b = t;
        }
        b->sibling = a->child;          /* b becomes a's first child */
        if (a->child)
                a->child->prev = b;
        b->prev = a;
        a->child = b;
        return a;
}

/* The siblings from first on, paired left to right, then melded right to left. */
static Alarm *meld_siblings(Alarm *first) {
        Alarm *pairs = NULL, *root = NULL, *a, *b, *next;

        while (first) {
                a = first;
                b = a->sibling;
                first = b ? b->sibling : NULL;
                a->sibling = a->prev = NULL;
                if (b)
                        b->sibling = b->prev = NULL;
                a = meld(a, b);
                a->sibling = pairs;     /* a stack of the pairs, through sibling */
                pairs = a;
        }
        for (; pairs; pairs = next) {
                next = pairs->sibling;
                pairs->sibling = NULL;
                root = meld(root, pairs);
        }
        return root;
}

static void alarms_rearm(EtcdStore *s) {
        uint64_t now = lease_etcd_now_ms(s);

        if (!s->alarms || s->http_closing)
                (void) uv_timer_stop(&s->timer);
        else
                (void) uv_timer_start(&s->timer, etcd_on_timer,
                                      s->alarms->when > now ? s->alarms->when - now : 0, 0);
}

/* a out of the heap, its children melded back in. */
static void alarm_unlink(EtcdStore *s, Alarm *a) {
        Alarm *rest = meld_siblings(a->child);

        if (a == s->alarms)
                s->alarms = rest;
        else {
                if (a->prev->child == a)        /* a first child: prev is its parent */
                        a->prev->child = a->sibling;
                else
                        a->prev->sibling = a->sibling;
                if (a->sibling)
                        a->sibling->prev = a->prev;
                s->alarms = meld(s->alarms, rest);
        }
        a->child = a->sibling = a->prev = NULL;
        a->armed = false;
}

void lease_etcd_alarm_disarm(EtcdStore *s, Alarm *a) {
        if (!a->armed)
                return;
        alarm_unlink(s, a);
        alarms_rearm(s);
}

void lease_etcd_alarm_arm(EtcdStore *s, Alarm *a, uint64_t when, void (*fn)(Alarm *a)) {
        if (a->armed)
                alarm_unlink(s, a);
        *a = (Alarm) { .when = when, .seq = ++s->alarm_seq, .fn = fn, .armed = true };
        s->alarms = meld(s->alarms, a);
        alarms_rearm(s);
}

static void etcd_on_timer(uv_timer_t *t) {
        EtcdStore *s = container_of(t, EtcdStore, timer);
        uint64_t now = lease_etcd_now_ms(s);
        Alarm *a;

        while ((a = s->alarms) && a->when <= now) {
                alarm_unlink(s, a);
                a->fn(a);               /* may arm and disarm alarms, free its owner */
        }
        alarms_rearm(s);
}
