#ifndef LISTCTL_CCURL_SHIM_H
#define LISTCTL_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt / curl_easy_getinfo are variadic and cannot be called from
   Swift; one typed wrapper per argument kind. */
static inline CURLcode listctl_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode listctl_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode listctl_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode listctl_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode listctl_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*listctl_curl_io_callback)(char *buffer, size_t size, size_t nitems, void *userdata);
static inline CURLcode listctl_curl_setopt_io_callback(CURL *h, CURLoption o, listctl_curl_io_callback v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode listctl_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode listctl_curl_getinfo_string(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode listctl_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
/* CURL_GLOBAL_ALL is a macro of macros; call it once before any thread starts. */
static inline CURLcode listctl_curl_global_init(void) { return curl_global_init(CURL_GLOBAL_ALL); }
static inline long listctl_curl_error_size(void) { return CURL_ERROR_SIZE; }
#endif
