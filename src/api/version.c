/* Library version. */
#include "doclayout.h"

const char *dl_version(void) { return "0.1.0"; }
