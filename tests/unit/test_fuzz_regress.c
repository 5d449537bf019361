/* test_fuzz_regress.c -- replays every file of tests/fuzz/regress/<target>/
 * (inputs that once crashed, leaked or failed an oracle) and of
 * tests/fuzz/corpus/<target>/ (the seeds) through the same checks as the
 * libFuzzer targets (tests/fuzz/targets.h), in the normal build. An oracle
 * failure aborts; under ASan/UBSan (make unit-asan) memory errors, leaks
 * and UB fail the run as well. ctest runs this from tests/unit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <dirent.h>

#include <cmocka.h>

#include "targets.h"
#include "util/mem.h"

typedef int (*fuzz_one_fn)(const uint8_t *, size_t);

/* Reads a whole file into a fresh buffer; NULL if it cannot. */
static uint8_t *replay_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = tn_realloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        tn_free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Runs fn over every regular file in dir; returns how many. A missing
 * directory counts as empty. */
static size_t replay_dir(const char *dir, fuzz_one_fn fn)
{
    DIR *d = opendir(dir);
    size_t count = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = tn_sprintf("%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *data = replay_read(path, &len);
        if (data) {
            fn(data, len);
            count++;
        }
        tn_free(data);
        tn_free(path);
    }
    closedir(d);
    return count;
}

struct replay_target {
    const char *name;
    fuzz_one_fn fn;
};

static const struct replay_target replay_targets[] = {
    {"xml", fuzz_xml_one},
    {"jid", fuzz_jid_one},
    {"scram", fuzz_scram_one},
    {"config", fuzz_config_one},
    {"tls13", fuzz_tls13_one},
    {"ws", fuzz_ws_one},
    {"certname", fuzz_certname_one},
    {"http", fuzz_http_one},
};

#define REPLAY_N (sizeof replay_targets / sizeof *replay_targets)

static void test_replay(void **state)
{
    const struct replay_target *t = *state;
    char *regress = tn_sprintf("../fuzz/regress/%s", t->name);
    char *corpus = tn_sprintf("../fuzz/corpus/%s", t->name);
    replay_dir(regress, t->fn);
    /* The seed corpus must exist and be non-empty: a wrong working
     * directory would otherwise make this test pass vacuously. */
    assert_true(replay_dir(corpus, t->fn) > 0);
    tn_free(regress);
    tn_free(corpus);
}

/* Empty and tiny inputs go through every target. */
static void test_edge_inputs(void **state)
{
    static const uint8_t zeros[8];
    for (size_t i = 0; i < REPLAY_N; i++)
        for (size_t n = 0; n <= sizeof zeros; n++)
            replay_targets[i].fn(zeros, n);
}

int main(void)
{
    /* One test per entry of replay_targets, named for its target, so that
     * a target added there is replayed without another line here. */
    struct CMUnitTest tests[REPLAY_N + 1];
    for (size_t i = 0; i < REPLAY_N; i++)
        tests[i] = (struct CMUnitTest){
            .name = replay_targets[i].name,
            .test_func = test_replay,
            .initial_state = (void *)&replay_targets[i],
        };
    tests[REPLAY_N] = (struct CMUnitTest)cmocka_unit_test(test_edge_inputs);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
