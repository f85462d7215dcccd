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

/* Digits of v (any sign) into out (at least 42 bytes). */
static void i128_str(__int128 v, char *out)
{
    char tmp[48];
    size_t n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    while (n)
        out[o++] = tmp[--n];
    out[o] = '\0';
}

char *kqty_canonical(const kqty *q)
{
    static const __int128 nano = 1000000000;
    char digits[48];
    if (q->nano == 0)
        return dd_strdup("0");
    enum kqty_format f = q->format;
    /* binary only for whole values of at least 1024 (upstream: no rounding, no confusion) */
    if (f == KQTY_BINARY_SI &&
        (q->nano % nano != 0 || (q->nano > -1024 * nano && q->nano < 1024 * nano)))
        f = KQTY_DECIMAL_SI;
    if (f == KQTY_BINARY_SI) {
        static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        __int128 m = q->nano / nano;
        size_t e = 0;
        while (e + 1 < DD_ARRAY_SIZE(bin) && m % 1024 == 0) {
            m /= 1024;
            e++;
        }
        /* without a suffix the number reads back as decimal SI: print that form right away,
         * as upstream shows it once stored ("62.5Ki" → "64k") */
        if (e > 0) {
            i128_str(m, digits);
            return dd_asprintf("%s%s", digits, bin[e]);
        }
    }
    /* the largest exponent (a multiple of 3) that keeps the mantissa whole */
    __int128 m = q->nano;
    int e = -9;
    while (e < 18 && m % 1000 == 0) {
        m /= 1000;
        e += 3;
    }
    i128_str(m, digits);
    if (f == KQTY_DECIMAL_EXPONENT)
        return e ? dd_asprintf("%se%d", digits, e) : dd_strdup(digits);
    static const char *const dec[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
    return dd_asprintf("%s%s", digits, dec[(e + 9) / 3]);
}
