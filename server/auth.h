/* auth.h: which environment keys the server accepts, and whether a request
 * carries one. Keys are compared in constant time and never logged. */
#ifndef B77_AUTH_H
#define B77_AUTH_H

#include <stddef.h>

typedef struct auth auth;

/* Reads ENVIRONMENT_API_KEY (or, when unset, DEV_ENVIRONMENT_API_KEY) and
 * every comma-separated entry of ENVIRONMENT_API_KEY_ALIASES. Empty entries
 * are ignored. Never NULL. */
auth *auth_from_env(void);
/* For tests: the same from explicit values (any may be NULL). */
auth *auth_new(const char *primary, const char *dev, const char *aliases);
void auth_free(auth *a);

/* 1 when at least one key is configured. */
int auth_configured(const auth *a);

/* Offers one request header. Recognised: X-API-Key, X-API-Keys (comma-
 * separated) and Authorization: Bearer <token> (names and scheme case-
 * insensitive). Returns the allowed key it matches (owned by a, valid for
 * its lifetime) or NULL. */
const char *auth_check_header(const auth *a, const char *name, const char *value);

#endif
