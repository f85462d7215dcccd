/* Unit tests of the quantity parser (k3core/api/quantity.c) and the selector parser/matcher
 * (k3core/api/selector.c). */
#include <stdio.h>

#include "k3core/api/quantity.h"
#include "k3core/api/selector.h"
#include "tests/unit/unit.h"

static kqty q(const char *s)
{
    kqty v;
    dd_err e = {0};
    if (kqty_parse(s, &v, &e) < 0)
        unit_fail(__FILE__, __LINE__, "parse %s: %s", s, e.msg);
    return v;
}

TEST(quantity_values)
{
    kqty a = q("100m");
    CHECK_EQ_INT(kqty_milli(&a), 100);
    CHECK_EQ_INT(kqty_value(&a), 1);
    a = q("1Gi");
    CHECK_EQ_INT(kqty_value(&a), 1073741824);
    CHECK_EQ_INT(a.format, KQTY_BINARY_SI);
    a = q("1e3");
    CHECK_EQ_INT(kqty_value(&a), 1000);
    CHECK_EQ_INT(a.format, KQTY_DECIMAL_EXPONENT);
    a = q("1.5k");
    CHECK_EQ_INT(kqty_value(&a), 1500);
    a = q("+.5");
    CHECK_EQ_INT(kqty_milli(&a), 500);
    a = q("-2");
    CHECK_EQ_INT(kqty_value(&a), -2);
    a = q("0.1n");
    CHECK_EQ_INT(a.nano, 1); /* rounded up to the smallest unit */
    a = q("8Ei");
    CHECK_EQ_INT(kqty_value(&a), INT64_MAX); /* saturates */
    kqty b = q("1024Mi");
    kqty c = q("1Gi");
    CHECK_EQ_INT(kqty_cmp(&b, &c), 0);
    static const char *const bad[] = {"",   "abc",  "1x", "1.2.3", "--1",
                                      "1e", "1Ki2", "e3", "1 m",   "1e99999"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(bad); i++) {
        kqty v;
        dd_err e = {0};
        if (kqty_parse(bad[i], &v, &e) >= 0)
            unit_fail(__FILE__, __LINE__, "'%s' parsed", bad[i]);
    }
    kqty v;
    dd_err e = {0};
    CHECK(kqty_parse("99999999999999999999999999999999999999999", &v, &e) < 0);
    CHECK(strstr(e.msg, "too large") != NULL);
}

static bool lmatch(const char *sel, const char *labels)
{
    ksel *s = NULL;
    dd_err e = {0};
    if (ksel_parse_labels(sel, &s, &e) < 0)
        unit_fail(__FILE__, __LINE__, "parse %s: %s", sel, e.msg);
    json_t *l = json_loads(labels, 0, NULL);
    bool m = ksel_match_labels(s, l);
    json_decref(l);
    ksel_free(s);
    return m;
}

TEST(selector_labels)
{
    CHECK(lmatch("", "{}"));
    CHECK(lmatch("app=web", "{\"app\":\"web\"}"));
    CHECK(lmatch("app==web", "{\"app\":\"web\"}"));
    CHECK(!lmatch("app!=web", "{\"app\":\"web\"}"));
    CHECK(lmatch("app!=web", "{}"));
    CHECK(lmatch("app in (a, web)", "{\"app\":\"web\"}"));
    CHECK(!lmatch("app notin (a,web)", "{\"app\":\"web\"}"));
    CHECK(lmatch("app notin (a,web)", "{}"));
    CHECK(lmatch("app", "{\"app\":\"\"}"));
    CHECK(!lmatch("!app", "{\"app\":\"x\"}"));
    CHECK(lmatch("example.com/tier=fe, x", "{\"example.com/tier\":\"fe\",\"x\":\"1\"}"));
    CHECK(lmatch("n>3,n<10", "{\"n\":\"5\"}"));
    static const char *const bad[] = {
        "app=", "=x", "app in a", "app in (a", "a b", "Bad/x=y", "app=has space", "!", "app=@"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(bad); i++) {
        ksel *s = NULL;
        dd_err e = {0};
        if (strcmp(bad[i], "app=") == 0) {
            CHECK_EQ_INT(ksel_parse_labels(bad[i], &s, &e), 0); /* empty value is valid */
            ksel_free(s);
            continue;
        }
        if (ksel_parse_labels(bad[i], &s, &e) >= 0)
            unit_fail(__FILE__, __LINE__, "'%s' parsed", bad[i]);
        CHECK(dd_startswith(e.msg, "unable to parse requirement"));
    }
}

static const char *field(void *ud, const char *f)
{
    return strcmp(f, "metadata.name") == 0 ? "a,b=c" : strcmp(f, "status.phase") == 0 ? ud : NULL;
}

TEST(selector_fields)
{
    ksel *s = NULL;
    dd_err e = {0};
    CHECK_EQ_INT(ksel_parse_fields("metadata.name=a\\,b\\=c,status.phase!=Running", &s, &e), 0);
    CHECK_EQ_STR(ksel_key(s, 0), "metadata.name");
    CHECK_EQ_STR(ksel_key(s, 1), "status.phase");
    CHECK(ksel_key(s, 2) == NULL);
    CHECK(ksel_match_fields(s, field, (void *)"Pending"));
    CHECK(!ksel_match_fields(s, field, (void *)"Running"));
    ksel_free(s);
    CHECK(ksel_parse_fields("nonsense", &s, &e) < 0);
}

TEST(selector_name_validators)
{
    CHECK(ksel_check_dns1123_subdomain("a.b-c.d") == NULL);
    CHECK(ksel_check_dns1123_subdomain("a..b") != NULL);
    CHECK(ksel_check_dns1123_subdomain("-a") != NULL);
    CHECK(ksel_check_dns1123_subdomain("A") != NULL);
    CHECK(ksel_check_dns1123_label("a.b") != NULL);
    CHECK(ksel_check_label_value("") == NULL);
    CHECK(ksel_check_label_value("a_b.c-D") == NULL);
    CHECK(ksel_check_label_value("_a") != NULL);
    CHECK(ksel_check_qualified_name("kubernetes.io/name") == NULL);
    CHECK(ksel_check_qualified_name("/name") != NULL);
}

/* Upstream's canonical forms (resource.Quantity.String() after parsing). */
TEST(quantity_canonical_forms)
{
    static const char *const cases[][2] = {
        {"1000m", "1"},       {"0.5", "500m"},      {"1500m", "1500m"}, {"2000", "2k"},
        {"1000000", "1M"},    {"100", "100"},       {"0", "0"},         {"0Mi", "0"},
        {"2048Mi", "2Gi"},    {"1536Mi", "1536Mi"}, {"1024", "1024"},   {"1Ki", "1Ki"},
        {"512Ki", "512Ki"},   {"0.5Gi", "512Mi"},   {"1.5Ki", "1536"},  {"-62.5Ki", "-64k"},
        {"100Ki", "100Ki"},   {"1e3", "1e3"},       {"1E6", "1e6"},     {"1.5e3", "1500"},
        {"-1500m", "-1500m"}, {"1n", "1n"},         {"0.1", "100m"},    {"12e0", "12"},
        {"10Mi", "10Mi"},
    };
    for (size_t i = 0; i < DD_ARRAY_SIZE(cases); i++) {
        kqty q;
        CHECK(kqty_parse(cases[i][0], &q, NULL) == 0);
        char *s = kqty_canonical(&q);
        CHECK_EQ_STR(s, cases[i][1]);
        free(s);
    }
}
