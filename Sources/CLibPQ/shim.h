#ifndef LISTCTL_CLIBPQ_SHIM_H
#define LISTCTL_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
