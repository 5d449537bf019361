/* test_buf.c -- unit tests for the formatting helpers of util/buf.c and
 * util/mem.c, which format in one pass when the result fits (the spare
 * room of the buffer, a 256-byte stack buffer) and in two otherwise:
 * results on both sides of each bound, appended after earlier content. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/mem.h"

static char *repeat(char c, size_t n)
{
    char *s = tn_malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_sprintf_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 250, 254, 255, 256, 257, 1000, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *body = repeat('x', sizes[i]);
        char *s = tn_sprintf("<%s>", body);
        assert_int_equal(strlen(s), sizes[i] + 2);
        assert_int_equal(s[0], '<');
        assert_int_equal(s[sizes[i] + 1], '>');
        assert_memory_equal(s + 1, body, sizes[i]);
        tn_free(s);
        tn_free(body);
    }
    char *s = tn_sprintf("%d-%s", 42, "a");
    assert_string_equal(s, "42-a");
    tn_free(s);
}

static void test_buf_printf_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 60, 62, 63, 64, 65, 127, 128, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (size_t pre = 0; pre < 70; pre += 23) {
            tn_buf_t b;
            tn_buf_init(&b);
            char *head = repeat('h', pre), *body = repeat('y', sizes[i]);
            tn_buf_puts(&b, head);
            tn_buf_printf(&b, "[%s]%d", body, 7);
            assert_int_equal(b.len, pre + sizes[i] + 3);
            assert_int_equal(strlen(b.data), b.len);
            assert_memory_equal(b.data, head, pre);
            assert_int_equal(b.data[pre], '[');
            assert_memory_equal(b.data + pre + 1, body, sizes[i]);
            assert_string_equal(b.data + pre + 1 + sizes[i], "]7");
            tn_buf_printf(&b, "%s", "");
            assert_int_equal(strlen(b.data), b.len);
            tn_free(head);
            tn_free(body);
            tn_buf_release(&b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sprintf_sizes),
        cmocka_unit_test(test_buf_printf_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
