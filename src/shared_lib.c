/* The shared library is the whole core archive, linked with --whole-archive; this file only
 * gives the target a source of its own. */
#include "doclayout.h"
