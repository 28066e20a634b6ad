#include <cjson/cJSON.h>
#include <unistd.h>

#include "api/internal.h"
#include "io/file.h"
#include "postprocess/labels.h"
#include "test_util.h"

/* A model whose id2label has a non-Docling name at id 1 and a variant spelling at id 3: the
 * model maps its ids to Docling labels itself, so callers never parse names back. */
static void check_model_mapping(void) {
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/fixtures/golden/rtdetrv2-tiny/config.json", DL_SOURCE_DIR);
    void *buf;
    size_t size;
    dl_error err;
    CHECK_OK(dl_read_file(p, 1 << 20, &buf, &size, &err), &err);
    cJSON *cfg = cJSON_ParseWithLength(buf, size);
    free(buf);
    cJSON *id2label = cJSON_GetObjectItemCaseSensitive(cfg, "id2label");
    cJSON_ReplaceItemInObject(id2label, "1", cJSON_CreateString("zebra"));
    cJSON_ReplaceItemInObject(id2label, "3", cJSON_CreateString("LIST_ITEM"));
    char tmp[] = "/tmp/dl_labels_XXXXXX";
    int fd = mkstemp(tmp);
    char *text = cJSON_PrintUnformatted(cfg);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    free(text);
    cJSON_Delete(cfg);
    dl_model *m = NULL;
    CHECK_OK(dl_model_build_enumerated(tmp, 0, &m, NULL, NULL, &err), &err);
    unlink(tmp);
    if (!m) return;
    CHECK(dl_model_docling_label(m, 0) == DL_LABEL_CAPTION);
    CHECK(dl_model_docling_label(m, 1) == -1);
    CHECK(strcmp(dl_model_label_name(m, 1), "zebra") == 0);
    CHECK(dl_model_docling_label(m, 3) == DL_LABEL_LIST_ITEM);
    CHECK(strcmp(dl_model_label_name(m, 3), "List-item") == 0);
    CHECK(dl_model_docling_label(m, 16) == DL_LABEL_KEY_VALUE_REGION);
    CHECK(dl_model_docling_label(m, 17) == -1);
    CHECK(dl_model_docling_label(m, -1) == -1);
    CHECK(dl_model_docling_label(NULL, 0) == -1);
    dl_model_free(m);
}

int main(void) {
    CHECK(dl_docling_label_from_string("List-item") == 3);
    CHECK(dl_docling_label_from_string("list_item") == 3);
    CHECK(dl_docling_label_from_string("KEY_VALUE_REGION") == 16);
    CHECK(dl_docling_label_from_string("Key-Value Region") == 16);
    CHECK(dl_docling_label_from_string("document_index") == 11);
    CHECK(dl_docling_label_from_string("nonsense") == -1);
    CHECK(strcmp(dl_docling_label_name(9), "Text") == 0);
    CHECK(dl_docling_label_name(17) == NULL);
    /* the one table: ids, names and the public count agree */
    CHECK(DL_LABEL_COUNT == DL_NUM_DOCLING_LABELS);
    CHECK(DL_LABEL_TEXT == 9 && DL_LABEL_KEY_VALUE_REGION == 16);
    for (int i = 0; i < DL_LABEL_COUNT; i++)
        CHECK(dl_docling_label_from_string(dl_docling_label_name(i)) == i);
    check_model_mapping();
    return dl_test_finish("test_labels");
}
