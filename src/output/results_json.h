/* The JSON shape of `doclayout detect`:
 * {"model": {...}, "pages": [{"source", "page", "width", "height", "detections": [
 *     {"label", "label_id", "score", "box": [x0, y0, x1, y1]}]}]}
 * Fields may be added, never renamed. */
#ifndef DL_OUTPUT_RESULTS_JSON_H
#define DL_OUTPUT_RESULTS_JSON_H

#include <cjson/cJSON.h>

#include "doclayout.h"

/* The "model" block. NULL on out of memory. */
cJSON *dl_json_model_info(const dl_model *model, const dl_detector *detector);

#endif
