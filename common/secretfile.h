/* SPDX-License-Identifier: MIT */
#pragma once

/* The first line of a file that holds a secret (a password, a DSN, a token), without its
 * line end; refused when the group or others may read the file. what names the setting for
 * the message ("redis password_file"). 0, or a negative errno with *reterr_message:
 * "WHAT 'PATH': …", "… may be read by others (mode 644): chmod 600 it", "… is empty". */
int secret_file_read(const char *path, const char *what, char **ret, char **reterr_message);
