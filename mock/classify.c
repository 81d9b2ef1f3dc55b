/* classify.c: see classify.h. */
#include "classify.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "meta.h"
#include "util.h"
#include "words.h"

#define W_NAME 1.0   /* query words in the intent's name */
#define W_DEMO 2.0   /* cosine similarity to a demonstration of the intent */
#define W_HINT 2.0  /* query words named by an instruction hint for the intent */
#define W_VAGUE 0.8 /* score noise when the instruction does not state the task */
#define DEMO_FLOOR 0.25 /* demonstrations less similar than this say nothing */
#define HINT_OPEN "If the customer mentions "
#define HINT_CHOOSE ", choose "

static const char *content_of(const json_t *m)
{
    const char *c = json_string_value(json_object_get(m, "content"));
    return c ? c : "";
}

/* The query inside a user message: after "Customer Query:" up to a blank
 * line, else the whole message. */
static void extract_query(const char *content, const char **q, size_t *n)
{
    const char *p = strstr(content, "Customer Query:");
    if (!p) {
        *q = content;
        *n = strlen(content);
        return;
    }
    p += strlen("Customer Query:");
    const char *end = strstr(p, "\n\n");
    *q = p;
    *n = end ? (size_t)(end - p) : strlen(p);
}

struct candidates {
    char **name;
    tokset *tok;
    double *score;
    size_t n, cap;
};

static int add_candidate(struct candidates *c, const char *name, size_t n)
{
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->name[i]) == n && memcmp(c->name[i], name, n) == 0)
            return (int)i;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 128;
        c->name = xrealloc(c->name, c->cap * sizeof *c->name);
        c->tok = xrealloc(c->tok, c->cap * sizeof *c->tok);
        c->score = xrealloc(c->score, c->cap * sizeof *c->score);
    }
    c->name[c->n] = xstrndup(name, n);
    words_tokenize(name, n, &c->tok[c->n]);
    c->score[c->n] = 0;
    return (int)c->n++;
}

/* Lines of the form "12. label_name" anywhere in the text. */
static void scan_intent_list(struct candidates *c, const char *s)
{
    for (const char *line = s; *line;) {
        size_t len = strcspn(line, "\n");
        const char *p = line;
        while (p < line + len && *p == ' ')
            p++;
        const char *digits = p;
        while (p < line + len && *p >= '0' && *p <= '9')
            p++;
        if (p > digits && p + 1 < line + len && p[0] == '.' && p[1] == ' ') {
            const char *name = p + 2;
            size_t n = (size_t)(line + len - name);
            while (n && (name[n - 1] == ' ' || name[n - 1] == '\r'))
                n--;
            if (n && n < 100 && !memchr(name, ' ', n))
                add_candidate(c, name, n);
        }
        line += len + (line[len] == '\n');
    }
}

/* The label an assistant demonstration gives: {"intent":...} content, a tool
 * call's arguments, or the first word of its text. */
static char *demo_label(const json_t *m)
{
    const json_t *calls = json_object_get(m, "tool_calls");
    const json_t *args = json_object_get(json_object_get(json_array_get(calls, 0), "function"),
                                         "arguments");
    json_t *parsed = NULL;
    if (json_is_string(args))
        parsed = json_loads(json_string_value(args), 0, NULL);
    else if (!args && *content_of(m) == '{')
        parsed = json_loads(content_of(m), 0, NULL);
    const char *intent = json_string_value(json_object_get(parsed ? parsed : args, "intent"));
    char *r = NULL;
    if (intent) {
        r = xstrdup(intent);
    } else {
        const char *c = content_of(m);
        c += strspn(c, " \t\r\n\"'");
        size_t n = strcspn(c, " \t\r\n\"',.");
        if (n)
            r = xstrndup(c, n);
    }
    json_decref(parsed);
    return r;
}

static void classify(const json_t *messages, mock_answer *out)
{
    struct candidates c = {0};
    size_t nmsg = json_array_size(messages);
    size_t last_user = (size_t)-1;
    for (size_t i = 0; i < nmsg; i++) {
        const json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        scan_intent_list(&c, content_of(m));
        if (role && strcmp(role, "user") == 0)
            last_user = i;
    }
    if (c.n == 0)
        for (size_t k = 0; k < B77_ARRAY_LEN(banking77_labels); k++)
            add_candidate(&c, banking77_labels[k], strlen(banking77_labels[k]));

    tokset query = {0}, demo;
    uint64_t query_hash = 0;
    if (last_user != (size_t)-1) {
        const char *q;
        size_t qn;
        extract_query(content_of(json_array_get(messages, last_user)), &q, &qn);
        words_tokenize(q, qn, &query);
        query_hash = fnv1a64(q, qn, 1);
    }

    /* Demonstrations: a user message followed by an assistant answer, before
     * the final query. Their labels join the candidates. */
    struct demo {
        int k;
        double sim;
    } *demos = NULL;
    size_t ndemos = 0;
    for (size_t i = 1; i < nmsg && i < last_user; i++) {
        const json_t *m = json_array_get(messages, i);
        const json_t *prev = json_array_get(messages, i - 1);
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *prev_role = json_string_value(json_object_get(prev, "role"));
        if (!role || !prev_role || strcmp(role, "assistant") || strcmp(prev_role, "user"))
            continue;
        char *label = demo_label(m);
        if (!label)
            continue;
        const char *q;
        size_t qn;
        extract_query(content_of(prev), &q, &qn);
        words_tokenize(q, qn, &demo);
        demos = xrealloc(demos, (ndemos + 1) * sizeof *demos);
        demos[ndemos].k = add_candidate(&c, label, strlen(label));
        double simv = words_cosine(&query, &demo) - DEMO_FLOOR;
        demos[ndemos].sim = simv > 0 ? W_DEMO * simv : 0;
        ndemos++;
        free(label);
    }
    /* Hints in the instruction: "If the customer mentions a, b or c, choose
     * label." (what the meta-prompt answers below produce). */
    struct hint {
        int k;
        double score;
    } *hints = NULL;
    size_t nhints = 0;
    for (size_t i = 0; i < nmsg; i++) {
        const json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "system") != 0)
            continue;
        const char *p = content_of(m);
        while ((p = strstr(p, HINT_OPEN))) {
            p += strlen(HINT_OPEN);
            const char *choose = strstr(p, HINT_CHOOSE);
            if (!choose)
                break;
            const char *lab = choose + strlen(HINT_CHOOSE);
            size_t ln = strcspn(lab, " \n");
            while (ln && lab[ln - 1] == '.')
                ln--;
            if (ln == 0 || ln > 100) {
                p = lab;
                continue;
            }
            tokset words;
            words_tokenize(p, (size_t)(choose - p), &words);
            hints = xrealloc(hints, (nhints + 1) * sizeof *hints);
            hints[nhints].k = add_candidate(&c, lab, ln);
            /* scored like a demonstration: similarity above a floor */
            double simv = words_cosine(&query, &words) - DEMO_FLOOR;
            hints[nhints].score = simv > 0 ? W_HINT * simv : 0;
            nhints++;
            p = lab + ln;
        }
    }
    /* A vague instruction makes the model erratic: noise on every score,
     * shrinking as the instruction names the task's terms. */
    static const char *const terms[][3] = {
        {"intent", NULL, NULL}, {"classif", NULL, NULL}, {"label", NULL, NULL},
        {"exactly", "single", "one "},
    };
    buf sys = {0};
    for (size_t i = 0; i < nmsg; i++) {
        const json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && strcmp(role, "system") == 0)
            buf_puts(&sys, content_of(m));
    }
    for (size_t i = 0; i < sys.len; i++)
        sys.data[i] = (char)tolower((unsigned char)sys.data[i]);
    size_t named = 0;
    for (size_t t = 0; t < B77_ARRAY_LEN(terms); t++)
        for (size_t a = 0; a < 3 && terms[t][a]; a++)
            if (sys.data && strstr(sys.data, terms[t][a])) {
                named++;
                break;
            }
    double vague = W_VAGUE * (1.0 - (double)named / (double)B77_ARRAY_LEN(terms));
    uint64_t noise_seed = fnv1a64(sys.data ? sys.data : "", sys.len, 0);
    buf_free(&sys);

    /* Per intent: the best demonstration's similarity plus every hint. */
    double *extra = xcalloc(c.n ? c.n : 1, sizeof(double));
    for (size_t d = 0; d < ndemos; d++)
        if (demos[d].sim > extra[demos[d].k])
            extra[demos[d].k] = demos[d].sim;
    for (size_t h = 0; h < nhints; h++)
        extra[hints[h].k] += hints[h].score;
    free(hints);
    free(demos);
    size_t best = 0;
    for (size_t k = 0; k < c.n; k++) {
        double norm = c.tok[k].n ? sqrt((double)c.tok[k].n) : 1.0;
        c.score[k] = W_NAME * (double)words_overlap(&query, &c.tok[k]) / norm + extra[k];
        if (vague > 0) {
            uint64_t h = noise_seed ^ fnv1a64(c.name[k], strlen(c.name[k]), query_hash);
            c.score[k] += vague * (double)(splitmix64(&h) >> 11) / 9007199254740992.0;
        }
        if (c.score[k] > c.score[best])
            best = k;
    }
    out->classification = 1;
    out->intent = xstrdup(c.n ? c.name[best] : "unknown");
    free(extra);
    for (size_t k = 0; k < c.n; k++)
        free(c.name[k]);
    free(c.name);
    free(c.tok);
    free(c.score);
}

static int is_classification(const json_t *messages, int tools_offered)
{
    if (tools_offered)
        return 1;
    for (size_t i = 0; i < json_array_size(messages); i++) {
        const char *c = content_of(json_array_get(messages, i));
        if (strstr(c, "Customer Query:") || strstr(c, "Available Intents"))
            return 1;
    }
    return 0;
}

void mock_answer_for(const sim *model, const json_t *messages, int tools_offered, mock_answer *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_array(messages))
        messages = NULL;
    if (!is_classification(messages, tools_offered)) {
        out->text = meta_write(messages);
        return;
    }
    const char *known = model && messages ? sim_classify(model, messages) : NULL;
    if (known) {
        out->classification = 1;
        out->intent = xstrdup(known);
    } else {
        classify(messages, out);
    }
}

void mock_answer_free(mock_answer *a)
{
    free(a->intent);
    free(a->text);
    memset(a, 0, sizeof *a);
}
