/* curl_load.h: libcurl is opened at run time (see curl_load.c). */
#ifndef CURL_LOAD_H
#define CURL_LOAD_H

/* Loads libcurl if no one has yet; safe from any thread, and cheap once done.
 * NULL when it is loaded, else a message saying why it cannot be. */
const char *curl_load(void);

#endif
