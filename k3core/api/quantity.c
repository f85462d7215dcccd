/* quantity: parser for Kubernetes resource quantities (grammar in quantity.h). Scans the
 * number into a 128-bit integer of nano-units with overflow checks, then scales it by the
 * suffix; every step is bounded so hostile input (long digit runs, huge exponents) ends in a
 * clear error, never in undefined arithmetic. Used by validation and defaults, and by the
 * scheduler for resource fit.
 */
#include <stdio.h>

#include "k3core/api/quantity.h"

#define QTY_MAX ((__int128)1 << 126)

static const char qty_err[] = "quantities must match the regular expression "
                              "'^([+-]?[0-9.]+)([eEinumkKMGTPE]*[-+]?[0-9]*)$'";

/* value*mul with overflow detection against QTY_MAX. */
static bool mul_ok(__int128 *v, __int128 mul)
{
    if (*v != 0 && (mul > QTY_MAX / (*v < 0 ? -*v : *v)))
        return false;
    *v *= mul;
    return true;
}

typedef struct num {
    __int128 digits; /* all significant digits as an integer */
    int frac;        /* digits after the point */
    bool neg;
} num;

static int scan_number(const char **p, num *n)
{
    const char *s = *p;
    memset(n, 0, sizeof(*n));
    if (*s == '+' || *s == '-')
        n->neg = *s++ == '-';
    bool any = false, point = false;
    for (; (*s >= '0' && *s <= '9') || (*s == '.' && !point); s++) {
        if (*s == '.') {
            point = true;
            continue;
        }
        any = true;
        /* the integer part must fit; fractional digits past 38 significant places are below
         * any precision a fitting value can carry and are dropped */
        if (n->digits > QTY_MAX / 10) {
            if (!point)
                return -ERANGE;
            continue;
        }
        n->digits = n->digits * 10 + (*s - '0');
        if (point)
            n->frac++;
    }
    *p = s;
    return any ? 0 : -EINVAL;
}

typedef struct suffix {
    const char *s;
    int base;     /* 2 or 10 */
    int exponent; /* power of base */
} suffix;

static const suffix suffixes[] = {
    {"Ki", 2, 10}, {"Mi", 2, 20}, {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60},
    {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"", 10, 0},   {"k", 10, 3},  {"M", 10, 6},
    {"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18},
};

static int parse_suffix(const char *s, int *base, int *exp, enum kqty_format *format)
{
    for (size_t i = 0; i < DD_ARRAY_SIZE(suffixes); i++) {
        if (strcmp(s, suffixes[i].s) == 0) {
            *base = suffixes[i].base;
            *exp = suffixes[i].exponent;
            *format = *base == 2 ? KQTY_BINARY_SI : KQTY_DECIMAL_SI;
            return 0;
        }
    }
    if (s[0] != 'e' && s[0] != 'E')
        return -EINVAL;
    const char *x = s + 1;
    if (*x == '+' || *x == '-')
        x++;
    if (!*x || strspn(x, "0123456789") != strlen(x) || strlen(x) > 4)
        return -EINVAL;
    *base = 10;
    *exp = atoi(s + 1);
    *format = KQTY_DECIMAL_EXPONENT;
    return 0;
}

/* digits × 10^(9 - frac) × base^exp, rounding fractions of a nano-unit up (away from zero). */
static int scale(const num *n, int base, int exp, __int128 *ret)
{
    __int128 v = n->digits;
    int dec = 9 - n->frac + (base == 10 ? exp : 0);
    if (base == 2 && !mul_ok(&v, (__int128)1 << exp))
        return -ERANGE;
    for (; dec > 0; dec--)
        if (!mul_ok(&v, 10))
            return -ERANGE;
    for (; dec < 0 && v != 0; dec++)
        v = v / 10 + (v % 10 != 0);
    *ret = n->neg ? -v : v;
    return 0;
}

int kqty_parse(const char *s, kqty *ret, dd_err *e)
{
    if (!s || !*s)
        return dd_err_set(e, EINVAL, "quantities must be non-empty");
    const char *p = s;
    num n;
    int base, exp;
    enum kqty_format format;
    int r = scan_number(&p, &n);
    if (r == -ERANGE)
        return dd_err_set(e, ERANGE, "quantity %s is too large", s);
    if (r < 0 || parse_suffix(p, &base, &exp, &format) < 0)
        return dd_err_set(e, EINVAL, "%s", qty_err);
    __int128 v;
    if (scale(&n, base, exp, &v) < 0)
        return dd_err_set(e, ERANGE, "quantity %s is too large", s);
    ret->nano = v;
    ret->format = format;
    return 0;
}

static int64_t ceil_div(__int128 v, __int128 d)
{
    __int128 q = v / d;
    if (v % d != 0 && v > 0)
        q++;
    if (q > INT64_MAX)
        return INT64_MAX;
    if (q < INT64_MIN)
        return INT64_MIN;
    return (int64_t)q;
}

int64_t kqty_value(const kqty *q)
{
    return ceil_div(q->nano, 1000000000);
}

int64_t kqty_milli(const kqty *q)
{
    return ceil_div(q->nano, 1000000);
}

int kqty_cmp(const kqty *a, const kqty *b)
{
    return a->nano < b->nano ? -1 : a->nano > b->nano;
}
