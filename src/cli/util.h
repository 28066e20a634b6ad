/* Small helpers shared by the CLI's commands (the library's own are internal to it). */
#ifndef DL_CLI_UTIL_H
#define DL_CLI_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Monotonic seconds, for timings. */
double dl_cli_now_s(void);
/* Whether `path` names a directory / a regular file (following links). */
bool dl_cli_is_dir(const char *path);
bool dl_cli_is_file(const char *path);
/* A whole file of at most max_bytes, NUL-terminated (free it); NULL when unreadable. */
char *dl_cli_read_text(const char *path, size_t max_bytes);
/* strncpy that always terminates and never warns about truncation. */
void dl_cli_copy_str(char *dst, size_t n, const char *src);

/* cJSON_Print as valid UTF-8 (strings from files and PDFs may hold any bytes). malloc'd. */
struct cJSON;
char *dl_cli_json_print(const struct cJSON *j);

#endif
