# m2pt — build, test and run. Every output goes under build/.
#   make            build the CLI (build/m2pt) and the test programs
#   make run        install missing packages, build, run experiments/quickstart.yaml, compare
#   make test       install missing packages, build, run every test program
#   make test-slurm m2pt slurm --submit on a real single-node Slurm (installs slurm-wlm, munge; root)
#   make sanitize   the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make deps       install the Debian packages m2pt needs (no-op when present)
#   make bench      sgemm peak, training/inference throughput, memory (m2pt bench)
#   make bench-torch  m2pt against PyTorch side by side (needs python3-torch)

CC      ?= cc
ARCH    ?= -march=native
OPT     ?= -O3
CFLAGS  ?= $(OPT) $(ARCH) -g
# -fopenmp-simd: honour `omp simd` pragmas (no OpenMP runtime); -fno-math-errno and
# -fno-trapping-math let floorf/sqrtf vectorise without changing any result (m2pt never reads
# errno after math nor enables FP traps). No -ffast-math: results must not depend on the optimiser.
WARN    := -fopenmp-simd -ffp-contract=fast -fno-math-errno -fno-trapping-math -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
PREFIX  ?= /usr/local
CPPFLAGS := -Iharness/src -Iharness/include -D_POSIX_C_SOURCE=200809L -DM2PT_PREFIX='"$(PREFIX)"'
LDLIBS  := -lopenblas -lz -lpthread -lm -ldl -lyaml -lsqlite3
TEST_LDLIBS := -lcmocka

BUILD   ?= build
M2PT_VERSION := 0.1.0
ENGINE_SRC := $(wildcard harness/src/*.c)
CLI_SRC    := $(wildcard harness/cli/*.c)
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)
TEST_SRC   := $(wildcard tests/test_*.c)

ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
ENGINE_LIB := $(BUILD)/libm2pt_engine.a

# Debian packages: build and test needs. The fixture generator's python3-torch is not here:
# CI never regenerates fixtures (see tests/reference/make_fixtures.py).
DEB_PACKAGES := gcc make pkg-config libopenblas-dev libyaml-dev libsqlite3-dev sqlite3 \
                libcmocka-dev zlib1g-dev dataset-fashion-mnist \
                libespeak-ng-dev libfftw3-dev \
                wamerican wfrench wngerman wspanish witalian wportuguese wdutch wswedish

# Plugins: every plugins/<kind>/<name>/ directory becomes $(BUILD)/plugins/<name>.so, compiled
# against the public headers only (harness/include), with hidden visibility so that the entry
# point is the one exported symbol. <name>_LDLIBS adds libraries for one plugin.
PLUGIN_DIRS := $(patsubst %/,%,$(wildcard plugins/modality/*/ plugins/pathway/*/))
PLUGIN_NAMES := $(notdir $(PLUGIN_DIRS))
PLUGINS := $(PLUGIN_NAMES:%=$(BUILD)/plugins/%.so)
PLUGIN_CFLAGS := -fPIC -fvisibility=hidden -Iharness/include
image_LDLIBS := -lz
audio_LDLIBS := -lespeak-ng -lfftw3f

.PHONY: all deps run test check sanitize bench bench-torch clean install test-slurm
all: $(BUILD)/m2pt $(PLUGINS) $(TEST_BIN)

# Objects depend on the flags they were built with: changing CFLAGS or ARCH rebuilds them
# (defined before the plugin rules, which expand FLAGS_STAMP when they are read).
FLAGS_STAMP := $(BUILD)/flags.stamp
FLAGS_NOW := $(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(PLUGIN_CFLAGS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = "$(FLAGS_NOW)" ] || echo "$(FLAGS_NOW)" > $@
.PHONY: FORCE

define plugin_rule
$(BUILD)/obj/$(1)/%.o: $(1)/%.c $$(FLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(PLUGIN_CFLAGS) $$(WARN) $$(CFLAGS) -MMD -MP -c $$< -o $$@
$(BUILD)/plugins/$(notdir $(1)).so: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c))
	@mkdir -p $$(dir $$@)
	$$(CC) -shared $$(CFLAGS) $$(LDFLAGS) $$^ $$($(notdir $(1))_LDLIBS) -lm -o $$@
endef
$(foreach d,$(PLUGIN_DIRS),$(eval $(call plugin_rule,$(d))))

FORCE:

# The source revision, rewritten only when it changes (so commits do not rebuild everything).
$(BUILD)/gen/git.h: FORCE
	@mkdir -p $(dir $@)
	@v=$$(git describe --always --dirty 2>/dev/null || echo unknown); \
	 echo "#define M2PT_GIT \"$$v\"" > $@.tmp; cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
$(BUILD)/obj/harness/src/version.o: $(BUILD)/gen/git.h
$(BUILD)/obj/harness/src/version.o: CPPFLAGS += -I$(BUILD)/gen

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c $< -o $@

$(ENGINE_LIB): $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/m2pt: $(CLI_OBJ) $(ENGINE_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_OBJ) $(ENGINE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(TEST_LINK) $^ $(TEST_LDLIBS) $(LDLIBS) -o $@

# Purpose-built broken plugins for the loader's refusal tests (tests/test_loader.c).
BAD_PLUGINS := $(patsubst tests/bad_plugins/%.c,$(BUILD)/tests/bad_plugins/%.so,$(wildcard tests/bad_plugins/*.c))
$(BUILD)/tests/bad_plugins/%.so: tests/bad_plugins/%.c harness/include/m2pt/plugin.h
	@mkdir -p $(dir $@)
	$(CC) -shared $(PLUGIN_CFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) $< -o $@

# A staged install (make install DESTDIR=$(BUILD)/stage): what an out-of-tree plugin author
# sees. tests/out_of_tree/check.sh builds its example plugin against it with pkg-config.
STAGE := $(abspath $(BUILD)/stage)
$(BUILD)/stage.done: $(BUILD)/m2pt $(PLUGINS) $(wildcard harness/include/m2pt/*.h) harness/m2pt.pc.in
	rm -rf $(STAGE)
	@$(MAKE) --no-print-directory install DESTDIR=$(STAGE) >/dev/null
	touch $@

# Test scripts run by `make check` beside the test programs (each exits non-zero on failure).
TEST_SCRIPTS := $(wildcard tests/*/check.sh)

# test_train counts the engine's allocations during a training step through these wrappers.
$(BUILD)/tests/test_train: TEST_LINK := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The main job: the quickstart experiment (about 3 minutes on 2 cores), then its comparison.
# A second `make run` finds every cell done and only prints the table.
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/m2pt $(PLUGINS)
	$(BUILD)/m2pt run experiments/quickstart.yaml
	@echo
	$(BUILD)/m2pt compare quickstart

# Runs every test program, even after a failure, then fails if any failed.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check

check: $(TEST_BIN) $(PLUGINS) $(BAD_PLUGINS) $(BUILD)/m2pt $(BUILD)/stage.done
	@pass=0; fail=0; failed=""; \
	for t in $(TEST_BIN) $(TEST_SCRIPTS); do \
	  echo "=== $$t"; \
	  case $$t in *.sh) run="sh $$t";; *) run=$$t;; esac; \
	  if M2PT_TEST_DATA=tests M2PT_BUILD=$(BUILD) M2PT_STAGE=$(STAGE) M2PT_PREFIX_CONFIGURED=$(PREFIX) $$run; \
	  then pass=$$((pass+1)); else fail=$$((fail+1)); failed="$$failed $$t"; fi; \
	done; \
	echo; [ -z "$$failed" ] || echo "failed programs:$$failed"; \
	echo "test programs: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

# A real Slurm: a single-node cluster on localhost started from this shell (about half a minute
# once slurm-wlm and munge are installed; the script installs them). Root only. See
# tests/slurm/test-slurm.sh and README.md, "Running on a cluster".
test-slurm: deps
	@$(MAKE) --no-print-directory $(BUILD)/m2pt $(PLUGINS)
	M2PT_BUILD=$(BUILD) sh tests/slurm/test-slurm.sh

sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build/sanitize OPT=-O1 \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(MAKE) --no-print-directory BUILD=build/sanitize \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" check

bench: $(BUILD)/m2pt $(PLUGINS)
	$(BUILD)/m2pt bench

bench-torch: $(BUILD)/m2pt $(PLUGINS)
	/usr/bin/python3 harness/scripts/bench_vs_torch.py --m2pt $(BUILD)/m2pt --large

# make install [PREFIX=/usr/local] [DESTDIR=]: the CLI, the public headers, the plugins and
# m2pt.pc, so that an out-of-tree plugin builds with `pkg-config --cflags m2pt` alone.
install: $(BUILD)/m2pt $(PLUGINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/m2pt \
	  $(DESTDIR)$(PREFIX)/lib/m2pt/plugins $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/m2pt $(DESTDIR)$(PREFIX)/bin/m2pt
	install -m 644 harness/include/m2pt/*.h $(DESTDIR)$(PREFIX)/include/m2pt/
	install -m 755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/m2pt/plugins/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(M2PT_VERSION)|' harness/m2pt.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/m2pt.pc

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
