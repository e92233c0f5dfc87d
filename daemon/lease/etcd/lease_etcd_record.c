/* SPDX-License-Identifier: MIT */
/* The records of the etcd lease backend (see lease_etcd.c for the design) and their encoding:
 * keys and values travel in base64, int64 fields as JSON strings; range replies; the seen
 * cache of running records for takeovers. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_etcd_internal.h"
#include "lease_record.h"
#include "macro.h"
#include "parse.h"

#define ETCD_RECORD_MAX         (16U * 1024U)   /* a record we write or read */

/* ---- encoding ---- */

static const char b64_table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *lease_etcd_b64_encode(const void *data, size_t n) {
        const unsigned char *d = data;
        char *out = malloc(4 * ((n + 2) / 3) + 1), *p = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) d[i] << 16 | (i + 1 < n ? (uint32_t) d[i + 1] << 8 : 0) |
                             (i + 2 < n ? d[i + 2] : 0);

                *p++ = b64_table[v >> 18 & 63];
                *p++ = b64_table[v >> 12 & 63];
                *p++ = i + 1 < n ? b64_table[v >> 6 & 63] : '=';
                *p++ = i + 2 < n ? b64_table[v & 63] : '=';
        }
        *p = 0;
        return out;
}

/* Standard base64 with padding → *ret (NUL-terminated, *ret_size bytes). -EBADMSG if not. */
int lease_etcd_b64_decode(const char *s, size_t max, char **ret, size_t *ret_size) {
        size_t len = strlen(s), n = 0;
        char *out;

        if (len % 4 != 0 || len / 4 * 3 > max)
                return -EBADMSG;
        out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i += 4) {
                uint32_t v = 0;
                int pad = 0;

                for (size_t j = 0; j < 4; j++) {
                        const char *p = strchr(b64_table, s[i + j]);

                        if (s[i + j] == '=' && i + 4 == len && j >= 2) {
                                pad++;          /* "xx==" or "xxx=" at the very end */
                                v <<= 6;
                                continue;
                        }
                        if (!p || pad) {        /* strchr finds no '=' in the table */
                                free(out);
                                return -EBADMSG;
                        }
                        v = v << 6 | (uint32_t) (p - b64_table);
                }
                out[n++] = (char) (v >> 16);
                if (pad < 2)
                        out[n++] = (char) (v >> 8 & 0xff);
                if (pad < 1)
                        out[n++] = (char) (v & 0xff);
        }
        out[n] = 0;
        *ret = out;
        *ret_size = n;
        return 0;
}

/* etcd's int64 fields are JSON strings, and lease IDs exceed 2^53: never a double. proto3 omits
 * zero values: a missing field is 0 (-ENOENT tells so). -EBADMSG: not a number. */
int lease_etcd_json_u64(const json_t *o, const char *name, uint64_t *ret) {
        const json_t *v = json_object_get(o, name);

        *ret = 0;
        if (!v)
                return -ENOENT;
        if (json_is_string(v))
                return parse_uint64(json_string_value(v), UINT64_MAX, ret) < 0 ? -EBADMSG : 0;
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
                *ret = (uint64_t) json_integer_value(v);
                return 0;
        }
        return -EBADMSG;
}

/* ---- records ---- */

static json_t *record_from_base64(const char *value64) {
        _cleanup_free_ char *text = NULL;
        json_t *rec;
        size_t n;

        if (!value64 || lease_etcd_b64_decode(value64, ETCD_RECORD_MAX, &text, &n) < 0)
                return NULL;
        rec = json_loadb(text, n, 0, NULL);
        if (!json_is_object(rec)) {
                json_decref(rec);
                return NULL;
        }
        return rec;
}

char *lease_etcd_record_to_base64(const json_t *rec) {
        _cleanup_free_ char *text = json_dumps(rec, JSON_COMPACT);

        if (!text || strlen(text) > ETCD_RECORD_MAX)
                return NULL;
        return lease_etcd_b64_encode(text, strlen(text));
}

/* HELD's detail: "host-b pid 42" while it runs, "already run: succeeded" once final. */
void lease_etcd_record_describe(const json_t *rec, char *buf, size_t n) {
        const char *status = json_string_value(json_object_get(rec, "status"));
        const json_t *holder = json_object_get(rec, "holder");
        const char *hostname = json_string_value(json_object_get(holder, "hostname"));
        char host[96], st[48];

        if (!status) {
                (void) snprintf(buf, n, "held by a record solocron cannot read");
                return;
        }
        if (strcmp(status, "running") == 0)
                (void) snprintf(buf, n, "%s pid %" JSON_INTEGER_FORMAT,
                                lease_etcd_clean(hostname ?: "?", host, sizeof(host)),
                                json_integer_value(json_object_get(holder, "pid")));
        else
                (void) snprintf(buf, n, "already run: %s", lease_etcd_clean(status, st, sizeof(st)));
}

bool lease_etcd_record_read(json_t *rec, uint64_t mod_revision, LeaseRecord *ret) {
        /* The final record has its token; the running one was written before its
         * revision was known. */
        if (!lease_record_from_json(rec, ret))
                return false;
        if (ret->fencing_token == 0)
                ret->fencing_token = mod_revision;
        return true;
}

bool lease_etcd_record_is_running(const json_t *rec) {
        const char *status = json_string_value(json_object_get(rec, "status"));

        return status && strcmp(status, "running") == 0;
}

/* ---- ranges ---- */

/* The first kv of a range (or of a txn's failure range): NULL when there is none. */
const json_t *lease_etcd_range_kv(const json_t *range) {
        return json_array_get(json_object_get(range, "kvs"), 0);
}

/* One kv object (of a range, or of a watch event) → *ret, its value decoded (the caller
 * frees ret->record). -EBADMSG with *what saying what is wrong when it is malformed. */
int lease_etcd_kv_parse(const json_t *kv, Kv *ret, const char **what) {
        *ret = (Kv) { .found = true };
        if (!json_is_object(kv) || lease_etcd_json_u64(kv, "mod_revision", &ret->mod_revision) < 0 ||
            ret->mod_revision == 0) {
                *what = "no mod_revision";
                return -EBADMSG;
        }
        if (lease_etcd_json_u64(kv, "lease", &ret->lease) == -EBADMSG) {
                *what = "bad lease";
                return -EBADMSG;
        }
        ret->record = record_from_base64(json_string_value(json_object_get(kv, "value")));
        return 0;
}

/* The first kv of a range reply (or of a txn's failure range) → *ret, as lease_etcd_kv_parse();
 * ret->found is false when there is none. -EAGAIN after filling k->why when the kv is
 * malformed: the call tries the next endpoint. */
int lease_etcd_range_reply_kv(EtcdCall *k, const json_t *range, Kv *ret) {
        const json_t *kv = lease_etcd_range_kv(range);
        const char *what;

        *ret = (Kv) {};
        if (!kv)
                return 0;
        if (lease_etcd_kv_parse(kv, ret, &what) < 0) {
                (void) snprintf(k->why, sizeof(k->why), "malformed kv in reply: %s", what);
                return -EAGAIN;
        }
        return 0;
}

json_t *lease_etcd_body_range(const char *key64) {
        return json_pack("{s:s}", "key", key64);
}

json_t *lease_etcd_body_grant(uint64_t ttl_s) {
        char buf[21];

        (void) snprintf(buf, sizeof(buf), "%" PRIu64, ttl_s);
        return json_pack("{s:s}", "TTL", buf);
}

/* A lease grant's reply → the lease's ID; -EAGAIN after filling k->why when it is malformed. */
int lease_etcd_grant_parse(EtcdCall *k, const json_t *reply, uint64_t *ret_id) {
        uint64_t id, ttl;

        if (lease_etcd_json_u64(reply, "ID", &id) < 0 || id == 0 ||
            lease_etcd_json_u64(reply, "TTL", &ttl) < 0 || ttl == 0) {
                lease_etcd_call_why(k, "malformed reply to /v3/lease/grant: no ID or TTL");
                return -EAGAIN;
        }
        *ret_id = id;
        return 0;
}

/* ---- the seen cache: the last running record of a firing, for takeovers ---- */

void lease_etcd_seen_put(EtcdStore *s, const char *key, json_t *record, uint64_t mod_revision) {
        size_t i;
        char *k;

        for (i = 0; i < s->n_seen && strcmp(s->seen[i].key, key) != 0; i++)
                ;
        if (i < s->n_seen) {
                json_decref(s->seen[i].record);
                s->seen[i].record = json_incref(record);
                s->seen[i].mod_revision = mod_revision;
                return;
        }
        k = strdup(key);
        if (!k)
                return;
        if (s->n_seen == ETCD_SEEN_MAX) {           /* forget the oldest */
                free(s->seen[0].key);
                json_decref(s->seen[0].record);
                memmove(s->seen, s->seen + 1, sizeof(Seen) * --s->n_seen);
        }
        s->seen[s->n_seen++] = (Seen) { k, json_incref(record), mod_revision };
}

/* The old holder's record for a takeover, marked abandoned; NULL if never seen. */
json_t *lease_etcd_seen_take(EtcdStore *s, const char *key) {
        json_t *prev;

        for (size_t i = 0; i < s->n_seen; i++) {
                if (strcmp(s->seen[i].key, key) != 0)
                        continue;
                prev = json_deep_copy(s->seen[i].record);
                if (prev) {
                        (void) json_object_set_new(prev, "status", json_string("abandoned"));
                        (void) json_object_set_new(prev, "fencing_token", json_integer(
                                                           (json_int_t) s->seen[i].mod_revision));
                        (void) json_object_del(prev, "previous");
                }
                free(s->seen[i].key);
                json_decref(s->seen[i].record);
                memmove(s->seen + i, s->seen + i + 1, sizeof(Seen) * (--s->n_seen - i));
                return prev;
        }
        return NULL;
}

