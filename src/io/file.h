/* Whole-file reads with a size cap. */
#ifndef DL_IO_FILE_H
#define DL_IO_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "doclayout.h"

/* Read `path` into a malloc'd buffer (NUL-terminated for convenience; *size excludes it).
 * Files larger than max_size are refused. */
dl_status dl_read_file(const char *path, size_t max_size, void **data, size_t *size, dl_error *err);

/* Whether `path` names a directory / a regular file (following links). */
bool dl_is_dir(const char *path);
bool dl_is_file(const char *path);

#endif
