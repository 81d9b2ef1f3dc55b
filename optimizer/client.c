/* client.c: see client.h. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"

enum { ST_WAIT, ST_ACTIVE, ST_DONE };


static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    http_req *r = arg;
    buf_append(&r->reply, data, size * n);
    return size * n;
}

static void start(CURLM *multi, http_req *r, long timeout_ms)
{
    if (!r->easy)
        r->easy = curl_easy_init();
    CURL *e = r->easy;
    curl_easy_reset(e);
    buf_reset(&r->reply);
    r->error[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "banking77-mipro/1.0");
    curl_multi_add_handle(multi, e);
    r->attempts++;
    r->state = ST_ACTIVE;
}

#define MAX_LIMITED 30 /* slow-down replies one request may get */
#define CUT_GAP_MS 1000 /* the concurrency is halved at most this often */
#define TICK_MS 500

void http_run(CURLM *multi, http_req *reqs, size_t n, const http_opts *o)
{
    uint64_t rng = (uint64_t)now_ms();
    http_stats *st = o->stats;
    size_t done = 0, active = 0;
    int limit = o->max_concurrent > 0 ? o->max_concurrent : 1;
    int64_t paused_until = 0;
    int64_t last_cut = 0, last_tick = 0;
    for (size_t i = 0; i < n; i++) {
        reqs[i].state = ST_WAIT;
        reqs[i].retry_at = 0;
        reqs[i].attempts = 0;
        reqs[i].limited = 0;
        reqs[i].status = 0;
    }
    while (done < n) {
        int64_t now = now_ms(), next = now + 1000;
        if (o->stop && *o->stop) {
            for (size_t i = 0; i < n; i++) {
                if (reqs[i].state == ST_ACTIVE)
                    curl_multi_remove_handle(multi, reqs[i].easy);
                if (reqs[i].state != ST_DONE) {
                    reqs[i].state = ST_DONE;
                    reqs[i].status = 0;
                    snprintf(reqs[i].error, sizeof reqs[i].error, "interrupted");
                }
            }
            break;
        }
        if (now < paused_until) {
            if (paused_until < next)
                next = paused_until;
        } else {
            for (size_t i = 0; i < n && active < (size_t)limit; i++) {
                if (reqs[i].state != ST_WAIT)
                    continue;
                if (reqs[i].retry_at > now) {
                    if (reqs[i].retry_at < next)
                        next = reqs[i].retry_at;
                    continue;
                }
                start(multi, &reqs[i], o->timeout_ms);
                if (st)
                    st->requests++;
                active++;
            }
        }
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            http_req *r = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            long status = 0;
            curl_off_t ra = 0;
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &ra); /* 0: none */
            curl_multi_remove_handle(multi, r->easy);
            active--;
            CURLcode rc = m->data.result;
            r->status = rc == CURLE_OK ? status : 0;
            if (rc != CURLE_OK && !r->error[0])
                snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
            int64_t t = now_ms();
            int slow_down = rc == CURLE_OK && (status == 429 || (status == 503 && ra > 0));
            if (slow_down) {
                r->limited++;
                if (st)
                    st->rate_limited++;
                int64_t wait = backoff_wait_ms(r->limited, (long long)ra, &rng);
                if (t + wait > paused_until)
                    paused_until = t + wait;
                if (st && paused_until > st->limited_until)
                    st->limited_until = paused_until;
                if (t - last_cut >= CUT_GAP_MS) {
                    limit = ((int)active + 1) / 2 > 0 ? ((int)active + 1) / 2 : 1;
                    last_cut = t;
                }
            } else if (rc == CURLE_OK && status < 500 && limit < o->max_concurrent) {
                limit++;
            }
            int again = rc != CURLE_OK || backoff_retryable(status);
            int more = slow_down ? r->limited <= MAX_LIMITED : r->attempts - r->limited <= o->max_retries;
            if (again && more) {
                r->retry_at = slow_down ? paused_until
                                        : t + backoff_wait_ms(r->attempts - r->limited, (long long)ra, &rng);
                r->state = ST_WAIT;
                if (st)
                    st->retries++;
            } else {
                r->state = ST_DONE;
                done++;
            }
        }
        if (done >= n)
            break;
        now = now_ms();
        if (o->tick && now - last_tick >= TICK_MS) {
            last_tick = now;
            o->tick(o->tick_arg);
        }
        int64_t wait = next - now;
        if (now < paused_until && st)
            st->waited_ms += wait > 0 ? (wait < 200 ? wait : 200) : 0;
        curl_multi_poll(multi, NULL, 0, wait > 0 ? (int)(wait < 200 ? wait : 200) : 0, NULL);
    }
}

void http_req_free(http_req *r)
{
    free(r->url);
    free(r->body);
    curl_slist_free_all(r->headers);
    buf_free(&r->reply);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    memset(r, 0, sizeof *r);
}
