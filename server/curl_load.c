/* curl_load.c: libcurl, opened with dlopen instead of by the dynamic loader
 * at exec.
 *
 * libcurl brings 25 more libraries with it (OpenSSL, GnuTLS, Kerberos, LDAP,
 * ssh2, ...). Mapping and binding them took 3.5 ms of the task app's start-up,
 * before main, while a task app that does not link libcurl reaches main in
 * about 2 ms. main now calls curl_load on a thread while the dataset loads, so
 * the two overlap.
 *
 * Each libcurl function the server calls is defined here and forwards to the
 * library's, loading it first if nobody has (pthread_once), so callers need not
 * know. The task app links without -lcurl; programs that link libcurl as well
 * (the unit tests) open the same, already loaded, library. */
#define CURL_DISABLE_TYPECHECK
#include "curl_load.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define LIBCURL_SONAME "libcurl.so.4"

/* X(return type, name, parameters, arguments) for each forwarded function
 * with a fixed parameter list. */
#define FIXED_FUNCTIONS(X)                                                                         \
    X(CURLcode, curl_global_init, (long flags), (flags))                                           \
    X(void, curl_global_cleanup, (void), ())                                                       \
    X(CURL *, curl_easy_init, (void), ())                                                          \
    X(void, curl_easy_cleanup, (CURL * h), (h))                                                    \
    X(void, curl_easy_reset, (CURL * h), (h))                                                      \
    X(const char *, curl_easy_strerror, (CURLcode code), (code))                                   \
    X(CURLM *, curl_multi_init, (void), ())                                                        \
    X(CURLMcode, curl_multi_cleanup, (CURLM * m), (m))                                             \
    X(CURLMcode, curl_multi_add_handle, (CURLM * m, CURL * h), (m, h))                             \
    X(CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL * h), (m, h))                          \
    X(CURLMcode, curl_multi_assign, (CURLM * m, curl_socket_t s, void *p), (m, s, p))              \
    X(CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left))                          \
    X(CURLMcode, curl_multi_socket_action, (CURLM * m, curl_socket_t s, int ev, int *running),     \
      (m, s, ev, running))                                                                         \
    X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s))      \
    X(void, curl_slist_free_all, (struct curl_slist * l), (l))                                     \
    X(CURLU *, curl_url, (void), ())                                                               \
    X(void, curl_url_cleanup, (CURLU * u), (u))                                                    \
    X(CURLUcode, curl_url_set, (CURLU * u, CURLUPart part, const char *s, unsigned int flags),     \
      (u, part, s, flags))                                                                         \
    X(CURLHcode, curl_easy_header,                                                                 \
      (CURL * h, const char *name, size_t index, unsigned int origin, int request,                 \
       struct curl_header **hout),                                                                 \
      (h, name, index, origin, request, hout))

/* How a callback option's argument is read and passed on (any function
 * pointer type converts to another and back unchanged). */
typedef void (*any_function)(void);

static struct {
#define X(ret, name, params, args) ret(*name) params;
    FIXED_FUNCTIONS(X)
#undef X
    CURLcode (*curl_easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*curl_easy_getinfo)(CURL *, CURLINFO, ...);
    CURLMcode (*curl_multi_setopt)(CURLM *, CURLMoption, ...);
} fn;

static pthread_once_t loaded = PTHREAD_ONCE_INIT;
static char load_error[512];

static void *symbol(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p && !load_error[0])
        snprintf(load_error, sizeof load_error, "%s has no %s", LIBCURL_SONAME, name);
    return p;
}

static void load(void)
{
    void *lib = dlopen(LIBCURL_SONAME, RTLD_NOW);
    if (!lib) {
        snprintf(load_error, sizeof load_error, "cannot load libcurl: %s", dlerror());
        return;
    }
    /* POSIX's sanctioned way from a data pointer to a function pointer. */
#define RESOLVE(name) *(void **)&fn.name = symbol(lib, #name);
#define X(ret, name, params, args) RESOLVE(name)
    FIXED_FUNCTIONS(X)
#undef X
    RESOLVE(curl_easy_setopt)
    RESOLVE(curl_easy_getinfo)
    RESOLVE(curl_multi_setopt)
#undef RESOLVE
}

const char *curl_load(void)
{
    pthread_once(&loaded, load);
    return load_error[0] ? load_error : NULL;
}

/* main stops when curl_load fails, so this only fires in a program that calls
 * libcurl without asking first. */
static void need_curl(void)
{
    const char *err = curl_load();
    if (err) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
}

/* The parenthesised names keep curl.h's macros of the same names out. */
#define X(ret, name, params, args)                                                                 \
    ret(name) params                                                                               \
    {                                                                                              \
        need_curl();                                                                               \
        return fn.name args;                                                                       \
    }
FIXED_FUNCTIONS(X)
#undef X

/* The variadic setters take one argument whose type the option's number
 * gives (the CURLOPTTYPE_* ranges, as libcurl reads them: a long, an object
 * pointer, a function pointer, a curl_off_t, a blob); read it as that type
 * and pass it on. */
#define FORWARD_OPTION(call, handle, option, ap)                                                   \
    ((option) < CURLOPTTYPE_OBJECTPOINT     ? call(handle, option, va_arg(ap, long))               \
     : (option) < CURLOPTTYPE_FUNCTIONPOINT ? call(handle, option, va_arg(ap, void *))             \
     : (option) < CURLOPTTYPE_OFF_T         ? call(handle, option, va_arg(ap, any_function))       \
     : (option) < CURLOPTTYPE_BLOB          ? call(handle, option, va_arg(ap, curl_off_t))         \
                                            : call(handle, option, va_arg(ap, void *)))

#define FORWARD_SETTER(ret, name, handle_type, option_type)                                        \
    ret(name)(handle_type * h, option_type option, ...)                                            \
    {                                                                                              \
        need_curl();                                                                               \
        va_list ap;                                                                                \
        va_start(ap, option);                                                                      \
        ret rc = FORWARD_OPTION(fn.name, h, option, ap);                                           \
        va_end(ap);                                                                                \
        return rc;                                                                                 \
    }
FORWARD_SETTER(CURLcode, curl_easy_setopt, CURL, CURLoption)
FORWARD_SETTER(CURLMcode, curl_multi_setopt, CURLM, CURLMoption)

/* Every CURLINFO_* takes a pointer to where the answer goes. */
CURLcode(curl_easy_getinfo)(CURL *h, CURLINFO info, ...)
{
    need_curl();
    va_list ap;
    va_start(ap, info);
    CURLcode rc = fn.curl_easy_getinfo(h, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}
