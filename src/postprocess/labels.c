/* Docling's label set and the normalisation of id2label spellings. */
#include <ctype.h>
#include <string.h>

#include "postprocess/labels.h"

#include "doclayout.h"

_Static_assert(DL_LABEL_COUNT == DL_NUM_DOCLING_LABELS, "doclayout.h's label count");

static const char *const docling_labels[DL_NUM_DOCLING_LABELS] = {
    DL_DOCLING_LABELS(DL_LABEL_NAME_)};

const char *dl_docling_label_name(int label) {
    return label >= 0 && label < DL_NUM_DOCLING_LABELS ? docling_labels[label] : NULL;
}

/* Docling's rule: upper-case, '-' and ' ' become '_', then compare with DocItemLabel. */
static void normalise(const char *in, char *out, size_t n) {
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++) {
        char c = in[i];
        out[i] = (c == '-' || c == ' ') ? '_' : (char)toupper((unsigned char)c);
    }
    out[i] = '\0';
}

int dl_docling_label_from_string(const char *name) {
    if (!name) return -1;
    char want[64], have[64];
    normalise(name, want, sizeof want);
    for (int i = 0; i < DL_NUM_DOCLING_LABELS; i++) {
        normalise(docling_labels[i], have, sizeof have);
        if (strcmp(want, have) == 0) return i;
    }
    return -1;
}
