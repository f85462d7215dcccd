/* Runner for TEST() functions: each test runs in a forked child with an alarm; the parent
 * collects exit statuses and prints one line per test and a summary. */
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/unit.h"

struct unit_test {
    const char *name;
    const char *file;
    void (*fn)(void);
};

static struct unit_test tests[1024];
static size_t ntests;

void unit_register(const char *name, void (*fn)(void), const char *file)
{
    if (ntests < sizeof(tests) / sizeof(tests[0]))
        tests[ntests++] = (struct unit_test){name, file, fn};
}

void unit_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

static int selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (n && argv[i][n - 1] == '*' ? strncmp(name, argv[i], n - 1) == 0
                                       : strcmp(name, argv[i]) == 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *t = getenv("UNIT_TIMEOUT");
    unsigned timeout = t ? (unsigned)atoi(t) : 30;
    int failed = 0, ran = 0;
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < ntests; i++) {
        if (!selected(tests[i].name, argc, argv))
            continue;
        ran++;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(timeout);
            tests[i].fn();
            fflush(NULL);
            _exit(0);
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0)
            ;
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (ok) {
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            if (WIFSIGNALED(st))
                printf("FAIL %s (%s: signal %d%s)\n", tests[i].name, tests[i].file, WTERMSIG(st),
                       WTERMSIG(st) == SIGALRM ? ", timeout" : "");
            else
                printf("FAIL %s (%s)\n", tests[i].name, tests[i].file);
        }
    }
    printf("%s: %d tests, %d failed\n", argv[0], ran, failed);
    return failed ? 1 : 0;
}
