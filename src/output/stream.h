/*
 * An output stream: a file written atomically (a temporary file in the same directory,
 * renamed over the target on commit, removed on abort) or a caller's write function. Write
 * errors are remembered and reported once, by dl_stream_commit.
 */
#ifndef DL_OUTPUT_STREAM_H
#define DL_OUTPUT_STREAM_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "doclayout.h"

typedef struct dl_stream dl_stream;

dl_status dl_stream_open_file(const char *path, dl_stream **out, dl_error *err);
dl_status dl_stream_open_callback(dl_output_write_fn write, void *user, dl_stream **out,
                                  dl_error *err);
void dl_stream_write(dl_stream *s, const void *data, size_t n);
void dl_stream_puts(dl_stream *s, const char *text);
/* `item` as cJSON_Print formats it, nested `depth` levels deep (a tab more after each line
 * break), so that items streamed one by one give the bytes of the whole tree printed. */
void dl_stream_json(dl_stream *s, const cJSON *item, int depth);
/* Any write failed so far (out of memory counts). */
int dl_stream_failed(const dl_stream *s);
/* Finish: rename into place (files). Frees the stream either way. */
dl_status dl_stream_commit(dl_stream *s, dl_error *err);
/* Give up: the temporary file is removed, the target untouched. Frees the stream. */
void dl_stream_abort(dl_stream *s);

/* The whole text of `path` written atomically. */
dl_status dl_write_file_atomic(const char *path, const void *data, size_t n, dl_error *err);

#endif
