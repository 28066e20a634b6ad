/* Arabic presentation forms (U+FB50..U+FDFF, U+FE70..U+FEFF) to the letters they stand for. */
#ifndef DL_DOCUMENT_ARABIC_FORMS_H
#define DL_DOCUMENT_ARABIC_FORMS_H

#include <stddef.h>
#include <stdint.h>

#define DL_ARABIC_FORM_MAX 18 /* U+FDFA, the longest */

/* The letters of presentation form c (its NFKC decomposition, without the leading space of the
 * spacing mark forms) into out; returns how many, 0 when c is no presentation form. */
size_t dl_arabic_form_letters(uint32_t c, uint32_t out[DL_ARABIC_FORM_MAX]);

#endif
