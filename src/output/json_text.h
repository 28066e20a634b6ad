/*
 * JSON strings that are valid UTF-8 whatever they were made from (file names, PDF text, error
 * messages). cJSON copies string bytes through unchecked; these helpers sanitise on the way in
 * (ill-formed sequences become U+FFFD, core/utf8.h), and dl_json_print checks the printed text
 * once more, so no writer can emit a byte that is not UTF-8.
 */
#ifndef DL_OUTPUT_JSON_TEXT_H
#define DL_OUTPUT_JSON_TEXT_H

#include <cjson/cJSON.h>

/* A cJSON string holding s (NULL: ""), sanitised. NULL when out of memory. */
cJSON *dl_json_text(const char *s);

/* obj[key] = dl_json_text(s); returns the item (NULL when out of memory). */
cJSON *dl_json_add_text(cJSON *obj, const char *key, const char *s);

/* cJSON_Print (formatted) or cJSON_PrintUnformatted, as valid UTF-8 (cJSON writes bytes >= 0x80
 * only inside strings, so sanitising the printed text keeps it valid JSON). malloc'd. */
char *dl_json_print(const cJSON *j, int formatted);

#endif
