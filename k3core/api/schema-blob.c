/* schema-blob: embeds k3core/api/schemas.json (generated with resources-gen.c by
 * k3core/gen/gen-resources.py) into the binary with .incbin, NUL-terminated, so the compact
 * schemas need no file at run time. The path is relative to the repository root, where make
 * runs the compiler. */
#include "k3core/api/resources-internal.h"

__asm__(".section .rodata\n"
        ".global kres_schema_json\n"
        ".type kres_schema_json, @object\n"
        "kres_schema_json:\n"
        ".incbin \"k3core/api/schemas.json\"\n"
        ".byte 0\n"
        ".global kres_schema_json_end\n"
        "kres_schema_json_end:\n"
        ".previous\n");

extern const char kres_schema_json_end[];

size_t kres_schema_json_size(void)
{
    return (size_t)(kres_schema_json_end - kres_schema_json) - 1;
}
