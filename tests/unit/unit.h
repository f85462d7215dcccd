/* A tiny unit-test framework: TEST(name) registers a function; the runner forks each test into
 * its own process with a timeout (libuv's model), so a crash or hang fails one test, not the run.
 *   CHECK(cond)            fails the test with file:line and the expression
 *   CHECK_EQ_INT(a, b)     integer equality with both values in the message
 *   CHECK_EQ_STR(a, b)     string equality (NULL-safe)
 * Run a binary with a test name (or a prefix ending in '*') to run only those tests.
 * UNIT_TIMEOUT (seconds, default 30) bounds each test. */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void unit_register(const char *name, void (*fn)(void), const char *file);
void unit_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        unit_register(#name, test_##name, __FILE__);                                               \
    }                                                                                              \
    static void test_##name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            unit_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                     \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b)                                                                              \
            unit_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b);               \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b ? _a != _b : strcmp(_a, _b) != 0)                                           \
            unit_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                    \
                      _a ? _a : "(null)", _b ? _b : "(null)");                                     \
    } while (0)

#endif
