/* test.h: a minimal unit-test harness. Each TEST(name) registers itself;
 * CHECK records a failure and goes on; the runner prints one line per failed
 * check and "N passed, N failed" at the end. */
#ifndef B77_TEST_H
#define B77_TEST_H

#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
extern int test_failed_checks;
void test_fail(const char *file, int line, const char *expr);

#define TEST(name)                                                                           \
    static void name(void);                                                                  \
    __attribute__((constructor)) static void register_##name(void) { test_register(#name, name); } \
    static void name(void)

#define CHECK(expr)                                                                          \
    do {                                                                                     \
        if (!(expr))                                                                         \
            test_fail(__FILE__, __LINE__, #expr);                                            \
    } while (0)

#define CHECK_STR(a, b)                                                                      \
    do {                                                                                     \
        const char *a_ = (a), *b_ = (b);                                                     \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                             \
            char m_[1024];                                                                   \
            snprintf(m_, sizeof m_, "%s == %s (\"%s\" vs \"%s\")", #a, #b, a_ ? a_ : "(null)", \
                     b_ ? b_ : "(null)");                                                    \
            test_fail(__FILE__, __LINE__, m_);                                               \
        }                                                                                    \
    } while (0)

/* The real dataset folder, for tests that load it. */
const char *test_data_dir(void);

#endif
