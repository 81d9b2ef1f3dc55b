/* main.c: runs every registered unit test. */
#include <stdlib.h>

#include "test.h"

#define MAX_TESTS 512

struct test {
    const char *name;
    test_fn fn;
};
static struct test tests[MAX_TESTS];
static int ntests;
int test_failed_checks;

void test_register(const char *name, test_fn fn)
{
    if (ntests < MAX_TESTS)
        tests[ntests++] = (struct test){name, fn};
}

void test_fail(const char *file, int line, const char *expr)
{
    test_failed_checks++;
    fprintf(stderr, "  %s:%d: check failed: %s\n", file, line, expr);
}

const char *test_data_dir(void)
{
    const char *d = getenv("B77_DATA_DIR");
    return d ? d : "dataset";
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1]))
            continue;
        int before = test_failed_checks;
        tests[i].fn();
        if (test_failed_checks == before) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL unit/%s\n", tests[i].name);
        }
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
