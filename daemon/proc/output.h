/* SPDX-License-Identifier: MIT */
#pragma once

/* Relays one pipe of a child (stdout or stderr) to the log, line by line. Memory is bounded:
 * one OUTPUT_LINE_MAX read buffer shared by all the streams, and one of a stream's own only
 * while it holds an incomplete line; a longer line is cut into pieces marked "continued"; a
 * partial last line is flushed at end of file. The bytes may also go to a Capture (the
 * run's tail), in the order they are read. */

#include <stdbool.h>
#include <uv.h>

#include "capture.h"
#include "log.h"

#define OUTPUT_LINE_MAX (64 * 1024)

typedef struct Output Output;
typedef void (*output_closed_cb)(Output *o);

struct Output {
        uv_pipe_t pipe;         /* owned; closed by output_close() or at EOF */
        const char *job;        /* borrowed: outlives the Output (the run owns both) */
        const char *run;
        LogStream stream;
        char *buf;              /* OUTPUT_LINE_MAX bytes, NULL until a read ends mid-line */
        size_t len;             /* bytes of an incomplete line in buf */
        bool continued;         /* the line in buf continues a piece already logged */
        bool open;              /* pipe handle initialised and not yet closed */
        output_closed_cb on_closed;
        uint64_t bytes;         /* total relayed, for the run summary */
        Capture *capture;       /* borrowed, or NULL: every byte read is also kept there (set
                                 * after output_init()) */
        Output *next_close;     /* at end of file, waiting for its close (output.c) */
};

/* Initialise the pipe handle, before the child is started. */
int output_init(uv_loop_t *loop, Output *o, const char *job, const char *run, LogStream stream,
                output_closed_cb on_closed);
/* Start reading fd (the reading end of the child's pipe; the Output owns it from here, and
 * closes itself if fd cannot be watched). */
int output_start(Output *o, int fd);
/* Flush any partial line and close the pipe; on_closed runs from the close callback. */
void output_close(Output *o);
