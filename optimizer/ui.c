/* ui.c: see ui.h. */
#include "ui.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

struct ui {
    struct MHD_Daemon *d;
    pthread_mutex_t lock; /* guards page and version */
    char *page;
    long version;
    char url[96];
};

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *size, void **con_cls)
{
    (void)version, (void)data, (void)size, (void)con_cls;
    ui *u = cls;
    const char *type = "text/html; charset=utf-8";
    unsigned status = MHD_HTTP_OK;
    char *body;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        type = "application/json";
        body = xstrdup("{\"detail\":\"the live page is read-only: GET / or /version\"}");
    } else if (strcmp(url, "/") == 0 || strcmp(url, "/report.html") == 0) {
        pthread_mutex_lock(&u->lock);
        body = xstrdup(u->page ? u->page : "<!DOCTYPE html><title>starting</title><p>Starting...</p>");
        pthread_mutex_unlock(&u->lock);
    } else if (strcmp(url, "/version") == 0) {
        pthread_mutex_lock(&u->lock);
        body = xasprintf("%ld\n", u->version);
        pthread_mutex_unlock(&u->lock);
        type = "text/plain";
    } else {
        status = MHD_HTTP_NOT_FOUND;
        type = "application/json";
        body = xstrdup("{\"detail\":\"not found: the live page is at /\"}");
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

ui *ui_start(const char *where, char *err, size_t errlen)
{
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(where, ':');
    const char *port_s = colon ? colon + 1 : where;
    if (colon) {
        size_t n = (size_t)(colon - where);
        if (n == 0 || n >= sizeof host) {
            snprintf(err, errlen, "--ui wants [HOST:]PORT, got \"%s\"", where);
            return NULL;
        }
        memcpy(host, where, n);
        host[n] = '\0';
    }
    char *end;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 0 || port > 65535) {
        snprintf(err, errlen, "--ui wants [HOST:]PORT, got \"%s\"", where);
        return NULL;
    }
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "--ui host must be an IPv4 address, got \"%s\"", host);
        return NULL;
    }
    ui *u = xcalloc(1, sizeof *u);
    pthread_mutex_init(&u->lock, NULL);
    u->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, serve, u,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                            MHD_OPTION_END);
    if (!u->d) {
        snprintf(err, errlen, "cannot listen on %s:%ld for --ui (in use?)", host, port);
        pthread_mutex_destroy(&u->lock);
        free(u);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(u->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(u->url, sizeof u->url, "http://%s:%u/", host, info ? info->port : (unsigned)port);
    return u;
}

const char *ui_url(const ui *u)
{
    return u->url;
}

void ui_publish(ui *u, char *html, long version)
{
    if (!u) {
        free(html);
        return;
    }
    pthread_mutex_lock(&u->lock);
    free(u->page);
    u->page = html;
    u->version = version;
    pthread_mutex_unlock(&u->lock);
}

void ui_stop(ui *u)
{
    if (!u)
        return;
    MHD_stop_daemon(u->d);
    pthread_mutex_destroy(&u->lock);
    free(u->page);
    free(u);
}
