# k3d-dind: one non-recursive Makefile. Binaries land in build/bin/, libdind.so in build/lib/.
# Sources are found by wildcard, so adding a .c file to a module folder needs no edit here.
#
#   make                      build everything
#   make test                 unit tests + integration tests with the real clients (needs root)
#   make unit                 C unit tests only
#   make SANITIZE=address,undefined test
#   make format / format-check
#   make fuzz-smoke           build every libFuzzer harness and run each briefly on its corpus
#   make bench                benchmarks, tables in build/bench/{results,k3core,pods}.md

CC      ?= cc
SANITIZE ?=
BUILD   := build
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)

PKGS := jansson sqlite3 libcurl libarchive libssl libcrypto libseccomp libcap yaml-0.1 libmnl \
        libprotobuf-c zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libarchive is linked statically into libdind.so (programs get it from there): its shared
# library drags in libxml2, ICU, libstdc++ and nettle, ~2 MiB of RSS in every process for
# formats we never use. The static archive needs only the compressors and libacl below.
# --as-needed keeps a library out of DT_NEEDED (not loaded at all) unless something uses it.
ARCHIVE_LIBS := -Wl,-Bstatic -larchive -Wl,-Bdynamic -lacl -lzstd -llz4 -llzma -lbz2 -lz
PKG_LIBS   := -Wl,--as-needed \
              $(shell pkg-config --libs $(filter-out libarchive,$(PKGS)) 2>/dev/null) \
              -lwslay -lpthread -lutil -lm

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
        -Wvla -Wwrite-strings -Wno-unused-parameter -Wno-missing-field-initializers -Wno-format-truncation
SAN_FLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
OPT ?= -O2
CFLAGS_ALL := -std=gnu11 $(OPT) -g -fPIC -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) \
              -Idind/include -I. $(PKG_CFLAGS) $(SAN_FLAGS) $(CFLAGS)
LDFLAGS_ALL := $(SAN_FLAGS) $(LDFLAGS)
RPATH := -Wl,-rpath,'$$ORIGIN/../lib'

# Objects depend on the flags they were built with: a change (e.g. SANITIZE) rebuilds everything.
FLAGS_STAMP := $(BUILD)/flags.stamp
FLAGS_NOW := $(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL)
$(shell mkdir -p $(BUILD); [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = "$(FLAGS_NOW)" ] || echo "$(FLAGS_NOW)" > $(FLAGS_STAMP))

OBJ := $(BUILD)/obj
LIB_SRCS      := $(sort $(wildcard dind/lib/*/*.c))
DINDD_SRCS    := $(sort $(wildcard dind/daemon/*.c))
K3CORE_SRCS   := $(sort $(wildcard k3core/*.c k3core/*/*.c))
LAUNCHER_SRCS := $(sort $(wildcard launcher/*.c launcher/*/*.c))
UNIT_DIRS     := $(sort $(patsubst tests/unit/%/,%,$(dir $(wildcard tests/unit/*/*.c))))

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))
LIBDIND := $(BUILD)/lib/libdind.so
# rt's helper program (shim + exec helper), next to libdind.so where libdind looks for it.
SHIM := $(BUILD)/lib/dind-shim
LIBDIND_A := $(OBJ)/libdind-pic.a
BINS := $(if $(DINDD_SRCS),$(BUILD)/bin/dindd) $(if $(wildcard k3core/main.c),$(BUILD)/bin/k3core) \
        $(if $(LAUNCHER_SRCS),$(BUILD)/bin/k3d-dind)
UNIT_BINS := $(patsubst %,$(BUILD)/tests/unit-%,$(UNIT_DIRS))

.PHONY: all unit test integration format format-check fuzz-smoke fuzz bench clean
all: $(LIBDIND) $(SHIM) $(BINS)

$(OBJ)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIBDIND): $(call objs,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	$(Q)$(CC) -shared -Wl,-soname,libdind.so $(if $(SANITIZE),,-Wl,--no-undefined) $(LDFLAGS_ALL) -o $@ $^ \
		$(ARCHIVE_LIBS) $(PKG_LIBS)

# The shim is static (no dynamic linker, no shared libraries: a few hundred KiB of RSS and ~1 ms
# to start); the archive lets the linker take only the objects it needs (rt, base, cgroup).
# Sanitizer runtimes cannot be linked statically: with SANITIZE it links libdind.so instead.
$(LIBDIND_A): $(call objs,$(LIB_SRCS))
	@rm -f $@
	$(Q)ar rcs $@ $^
ifeq ($(SANITIZE),)
$(SHIM): $(call objs,dind/shim/main.c) $(LIBDIND_A)
	@echo "  LD $@"
	$(Q)$(CC) -static $(LDFLAGS_ALL) -o $@ $^ -lcap -lseccomp -lpthread
else
$(SHIM): $(call objs,dind/shim/main.c) $(LIBDIND)
	@echo "  LD $@"
	$(Q)$(CC) $(LDFLAGS_ALL) $(RPATH) -o $@ $(filter %.o,$^) -L$(BUILD)/lib -ldind $(ARCHIVE_LIBS) $(PKG_LIBS)
endif

# Each program may keep its main() in main.c; the rest of its objects are linkable into tests.
$(BUILD)/bin/dindd: $(call objs,$(DINDD_SRCS)) $(LIBDIND)
$(BUILD)/bin/k3core: $(call objs,$(K3CORE_SRCS)) $(LIBDIND)
$(BUILD)/bin/k3d-dind: $(call objs,$(LAUNCHER_SRCS)) $(LIBDIND)
$(BINS):
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	$(Q)$(CC) $(LDFLAGS_ALL) $(RPATH) -o $@ $(filter %.o,$^) -L$(BUILD)/lib -ldind $(ARCHIVE_LIBS) $(PKG_LIBS)

# Unit tests: tests/unit/<module>/*.c + the forked runner, linked with libdind and, for the
# program modules, that program's objects without its main.c.
UNIT_RUNNER := $(call objs,tests/unit/unit.c)
unit_extra = $(if $(filter dindd,$(1)),$(call objs,$(filter-out %/main.c,$(DINDD_SRCS)))) \
             $(if $(filter k3core,$(1)),$(call objs,$(filter-out %/main.c,$(K3CORE_SRCS)))) \
             $(if $(filter launcher,$(1)),$(call objs,$(filter-out %/main.c,$(LAUNCHER_SRCS))))
define UNIT_RULE
$(BUILD)/tests/unit-$(1): $(call objs,$(wildcard tests/unit/$(1)/*.c)) $(UNIT_RUNNER) $(call unit_extra,$(1)) $(LIBDIND)
	@mkdir -p $$(dir $$@)
	@echo "  LD $$@"
	$(Q)$$(CC) $$(LDFLAGS_ALL) $$(RPATH) -o $$@ $$(filter %.o,$$^) -L$(BUILD)/lib -ldind $(ARCHIVE_LIBS) $$(PKG_LIBS)
endef
$(foreach d,$(UNIT_DIRS),$(eval $(call UNIT_RULE,$(d))))

unit: $(UNIT_BINS) $(SHIM)
	$(Q)set -e; for t in $(UNIT_BINS); do $$t; done

integration: all
	$(Q)tests/integration/run.sh

test: unit integration

FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	$(Q)clang-format -i $(FORMAT_SRCS)
format-check:
	$(Q)clang-format --dry-run --Werror $(FORMAT_SRCS)

fuzz-smoke:
	$(Q)ci/fuzz.sh smoke
fuzz:
	$(Q)ci/fuzz.sh long

bench: all
	$(Q)ci/bench.sh
	$(Q)ci/bench-k3core.sh
	$(Q)ci/bench-pods.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

# libFuzzer harnesses: tests/fuzz/fuzz-<name>.c linked with every library and program object
# except main.c (built by ci/fuzz.sh with CC=clang SANITIZE=fuzzer-no-link,address).
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LINK := $(call objs,$(LIB_SRCS) $(filter-out %/main.c,$(DINDD_SRCS) $(K3CORE_SRCS) $(LAUNCHER_SRCS)))
.PHONY: fuzz-bins run
fuzz-bins: $(FUZZ_BINS)
$(BUILD)/fuzz/%: $(OBJ)/tests/fuzz/%.o $(FUZZ_LINK)
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	$(Q)$(CC) -fsanitize=fuzzer,address -o $@ $^ $(ARCHIVE_LIBS) $(PKG_LIBS)

# The README's main command: build and run dindd on a socket of its own.
RUN_SOCK ?= /run/k3d-dind/docker.sock
RUN_DATA ?= /var/lib/k3d-dind
run: all
	@mkdir -p $(dir $(RUN_SOCK))
	@echo "dindd: listening on unix://$(RUN_SOCK); in another shell:"
	@echo "    export DOCKER_HOST=unix://$(RUN_SOCK); docker version"
	$(Q)exec $(BUILD)/bin/dindd -H unix://$(RUN_SOCK) --data-root $(RUN_DATA) --exec-root /run/k3d-dind/exec
