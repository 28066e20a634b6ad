/* Library version. */
#include "doclayout.h"

const char *dl_version(void) { return "0.2.0"; }
