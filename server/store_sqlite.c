/* store_sqlite.c: the sqlite:PATH store (store.h). One connection, its statements prepared
 * once, behind the store's mutex. Lookups run on the caller's thread;
 * writes are queued (a copy each; bounded: past it they are dropped and
 * counted, never waited for) and written by the store's own thread, up to
 * 32 in a transaction, so a miss does not wait for SQLite's write.
 *
 * Ownership: a queued write belongs to the queue (qlock) until the writer
 * takes it; the writer frees it.
 *
 * The table: replies(rowid, key, body, len, sum, used). The rowid is the
 * key's first 8 bytes (one b-tree, no index to keep: a lookup is one
 * search, a write one insert), the whole key is checked on a lookup; sum is
 * the body's FNV-1a (damage, not malice: the key is the SHA-256); used is
 * when it was last read or written (ms since the epoch), the order of
 * eviction (a scan, when the file is over its bound).
 * meta(k, v): the format, and every process's lookups and hits. */
#include "store_impl.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define BUSY_MS 50
#define OLD_RECORD_MAX (64u << 20) /* an old-format record longer than this is damage */
#define COUNTS_EVERY 64            /* lookups between writes of the shared counts */
#define LOG_EVERY_MS 60000         /* one log line a minute for repeated errors */
/* A hit marks its reply as used (a write) only when the mark is older than
 * this: the order of eviction to the minute, and most hits a read only. */
#define TOUCH_AFTER_MS 60000
#define QUEUE_BYTES (16u << 20) /* writes waiting, at most */
#define QUEUE_WRITES 8192
#define BATCH 32 /* a batch holds the connection from lookups: about a millisecond */
#define CHECK_FILE_MS 1000 /* how often the file at the path is checked to be the one open */

enum { Q_GET, Q_TOUCH, Q_PUT, Q_DELETE, Q_TOTAL, Q_EVICT, Q_COUNT_ADD, NQ };

static const char *const sql[NQ] = {
    "SELECT rowid, body, len, sum, used, key FROM replies WHERE rowid = ?1",
    "UPDATE replies SET used = ?2 WHERE rowid = ?1",
    "INSERT OR REPLACE INTO replies(rowid, key, body, len, sum, used) VALUES(?6, ?1, ?2, ?3, ?4, ?5)",
    "DELETE FROM replies WHERE rowid = ?1",
    "SELECT COUNT(*), TOTAL(len) FROM replies",
    "DELETE FROM replies WHERE rowid IN (SELECT rowid FROM replies ORDER BY used LIMIT ?1)",
    "INSERT INTO meta(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = v + excluded.v",
};

static const char schema[] =
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = NORMAL;"
    "CREATE TABLE IF NOT EXISTS replies(key BLOB NOT NULL, body BLOB NOT NULL, "
    "len INTEGER NOT NULL, sum INTEGER NOT NULL, used INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(k, v) VALUES('format', 1);";

typedef struct pending {
    store_key key;
    char *body;
    size_t len;
    struct pending *next;
} pending;

typedef struct sqlite_store {
    store base;
    pthread_mutex_t lock; /* the connection and the figures */
    pthread_mutex_t qlock; /* the queue of writes */
    pthread_cond_t qcond;
    pending *head, *tail;
    size_t qbytes, qn;
    int stop;
    pthread_t writer;
    int writer_started;
    char *path;
    size_t max_bytes;
    sqlite3 *db;
    sqlite3_stmt *q[NQ];
    long long bytes; /* this process's idea of the file's total, checked when over */
    store_stats st;
    unsigned long pending_lookups, pending_hits;
    int64_t last_log;
    /* The file open: the one at path when it was opened. Another process
     * that found it damaged moves it aside and makes a new one there; this
     * one then reopens (checked every CHECK_FILE_MS), so that the processes
     * sharing the path share one file again. */
    dev_t dev;
    ino_t ino;
    int have_id;
    int64_t checked_ms;
} sq;

/* The row of a key: its first 8 bytes. */
static sqlite3_int64 row_of(const store_key *k)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | k->d[i];
    return (sqlite3_int64)v;
}

/* Records an error; logs it unless one was logged in the last minute. */
static void failed(sq *s, const char *what, int rc)
{
    s->st.ok = 0;
    s->st.errors++;
    snprintf(s->st.last_error, sizeof s->st.last_error, "%s: %s", what,
             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    int64_t now = now_ms();
    if (!s->last_log || now - s->last_log >= LOG_EVERY_MS) {
        s->last_log = now;
        log_warn("reply cache store %s: %s (the rollouts go on to the LLM; errors so far: %lu)",
                 s->path, s->st.last_error, s->st.errors);
    }
}

static void close_db(sq *s)
{
    for (int i = 0; i < NQ; i++) {
        sqlite3_finalize(s->q[i]);
        s->q[i] = NULL;
    }
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
}

/* Whether the file at s->path is not the one opened: replaced (or removed). */
static int replaced(const sq *s)
{
    struct stat st;
    if (!s->have_id)
        return 0;
    return stat(s->path, &st) != 0 || st.st_dev != s->dev || st.st_ino != s->ino;
}

/* Moves path (and its -wal and -shm) aside as PATH.SUFFIX-TIME; returns
 * the new name (a new string) or NULL. */
static char *set_aside(const char *path, const char *suffix)
{
    char *to = xasprintf("%s.%s-%lld", path, suffix, (long long)time(NULL));
    if (rename(path, to) != 0) {
        log_error("reply cache store: cannot move %s aside: %s", path, strerror(errno));
        free(to);
        return NULL;
    }
    for (const char *ext = "-wal"; ext; ext = strcmp(ext, "-wal") == 0 ? "-shm" : NULL) {
        char *side = xasprintf("%s%s", path, ext);
        unlink(side);
        free(side);
    }
    return to;
}

/* Opens (creating) the database at s->path; 0, or an SQLite error code. */
static int open_db(sq *s)
{
    int rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                  SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK)
        return rc;
    struct stat st;
    s->have_id = stat(s->path, &st) == 0;
    if (s->have_id) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    s->checked_ms = now_ms();
    sqlite3_busy_timeout(s->db, BUSY_MS * 20); /* set-up may wait longer than a lookup */
    char *msg = NULL;
    rc = sqlite3_exec(s->db, schema, NULL, NULL, &msg);
    sqlite3_free(msg);
    if (rc != SQLITE_OK)
        return rc;
    /* A damaged page shows up here rather than in the middle of a run. */
    sqlite3_stmt *chk = NULL;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &chk, NULL);
    if (rc == SQLITE_OK && sqlite3_step(chk) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(chk, 0), "ok") != 0)
        rc = SQLITE_CORRUPT;
    sqlite3_finalize(chk);
    if (rc != SQLITE_OK)
        return rc;
    for (int i = 0; i < NQ && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL);
    sqlite3_busy_timeout(s->db, BUSY_MS);
    return rc;
}

static int damage(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* Opens the database, moving a damaged one aside and starting anew. */
static int open_or_repair(sq *s)
{
    int rc = open_db(s);
    if (rc == SQLITE_OK)
        return 0;
    if (!damage(rc)) {
        failed(s, "cannot open", rc);
        close_db(s);
        return -1;
    }
    int theirs = replaced(s); /* another process set it aside meanwhile: its new file is good */
    close_db(s);
    if (!theirs) {
        char *aside = set_aside(s->path, "damaged");
        log_warn("reply cache store %s is damaged (%s): moved to %s, starting an empty one",
                 s->path, sqlite3_errstr(rc), aside ? aside : "(could not move it)");
        free(aside);
        s->st.repaired++;
    }
    rc = open_db(s);
    if (rc != SQLITE_OK) {
        failed(s, "cannot create", rc);
        close_db(s);
        return -1;
    }
    return 0;
}

/* A failed statement: damage makes the store start anew; anything else is
 * a miss. */
static void statement_failed(sq *s, const char *what, int rc)
{
    failed(s, what, rc);
    if (damage(rc)) {
        close_db(s);
        open_or_repair(s);
    }
}

/* At most every CHECK_FILE_MS: a file replaced at the path (another
 * process moved a damaged one aside) is reopened. Under s->lock. */
static void follow_the_path(sq *s)
{
    int64_t now = now_ms();
    if (!s->db || now - s->checked_ms < CHECK_FILE_MS)
        return;
    s->checked_ms = now;
    if (!replaced(s))
        return;
    log_warn("reply cache store %s: the file there is not the one open (another process moved a "
             "damaged one aside?): reopening it", s->path);
    s->st.reopened++;
    close_db(s); /* (the shared counts not yet written go to the new file) */
    open_or_repair(s);
}

/* ---- the old format: "%016llx%016llx %zu\n" then the body and "\n" ------ */

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Whether p[0..n) starts with an old-format record header; its body length
 * and header length. */
static int old_header(const unsigned char *p, size_t n, size_t *len, size_t *hlen)
{
    if (n < 35)
        return 0;
    for (int i = 0; i < 32; i++)
        if (hexval(p[i]) < 0)
            return 0;
    if (p[32] != ' ')
        return 0;
    size_t i = 33, v = 0;
    for (; i < n && i < 33 + 10 && p[i] >= '0' && p[i] <= '9'; i++)
        v = v * 10 + (size_t)(p[i] - '0');
    if (i == 33 || i >= n || p[i] != '\n' || v > OLD_RECORD_MAX)
        return 0;
    *len = v;
    *hlen = i + 1;
    return 1;
}

/* The whole records of an old-format file, skipping damaged ones to the
 * next line. */
static size_t count_old_records(const unsigned char *p, size_t n)
{
    size_t records = 0, len, hlen;
    for (size_t off = 0; off < n;) {
        if (old_header(p + off, n - off, &len, &hlen) && off + hlen + len < n &&
            p[off + hlen + len] == '\n') {
            records++;
            off += hlen + len + 1;
            continue;
        }
        const unsigned char *nl = memchr(p + off, '\n', n - off);
        if (!nl)
            break;
        off = (size_t)(nl - p) + 1;
    }
    return records;
}

/* A file at path that is not SQLite: set aside with a warning. */
static void set_aside_foreign(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    unsigned char head[16] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    if (got == 0 || (got == 16 && memcmp(head, "SQLite format 3", 16) == 0)) {
        fclose(f);
        return;
    }
    /* the records of its first 16 MiB, for the warning */
    size_t records = 0, cap = 16u << 20;
    unsigned char *start = malloc(cap);
    rewind(f);
    size_t n = start ? fread(start, 1, cap, f) : 0;
    int more = n == cap; /* records past the first 16 MiB go uncounted */
    if (n)
        records = count_old_records(start, n);
    free(start);
    fclose(f);
    char *aside = set_aside(path, records ? "old-format" : "not-sqlite");
    if (records)
        log_warn("reply cache: %s is a cache file of the old format (%zu%s replies, keyed by the "
                 "old hash, which no request finds now): moved to %s; a new SQLite store starts "
                 "in its place", path, records, more ? " or more" : "", aside ? aside : "(could not move it)");
    else
        log_warn("reply cache: %s is neither SQLite nor an old cache file: moved to %s; a new "
                 "store starts in its place", path, aside ? aside : "(could not move it)");
    free(aside);
}

static void *writer_run(void *arg);

static const store_ops sqlite_ops;

store *store_sqlite_open(const char *path, size_t max_bytes)
{
    sq *s = xcalloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->qcond, NULL);
    s->path = xstrdup(path);
    s->max_bytes = max_bytes;
    s->st.kind = "sqlite";
    s->st.path = s->path;
    s->st.ok = 1;
    set_aside_foreign(s->path);
    if (open_or_repair(s) == 0) {
        sqlite3_stmt *t = s->q[Q_TOTAL];
        if (sqlite3_step(t) == SQLITE_ROW)
            s->bytes = (long long)sqlite3_column_double(t, 1);
        sqlite3_reset(t);
    }
    /* (it inherits the opener's signal mask: the server's blocks them all) */
    s->writer_started = pthread_create(&s->writer, NULL, writer_run, s) == 0;
    if (!s->writer_started)
        log_warn("reply cache store %s: cannot start its writer thread: replies will not be "
                 "stored", s->path);
    return &s->base;
}

static void flush_counts(sq *s)
{
    if (!s->db || (!s->pending_lookups && !s->pending_hits))
        return;
    sqlite3_stmt *q = s->q[Q_COUNT_ADD];
    const char *names[2] = {"lookups", "hits"};
    unsigned long vals[2] = {s->pending_lookups, s->pending_hits};
    for (int i = 0; i < 2; i++) {
        sqlite3_bind_text(q, 1, names[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)vals[i]);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            return; /* kept for the next try */
    }
    s->pending_lookups = s->pending_hits = 0;
}

static void sqlite_close(store *b)
{
    sq *s = (sq *)b;
    if (s->writer_started) { /* the queued writes go in first */
        pthread_mutex_lock(&s->qlock);
        s->stop = 1;
        pthread_cond_signal(&s->qcond);
        pthread_mutex_unlock(&s->qlock);
        pthread_join(s->writer, NULL);
    }
    pthread_mutex_lock(&s->lock);
    flush_counts(s);
    close_db(s);
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->qlock);
    pthread_cond_destroy(&s->qcond);
    free(s->path);
    free(s);
}

static int sqlite_get(store *b, const store_key *key, char **out, size_t *len)
{
    sq *s = (sq *)b;
    pthread_mutex_lock(&s->lock);
    int64_t t0 = now_us();
    int hit = 0;
    s->st.gets++;
    s->pending_lookups++;
    if (!s->db)
        open_or_repair(s); /* after an error that closed it */
    follow_the_path(s);
    if (s->db) {
        sqlite3_stmt *q = s->q[Q_GET];
        sqlite3_bind_int64(q, 1, row_of(key));
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW && (sqlite3_column_bytes(q, 5) != (int)sizeof key->d ||
                                 memcmp(sqlite3_column_blob(q, 5), key->d, sizeof key->d) != 0)) {
            sqlite3_reset(q); /* another key with the same first 8 bytes: a miss */
            s->st.ok = 1;
        } else if (rc == SQLITE_ROW) {
            sqlite3_int64 rowid = sqlite3_column_int64(q, 0);
            sqlite3_int64 used = sqlite3_column_int64(q, 4);
            int64_t now = wall_ms();
            const void *body = sqlite3_column_blob(q, 1);
            size_t n = (size_t)sqlite3_column_bytes(q, 1);
            int good = (sqlite3_int64)n == sqlite3_column_int64(q, 2) &&
                       (sqlite3_int64)fnv1a64(body ? body : "", n, 0) == sqlite3_column_int64(q, 3);
            if (good) {
                *out = xstrndup(body ? body : "", n);
                *len = n;
                hit = 1;
            }
            sqlite3_reset(q);
            rc = SQLITE_DONE;
            if (!good || now - used >= TOUCH_AFTER_MS) {
                sqlite3_stmt *u = s->q[good ? Q_TOUCH : Q_DELETE];
                sqlite3_bind_int64(u, 1, rowid);
                if (good)
                    sqlite3_bind_int64(u, 2, now);
                else
                    log_warn("reply cache store %s: a stored reply failed its check; dropped, "
                             "it will be fetched again", s->path);
                rc = sqlite3_step(u);
                sqlite3_reset(u);
            }
            if (rc != SQLITE_DONE && rc != SQLITE_BUSY) /* a busy touch only ages it */
                statement_failed(s, good ? "touch" : "delete", rc);
            else
                s->st.ok = 1;
        } else {
            sqlite3_reset(q);
            if (rc == SQLITE_DONE)
                s->st.ok = 1;
            else
                statement_failed(s, "lookup", rc);
        }
    }
    s->st.hits += (unsigned long)hit;
    s->pending_hits += (unsigned long)hit;
    if (s->pending_lookups >= COUNTS_EVERY)
        flush_counts(s);
    s->st.get_seconds += (double)(now_us() - t0) / 1e6;
    pthread_mutex_unlock(&s->lock);
    return hit;
}

/* Deletes the least recently used replies until the file holds 90% of
 * max_bytes at most (its true total read back, since other processes write
 * too): about as many rows as the excess takes, a few rounds at most. */
static void evict(sq *s)
{
    for (int round = 0; round < 16; round++) {
        sqlite3_stmt *t = s->q[Q_TOTAL];
        int rc = sqlite3_step(t);
        long long rows = rc == SQLITE_ROW ? sqlite3_column_int64(t, 0) : 0;
        s->bytes = rc == SQLITE_ROW ? (long long)sqlite3_column_double(t, 1) : s->bytes;
        sqlite3_reset(t);
        long long keep = (long long)(s->max_bytes / 10 * 9);
        if (rc != SQLITE_ROW || rows == 0 || s->bytes <= keep)
            return;
        long long avg = s->bytes / rows + 1;
        long long n = (s->bytes - keep) / avg + 1;
        sqlite3_stmt *e = s->q[Q_EVICT];
        sqlite3_bind_int64(e, 1, n);
        rc = sqlite3_step(e);
        sqlite3_reset(e);
        if (rc != SQLITE_DONE)
            return;
    }
}

static void put_locked(sq *s, const store_key *key, const char *body, size_t len)
{
    sqlite3_stmt *q = s->q[Q_PUT];
    sqlite3_bind_int64(q, 6, row_of(key));
    sqlite3_bind_blob(q, 1, key->d, sizeof key->d, SQLITE_STATIC);
    sqlite3_bind_blob(q, 2, body, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)len);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)fnv1a64(body, len, 0));
    sqlite3_bind_int64(q, 5, wall_ms());
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        statement_failed(s, "store", rc);
        return;
    }
    s->st.ok = 1;
    s->bytes += (long long)len;
}

static void sqlite_put(store *b, const store_key *key, const char *body, size_t len)
{
    sq *s = (sq *)b;
    if (len > s->max_bytes || len > (size_t)1 << 30)
        return;
    pthread_mutex_lock(&s->qlock);
    int room = s->writer_started && s->qbytes + len <= QUEUE_BYTES && s->qn < QUEUE_WRITES;
    if (room) {
        pending *w = xmalloc(sizeof *w);
        w->key = *key;
        w->body = xmalloc(len ? len : 1);
        memcpy(w->body, body, len);
        w->len = len;
        w->next = NULL;
        if (s->tail)
            s->tail->next = w;
        else
            s->head = w;
        s->tail = w;
        s->qbytes += len;
        s->qn++;
        pthread_cond_signal(&s->qcond);
    }
    pthread_mutex_unlock(&s->qlock);
    if (!room) {
        pthread_mutex_lock(&s->lock);
        s->st.dropped++;
        pthread_mutex_unlock(&s->lock);
    }
}

/* Writes a batch in one transaction (one at a time should BEGIN fail:
 * another process holding the lock longer than the busy wait). */
static void write_batch(sq *s, pending *batch)
{
    pthread_mutex_lock(&s->lock);
    int64_t t0 = now_us();
    if (!s->db)
        open_or_repair(s);
    follow_the_path(s);
    int txn = s->db && sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    for (pending *w = batch; w && s->db; w = w->next) {
        s->st.puts++;
        put_locked(s, &w->key, w->body, w->len);
    }
    if (txn && s->db && sqlite3_get_autocommit(s->db) == 0) {
        int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            statement_failed(s, "commit", rc);
        }
    }
    if (s->db && s->bytes > (long long)s->max_bytes)
        evict(s);
    s->st.put_seconds += (double)(now_us() - t0) / 1e6;
    pthread_mutex_unlock(&s->lock);
}

static void *writer_run(void *arg)
{
    sq *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->qlock);
        while (!s->head && !s->stop)
            pthread_cond_wait(&s->qcond, &s->qlock);
        pending *batch = s->head, *last = batch;
        size_t n = batch ? 1 : 0;
        while (last && last->next && n < BATCH) {
            last = last->next;
            n++;
        }
        if (batch) {
            s->head = last->next;
            if (!s->head)
                s->tail = NULL;
            last->next = NULL;
            for (pending *w = batch; w; w = w->next)
                s->qbytes -= w->len;
            s->qn -= n;
        }
        int stop = s->stop && !s->head;
        pthread_mutex_unlock(&s->qlock);
        if (batch)
            write_batch(s, batch);
        while (batch) {
            pending *w = batch;
            batch = w->next;
            free(w->body);
            free(w);
        }
        if (stop)
            return NULL;
    }
}

static store_stats sqlite_stats(store *b, int with_file)
{
    sq *s = (sq *)b;
    pthread_mutex_lock(&s->lock);
    if (with_file)
        follow_the_path(s);
    store_stats st = s->st;
    st.entries = st.bytes = -1;
    st.lookups_all = st.hits_all = 0;
    if (with_file && s->db) {
        flush_counts(s);
        sqlite3_stmt *t = s->q[Q_TOTAL];
        if (sqlite3_step(t) == SQLITE_ROW) {
            st.entries = sqlite3_column_int64(t, 0);
            st.bytes = (long long)sqlite3_column_double(t, 1);
        }
        sqlite3_reset(t);
        sqlite3_stmt *m = NULL;
        if (sqlite3_prepare_v2(s->db, "SELECT k, v FROM meta WHERE k IN ('lookups', 'hits')", -1, &m,
                               NULL) == SQLITE_OK)
            while (sqlite3_step(m) == SQLITE_ROW) {
                const char *k = (const char *)sqlite3_column_text(m, 0);
                long long v = sqlite3_column_int64(m, 1);
                if (strcmp(k, "lookups") == 0)
                    st.lookups_all = v;
                else
                    st.hits_all = v;
            }
        sqlite3_finalize(m);
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

static const store_ops sqlite_ops = {sqlite_get, sqlite_put, sqlite_stats, sqlite_close, NULL, NULL, NULL};
