#include <stdio.h>
#include "doclayout.h"
int main(void) { printf("doclayout %s\n", dl_version()); return 0; }
