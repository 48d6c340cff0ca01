#ifndef LISTCTL_CLIBXML2_SHIM_H
#define LISTCTL_CLIBXML2_SHIM_H
// Debian's libxml2 is built with ICU, and its encoding.h then includes the
// system's ICU headers, which clash with the ICU that Foundation carries.
// Nothing here touches the encoding handlers (whose struct has the ICU
// fields), so the headers are read as if built without it.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#endif
