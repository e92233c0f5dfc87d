/* SPDX-License-Identifier: MIT */
#pragma once

/* The job table: YAML → validated, immutable Config. Never logs: every problem becomes a
 * ConfigDiag with file, line and column. The schema is documented in solocron.yaml(5). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cronexpr.h"
#include "macro.h"
#include "timeutil.h"

typedef struct Tz Tz;

#define CONFIG_MAX_JOBS     10000
#define CONFIG_MAX_INCLUDES 256
#define CONFIG_MISSED_AFTER_MAX_SEC (30ULL * 86400ULL)   /* missed_after: at most 30 days */
#define MISSED_AFTER_NONE UINT32_MAX    /* JobPolicy.missed_after_sec: no alarm */

typedef enum OverlapPolicy {
        OVERLAP_SKIP,           /* default: log and drop the firing */
        OVERLAP_QUEUE,          /* run after the current run, at most one waiting */
        OVERLAP_REPLACE,        /* terminate the current run (as on timeout), then start */
        OVERLAP_ALLOW,          /* run concurrently */
        _OVERLAP_MAX,
} OverlapPolicy;

typedef enum RetryOn {
        RETRY_ON_NONZERO = 1 << 0, /* exited with a non-zero status */
        RETRY_ON_TIMEOUT = 1 << 1, /* killed by solocron on timeout */
        RETRY_ON_SIGNAL  = 1 << 2, /* died of a signal not sent by solocron */
        RETRY_ON_ALL     = RETRY_ON_NONZERO | RETRY_ON_TIMEOUT | RETRY_ON_SIGNAL,
} RetryOn;

typedef enum LeaseBackendKind {
        LEASE_BACKEND_LOCAL,    /* default: flock in the state directory */
        LEASE_BACKEND_ETCD,
        LEASE_BACKEND_S3,
        LEASE_BACKEND_REDIS,
        LEASE_BACKEND_POSTGRES,
        _LEASE_BACKEND_MAX,
} LeaseBackendKind;

typedef enum StoreDownPolicy {
        STORE_DOWN_SKIP,        /* default: never risk a duplicate */
        STORE_DOWN_RUN,         /* availability over safety */
} StoreDownPolicy;

typedef enum LeaseLostPolicy {
        LEASE_LOST_KILL,        /* default: terminate the run as on timeout */
        LEASE_LOST_CONTINUE,
} LeaseLostPolicy;

typedef struct Exclude {
        char *text;             /* as written, for messages */
        bool is_date;           /* a calendar date in the job's zone, else a cron expression */
        int32_t year;           /* is_date */
        int8_t month, day;
        CronExpr expr;          /* !is_date: excluded when the scheduled local time matches */
} Exclude;

typedef struct JobLimit {
        int resource;           /* RLIMIT_* */
        uint64_t soft, hard;    /* RLIM_INFINITY for "unlimited" */
} JobLimit;

/* Who is told of a job's runs (pings, webhooks, hooks: solocron.yaml(5) "NOTIFICATIONS").
 * Interned like JobPolicy, which points at it: jobs without notifications pay nothing. */
typedef enum NotifyOn {
        NOTIFY_ON_FAILURE   = 1 << 0,   /* a failed firing, after its last attempt */
        NOTIFY_ON_MISSED    = 1 << 1,   /* the fleet-wide missed-firing alarm */
        NOTIFY_ON_RECOVERED = 1 << 2,   /* the first success after failures */
        NOTIFY_ON_SUCCESS   = 1 << 3,   /* every success */
        NOTIFY_ON_DEFAULT   = NOTIFY_ON_FAILURE | NOTIFY_ON_MISSED | NOTIFY_ON_RECOVERED,
} NotifyOn;

typedef enum WebhookFormat {
        WEBHOOK_JSON,           /* default */
        WEBHOOK_SLACK,          /* Slack's incoming-webhook shape: text and blocks */
        _WEBHOOK_FORMAT_MAX,
} WebhookFormat;

typedef struct WebhookConfig {
        char *url;              /* http:// or https:// */
        char *secret_file;      /* NULL: unsigned; else an absolute path, read when sent */
        NotifyOn on;
        WebhookFormat format;
} WebhookConfig;

typedef enum HookKind {
        HOOK_ON_FAILURE,
        HOOK_ON_SUCCESS,
        HOOK_ON_RETRY,
        _HOOK_KIND_MAX,
} HookKind;

typedef struct HookConfig {
        char **argv;            /* NULL-terminated, one allocation (strv_pack()); a string
                                 * becomes /bin/sh -c STRING */
        usec_t timeout;         /* default 60 s; then SIGTERM, SIGKILL after the job's kill_after */
        bool shell;
        bool every_attempt;     /* on_failure: after every failed attempt, not once */
} HookConfig;

typedef struct NotifyConfig {
        char *ping;             /* healthchecks.io-style URL; "${JOB}" in it stands for the
                                 * job's name (replaced when sent); NULL: no pings */
        WebhookConfig *webhooks; /* NULL when n_webhooks is 0 */
        unsigned n_webhooks;
        HookConfig *hooks[_HOOK_KIND_MAX]; /* NULL: none */
} NotifyConfig;

#define NOTIFY_HOOK_TIMEOUT_DEFAULT (60 * USEC_PER_SEC)
#define NOTIFY_MAX_WEBHOOKS 16
/* Where a job's runs' output goes (output: {s3: …}): interned like JobPolicy, so the jobs
 * with the same settings share one. Every field is resolved: what the table leaves out comes
 * from the S3 lease (bucket, endpoint, region, path_style, ca_file, prefix) or the defaults. */
typedef struct OutputS3Config {
        char *bucket;
        char *prefix;           /* key prefix, no trailing '/': the lease's prefix, else "solocron" */
        char *endpoint;         /* NULL: AWS (https://s3.REGION.amazonaws.com) */
        char *region;           /* NULL: us-east-1 */
        char *ca_file;          /* NULL: the system's CAs */
        uint64_t max_size;      /* bytes of an object at most (before gzip), default 1 MiB */
        bool path_style;
        bool gzip;              /* Content-Encoding: gzip */
} OutputS3Config;

#define OUTPUT_MAX_SIZE_DEFAULT (UINT64_C(1) << 20)
#define OUTPUT_MAX_SIZE_MIN     UINT64_C(1024)
#define OUTPUT_MAX_SIZE_MAX     (UINT64_C(64) << 20)

/* How a job runs, apart from what and when: every job whose policy is the same shares one
 * (interned by config_load(): most tables set these in defaults: or not at all, so a
 * 1000-job table holds one or a few). Fields ordered to leave no padding holes. */
typedef struct JobPolicy {
        usec_t timeout;         /* USEC_INFINITY: none */
        usec_t kill_after;      /* SIGTERM → SIGKILL delay */
        usec_t retry_backoff;
        usec_t retry_max_backoff;
        usec_t jitter;          /* 0: none */
        usec_t catch_up;        /* 0: missed firings are skipped */
        char *user;             /* NULL: the daemon's own */
        char *group;
        char *workdir;
        char **env_keep;        /* names the lease: section consumes that this job gets anyway
                                 * (defaults' and the job's; none with user:); NULL when none;
                                 * one allocation (strv_pack()) */
        JobLimit *limits;       /* NULL when n_limits is 0 */
        const NotifyConfig *notify; /* shared: borrowed from Config.notifies; NULL: none */
        const OutputS3Config *output; /* borrowed from Config.outputs; NULL: output not kept */
        unsigned n_limits;
        unsigned retry_attempts; /* total tries including the first; 1 = no retry */
        OverlapPolicy overlap;
        LeaseLostPolicy on_lease_lost;
        StoreDownPolicy on_store_down;
        RetryOn retry_on;
        int umask;              /* -1: inherit */
        int nice;               /* 0: inherit */
        uint32_t missed_after_sec; /* the missed-firing alarm's delay after each firing's
                                 * instant; 0: the default (jitter + election_timeout +
                                 * a margin, daemon/core/missed.c); MISSED_AFTER_NONE: no
                                 * alarm. Fits the tail padding: sizeof stays 128 */
        bool has_nice;
        bool no_lease;          /* lease: none — runs on every replica, no election */
        bool takeover;          /* re-run a firing whose holder died while running it */
} JobPolicy;

typedef struct JobConfig {     /* one per job; fields ordered to leave no padding holes */
        char *name;             /* name, description and schedule_text share argv's block */
        char *description;      /* NULL when not given */
        const char *file;       /* where the job was defined, for messages (in Config.files) */
        unsigned line, column;

        char *schedule_text;    /* as written */
        CronExpr schedule;
        const Tz *tz;           /* borrowed from Config.zones */

        union {                 /* one allocation with the strings above; use config_job_argv() */
                char **argv;    /* !shell: NULL-terminated */
                char *command;  /* shell: a string command, run as /bin/sh -c COMMAND (no
                                 * pointer array: most jobs are written so, bench/) */
        };
        char **env;             /* NULL-terminated "KEY=VALUE" (defaults' env merged in, job wins);
                                 * NULL when neither sets any */
        const JobPolicy *policy; /* shared: borrowed from Config.policies */
        Exclude *excludes;      /* defaults' excludes first, then the job's own; NULL when none */
        unsigned n_excludes;
        bool enabled;           /* false: validated, shown by check, never fired */
        bool suspend;           /* true: its firings are not run (manual runs are) */
        bool shell;             /* command was a string */
} JobConfig;

typedef struct LeaseConfig {    /* the lease: section */
        LeaseBackendKind backend;
        char *prefix;           /* key prefix, default "solocron" */
        usec_t ttl;             /* lease time to live, default 30s (etcd minimum 2s); renewed every ttl/3 */
        usec_t election_timeout; /* how long a claim may retry a store that is down, default 10s */
        usec_t history;         /* how long proof-of-run records are kept, default 30d */
        usec_t stagger;         /* rank r of a firing claims after r x stagger, default 200ms */
        unsigned candidates;    /* ranks that claim in turn, default 3; the others wait for
                                 * candidates x stagger + stagger (core/elect.c) */
        usec_t elect_ahead;     /* how long before a firing its election starts, so that the
                                 * winner starts the job on time; default 100ms for a store
                                 * over the network, 0 for local (at most 1s) */
        /* etcd and redis */
        char **endpoints;       /* "http://127.0.0.1:2379", "redis://127.0.0.1:6379/0", …
                                 * (failover in order) */
        char *username, *password;  /* password: etcd's */
        char *password_file;    /* redis: an absolute path, read when the store is made */
        /* postgres: a libpq connection string, or an absolute path to a file holding one */
        char *dsn, *dsn_file;
        char *ca_file, *cert_file, *key_file;  /* TLS: CA, and client cert/key for mTLS */
        /* s3 */
        char *bucket;
        char *endpoint;         /* NULL: AWS (https://s3.REGION.amazonaws.com) */
        char *region;           /* default us-east-1 */
        bool path_style;        /* https://endpoint/bucket/key instead of bucket.endpoint/key */
        usec_t max_clock_skew;  /* margin on expiry decisions, default 5s */
        char **env_used;        /* names of the variables ${…} read in this section (the
                                 * daemon's secrets: jobs do not get them); NULL: none */
} LeaseConfig;

typedef struct MainConfig {   /* the main: section: a container's main process */
        char **argv;            /* NULL: no main: section */
        bool shell;             /* command was a string (/bin/sh -c) */
        bool restart_on_failure; /* restart: on-failure */
        usec_t restart_backoff; /* first wait before a restart, doubling each time */
        usec_t restart_max_backoff;
} MainConfig;

typedef struct ApiConfig {     /* the api: section; the API is on when listen or socket is set */
        char *listen;           /* "127.0.0.1:9750"; NULL: no TCP listener */
        char *socket;           /* a unix socket's path; NULL: none */
        char *socket_group;     /* the socket's group; NULL: the daemon's */
        char *token_file;       /* the bearer token; NULL: none (writes over TCP refused) */
        bool public_read;       /* reads over TCP from anywhere without the token */
} ApiConfig;

typedef struct Config {
        JobConfig *jobs;        /* in file order, includes after the main file's jobs */
        size_t n_jobs;
        JobPolicy **policies;   /* owned; the distinct policies of the jobs */
        size_t n_policies;
        NotifyConfig **notifies; /* owned; the distinct notification settings of the jobs */
        size_t n_notifies;
        OutputS3Config **outputs; /* owned; the distinct output: settings of the jobs */
        size_t n_outputs;
        Tz **zones;             /* owned; each distinct zone loaded once */
        size_t n_zones;
        const Tz *default_tz;   /* borrowed from zones (or tz_utc()) */
        usec_t shutdown_grace;  /* default 30 s */
        LeaseConfig lease;
        MainConfig main;
        ApiConfig api;
        char **files;           /* every file read, main file first */
        size_t n_files_cached;  /* of these, how many were read without libyaml (the events
                                 * of their very text kept in ConfigLoadOptions.cache_dir) */
} Config;

typedef enum ConfigSeverity {
        CONFIG_ERROR,
        CONFIG_WARNING,
} ConfigSeverity;

typedef struct ConfigDiag {
        ConfigSeverity severity;
        char *file;
        unsigned line, column;  /* 1-based; 0 when not tied to a place */
        char *message;          /* "job 'x': unknown key 'scheduel' (did you mean 'schedule'?)" */
} ConfigDiag;

typedef struct ConfigDiags {
        ConfigDiag *items;
        size_t n;
        size_t n_errors;
} ConfigDiags;

/* Variable lookup for ${VAR} and ${VAR:-default} expansion; NULL when unset. */
typedef const char *(*ConfigGetenv)(const char *name, void *userdata);

typedef struct ConfigLoadOptions {
        ConfigGetenv getenv;    /* NULL: the process environment */
        void *getenv_userdata;
        const char *tzdir;      /* NULL: $TZDIR or /usr/share/zoneinfo */
        const char *default_tz; /* zone when the table names none (from TZ/CRON_TZ); NULL: UTC */
        const char *cache_dir;  /* where libyaml's events of each file are kept, so that a
                                 * file read again unchanged is not parsed again (made when
                                 * missing if its parent is there, mode 0700; used only when
                                 * ours and not writable by others; config/yamlcache.c);
                                 * NULL: none */
} ConfigLoadOptions;

/* Load and validate `path` (following include:). On success returns 0 and *ret; diagnostics
 * (warnings, or all errors) are appended to *diags in file order. Returns -EINVAL when any
 * error was found (nothing in *ret), -ENOMEM, or another negative errno when the main file
 * cannot be read (also described in *diags). */
int config_load(const char *path, const ConfigLoadOptions *opts, Config **ret, ConfigDiags *diags);

/* config_load() maps libyaml while it reads (config/yamlib.c): a daemon unmaps it after each
 * load with this, so that its idle memory does not carry it. Harmless when not loaded. */
void config_yaml_release(void);

/* The job's command line: argv, or for a string command {"/bin/sh", "-c", command, NULL} in
 * buf (which the result may point to). */
const char *const *config_job_argv(const JobConfig *j, const char *buf[static 4]);

Config *config_free(Config *c);
/* Same lease section (backend and every setting)? */
bool config_lease_equal(const LeaseConfig *a, const LeaseConfig *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);
const JobConfig *config_find_job(const Config *c, const char *name);
/* "failure", "missed", "recovered", "success" (one bit of NotifyOn), or NULL. */
const char *notify_on_to_string(NotifyOn on);
/* A job's ping URL: tmpl with every "${JOB}" replaced by name, then suffix ("/start",
 * "/fail", "" …) and "?rid=RUN" when run is not NULL. NULL when out of memory. */
char *notify_ping_url(const char *tmpl, const char *name, const char *suffix, const char *run);

/* "FILE:LINE:COL: message" (or "FILE: message" without a place); caller frees. */
char *config_diag_format(const ConfigDiag *d);
void config_diags_done(ConfigDiags *d);
