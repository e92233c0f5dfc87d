/* SPDX-License-Identifier: MIT */

/* A floor of figure 5 (start-up: exec -> asleep): a process that reads the job table with
 * libyaml and does nothing else. It reads FILE, takes libyaml's events to the end of the
 * stream as the daemon's load does on a first start (no tree, no checks, nothing kept),
 * prints how long the read and the parse took (ms, monotonic clock, from before the open to
 * after the parser is freed), and then sleeps until it is killed, so that run-bench times its
 * exec -> asleep with the daemons' own tracer. libyaml is linked, not loaded with dlopen() as
 * the daemon loads it (which adds an open, a few mappings and the symbols' lookup).
 *
 * Usage: bench-yaml FILE */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "fdio.h"

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
        yaml_parser_t parser;
        unsigned char *text;
        struct stat st;
        double t0;
        long n_events = 0;
        ssize_t got = 0;
        int fd;

        if (argc != 2) {
                fprintf(stderr, "usage: bench-yaml FILE\n");
                return 2;
        }
        t0 = now_ms();
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                perror(argv[1]);
                return 1;
        }
        text = malloc((size_t) st.st_size + 1);        /* + 1: an empty file too */
        if (text) {
                got = read_full(fd, text, (size_t) st.st_size);
                if (got < 0) {
                        fprintf(stderr, "%s: %s\n", argv[1], strerror((int) -got));
                        return 1;
                }
                if (got < st.st_size) {
                        fprintf(stderr, "%s: shorter than its size\n", argv[1]);
                        return 1;
                }
        }
        close(fd);
        if (!text || !yaml_parser_initialize(&parser)) {
                fprintf(stderr, "out of memory\n");
                return 1;
        }
        yaml_parser_set_input_string(&parser, text, (size_t) got);
        for (;;) {
                yaml_event_t e;
                int end;

                if (!yaml_parser_parse(&parser, &e)) {
                        /* Enough to see why: `solocron check` gives the full message. */
                        size_t at = parser.error == YAML_READER_ERROR ? parser.problem_offset
                                                                      : parser.problem_mark.index;

                        fprintf(stderr, "%s: libyaml error %d at byte %zu: %s\n", argv[1],
                                (int) parser.error, at,
                                parser.problem ? parser.problem : "(no detail)");
                        return 1;
                }
                n_events++;
                end = e.type == YAML_STREAM_END_EVENT;
                yaml_event_delete(&e);
                if (end)
                        break;
        }
        yaml_parser_delete(&parser);
        free(text);
        printf("parse_ms %.3f events %ld bytes %zd\n", now_ms() - t0, n_events, got);
        fflush(stdout);
        for (;;)                /* asleep: run-bench kills us */
                sleep(3600);
}
