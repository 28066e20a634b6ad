#include "output/results_json.h"

#include <math.h>

/* Fixed decimals keep the output short and stable (cJSON prints shortest round-trip form). */
static double round_to(double v, double scale) { return round(v * scale) / scale; }

cJSON *dl_json_model_info(const dl_model *m, const dl_detector *d) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "path", dl_model_path(m));
    cJSON_AddStringToObject(o, "type", dl_model_type(m));
    cJSON *size = cJSON_AddArrayToObject(o, "input_size");
    cJSON_AddItemToArray(size, cJSON_CreateNumber(dl_model_input_width(m)));
    cJSON_AddItemToArray(size, cJSON_CreateNumber(dl_model_input_height(m)));
    cJSON_AddNumberToObject(o, "num_labels", dl_model_num_labels(m));
    cJSON_AddNumberToObject(o, "num_queries", dl_model_num_queries(m));
    cJSON_AddNumberToObject(o, "num_parameters", (double)dl_model_num_parameters(m));
    if (d) {
        cJSON_AddStringToObject(o, "device", dl_detector_device_name(d));
        cJSON_AddStringToObject(o, "kernels", dl_detector_kernel_name(d));
        cJSON_AddNumberToObject(o, "threads", dl_detector_num_threads(d));
    }
    cJSON_AddStringToObject(o, "doclayout_version", dl_version());
    return o;
}

cJSON *dl_json_page(const char *source, int page, int width, int height,
                    const dl_detection *dets, size_t n, const char *error) {
    cJSON *p = cJSON_CreateObject();
    if (!p) return NULL;
    cJSON_AddStringToObject(p, "source", source);
    cJSON_AddNumberToObject(p, "page", page);
    cJSON_AddNumberToObject(p, "width", width);
    cJSON_AddNumberToObject(p, "height", height);
    if (error) {
        cJSON_AddStringToObject(p, "error", error);
        return p;
    }
    cJSON *arr = cJSON_AddArrayToObject(p, "detections");
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *d = cJSON_CreateObject();
        if (!d) break;
        cJSON_AddStringToObject(d, "label", dets[i].label);
        cJSON_AddNumberToObject(d, "label_id", dets[i].label_id);
        cJSON_AddNumberToObject(d, "score", round_to(dets[i].score, 1e6));
        cJSON *box = cJSON_AddArrayToObject(d, "box");
        for (int k = 0; k < 4; k++)
            cJSON_AddItemToArray(box, cJSON_CreateNumber(round_to(dets[i].box[k], 1e3)));
        cJSON_AddItemToArray(arr, d);
    }
    return p;
}
