#include "doclayout.h"
#include "test_util.h"

int main(void) {
    CHECK(dl_docling_label_from_string("List-item") == 3);
    CHECK(dl_docling_label_from_string("list_item") == 3);
    CHECK(dl_docling_label_from_string("KEY_VALUE_REGION") == 16);
    CHECK(dl_docling_label_from_string("Key-Value Region") == 16);
    CHECK(dl_docling_label_from_string("document_index") == 11);
    CHECK(dl_docling_label_from_string("nonsense") == -1);
    CHECK(strcmp(dl_docling_label_name(9), "Text") == 0);
    CHECK(dl_docling_label_name(17) == NULL);
    return dl_test_finish("test_labels");
}
