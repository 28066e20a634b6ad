/*
 * Docling's 17 layout labels (DocItemLabel) in heron's id order: the one definition.
 *
 * Header-only, so that the synthetic generator (src/synth, linked without the library) expands
 * the same list: X(ID, "Display name") for each label, then DL_LABEL_<ID> = its id.
 */
#ifndef DL_POSTPROCESS_LABELS_H
#define DL_POSTPROCESS_LABELS_H

#define DL_DOCLING_LABELS(X)                                                                       \
    X(CAPTION, "Caption")                                                                          \
    X(FOOTNOTE, "Footnote")                                                                        \
    X(FORMULA, "Formula")                                                                          \
    X(LIST_ITEM, "List-item")                                                                      \
    X(PAGE_FOOTER, "Page-footer")                                                                  \
    X(PAGE_HEADER, "Page-header")                                                                  \
    X(PICTURE, "Picture")                                                                          \
    X(SECTION_HEADER, "Section-header")                                                            \
    X(TABLE, "Table")                                                                              \
    X(TEXT, "Text")                                                                                \
    X(TITLE, "Title")                                                                              \
    X(DOCUMENT_INDEX, "Document Index")                                                            \
    X(CODE, "Code")                                                                                \
    X(CHECKBOX_SELECTED, "Checkbox-Selected")                                                      \
    X(CHECKBOX_UNSELECTED, "Checkbox-Unselected")                                                  \
    X(FORM, "Form")                                                                                \
    X(KEY_VALUE_REGION, "Key-Value Region")

#define DL_LABEL_ENUM_(id, name) DL_LABEL_##id,
enum { DL_DOCLING_LABELS(DL_LABEL_ENUM_) DL_LABEL_COUNT };

/* The display names in id order, for an array initialiser: {DL_DOCLING_LABELS(DL_LABEL_NAME_)} */
#define DL_LABEL_NAME_(id, name) name,

#endif
