#include "output/results_json.h"

#include "output/json_text.h"

cJSON *dl_json_model_info(const dl_model *m, const dl_detector *d) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    dl_json_add_text(o, "path", dl_model_path(m));
    dl_json_add_text(o, "type", dl_model_type(m));
    cJSON *size = cJSON_AddArrayToObject(o, "input_size");
    cJSON_AddItemToArray(size, cJSON_CreateNumber(dl_model_input_width(m)));
    cJSON_AddItemToArray(size, cJSON_CreateNumber(dl_model_input_height(m)));
    cJSON_AddNumberToObject(o, "num_labels", dl_model_num_labels(m));
    cJSON_AddNumberToObject(o, "num_queries", dl_model_num_queries(m));
    cJSON_AddNumberToObject(o, "num_parameters", (double)dl_model_num_parameters(m));
    if (d) {
        dl_json_add_text(o, "device", dl_detector_device_name(d));
        dl_json_add_text(o, "kernels", dl_detector_kernel_name(d));
        cJSON_AddNumberToObject(o, "threads", dl_detector_num_threads(d));
    }
    dl_json_add_text(o, "doclayout_version", dl_version());
    return o;
}
