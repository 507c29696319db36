# m2pt — build, test and run. Every output goes under build/.
#   make            build the CLI (build/m2pt) and the test programs
#   make run        install missing packages, build, run experiments/quickstart.yaml, compare
#   make test       install missing packages, build, run every test program
#   make test-slurm m2pt slurm --submit on a real single-node Slurm (installs slurm-wlm, munge; root)
#   make sanitize   the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make deps       install the Debian packages m2pt needs (no-op when present)
#   make bench      sgemm peak, training/inference throughput, memory (m2pt bench)
#   make bench-torch  m2pt against PyTorch side by side (needs python3-torch)
#   make faults-long, fuzz, fuzz-ci, fuzz-long, valgrind: see README "Reliability"

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
# make fuzz: clang 14 with libFuzzer (-fsanitize=fuzzer links libclang_rt.fuzzer-x86_64.a, which
# Debian 12 ships in libclang-rt-14-dev; libfuzzer-14-dev is the standalone libFuzzer.a, not
# needed). make valgrind: valgrind.
DEB_PACKAGES += clang-14 libclang-rt-14-dev valgrind

# Plugins: every plugins/<kind>/<name>/ directory becomes $(BUILD)/plugins/<name>.so, compiled
# against the public headers only (harness/include), with hidden visibility so that the entry
# point is the one exported symbol. <name>_LDLIBS adds libraries for one plugin.
PLUGIN_DIRS := $(patsubst %/,%,$(wildcard plugins/modality/*/ plugins/pathway/*/))
PLUGIN_NAMES := $(notdir $(PLUGIN_DIRS))
PLUGINS := $(PLUGIN_NAMES:%=$(BUILD)/plugins/%.so)
PLUGIN_CFLAGS := -fPIC -fvisibility=hidden -Iharness/include
image_LDLIBS := -lz
audio_LDLIBS := -lespeak-ng -lfftw3f

.PHONY: all deps run test check sanitize bench bench-torch clean install test-slurm faults-long fuzz fuzz-ci \
        fuzz-long valgrind
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

# Purpose-built broken plugins for the loader's refusal tests (tests/test_loader.c), and a few
# valid ones (okpath; abi10_modality: the out-of-tree toy as built against ABI 1.0).
BAD_PLUGINS := $(patsubst tests/bad_plugins/%.c,$(BUILD)/tests/bad_plugins/%.so,$(wildcard tests/bad_plugins/*.c))
$(BUILD)/tests/bad_plugins/%.so: tests/bad_plugins/%.c harness/include/m2pt/plugin.h
	@mkdir -p $(dir $@)
	$(CC) -shared $(PLUGIN_CFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) $< -lm -o $@
$(BUILD)/tests/bad_plugins/abi10_modality.so: tests/out_of_tree/toy_modality.c

# test_recon counts every malloc-family call of the process (the plugins' too) in recon_target:
# its own definitions must be in the dynamic symbol table to interpose the C library's.
$(BUILD)/tests/test_recon: TEST_LINK := -Wl,--export-dynamic-symbol=malloc,--export-dynamic-symbol=calloc,--export-dynamic-symbol=realloc,--export-dynamic-symbol=free,--export-dynamic-symbol=posix_memalign,--export-dynamic-symbol=aligned_alloc

# A pathway that injects NaN/Inf into a chosen training step (tests/test_numerics.c).
FAULT_PLUGINS := $(patsubst tests/fault_plugins/%.c,$(BUILD)/tests/fault_plugins/%.so,$(wildcard tests/fault_plugins/*.c))
$(BUILD)/tests/fault_plugins/%.so: tests/fault_plugins/%.c harness/include/m2pt/plugin.h
	@mkdir -p $(dir $@)
	$(CC) -shared $(PLUGIN_CFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) $< -lm -o $@

# A staged install (make install DESTDIR=$(BUILD)/stage): what an out-of-tree plugin author
# sees. tests/out_of_tree/check.sh builds its example plugin against it with pkg-config.
STAGE := $(abspath $(BUILD)/stage)
$(BUILD)/stage.done: $(BUILD)/m2pt $(PLUGINS) $(wildcard harness/include/m2pt/*.h) harness/m2pt.pc.in
	rm -rf $(STAGE)
	@$(MAKE) --no-print-directory install DESTDIR=$(STAGE) >/dev/null
	touch $@

# Test scripts run by `make check` beside the test programs (each exits non-zero on failure).
TEST_SCRIPTS := $(wildcard tests/*/check.sh)

# test_train and test_mae count the engine's allocations during a training step through these wrappers.
$(BUILD)/tests/test_train $(BUILD)/tests/test_mae: TEST_LINK := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign

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

check: $(TEST_BIN) $(PLUGINS) $(BAD_PLUGINS) $(FAULT_PLUGINS) $(BUILD)/m2pt $(BUILD)/stage.done
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

# --- reliability (README "Reliability") ---------------------------------------------------------
# make faults-long   test_faults with 25 SIGKILLs on a grid of 25 runs (make test does 3 on 7)
faults-long: $(BUILD)/tests/test_faults $(BUILD)/m2pt $(PLUGINS)
	M2PT_TEST_DATA=tests M2PT_BUILD=$(BUILD) M2PT_FAULT_KILLS=25 M2PT_FAULT_GRID_SEEDS='[0,1,2,3,4,5,6,7]' \
	  M2PT_TEST_VERBOSE=1 $(BUILD)/tests/test_faults

# libFuzzer targets (tests/fuzz/): clang with -fsanitize=fuzzer,address,undefined, the engine
# rebuilt under build/fuzz with coverage (-Wno-pass-failed: clang cannot honour every `omp simd`
# at -O1 with sanitizers, which changes no result). make fuzz-ci runs each for FUZZ_SECONDS (60) from the
# committed seeds (new inputs go to build/fuzz/corpus/, crashes to build/fuzz/artifacts/);
# make fuzz-long runs each for 10 minutes.
FUZZ_CC ?= $(shell command -v clang-14 || command -v clang || echo clang-14)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := experiment checkpoint
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) OPT=-O1 ARCH= \
	  CFLAGS="-O1 -g -Wno-pass-failed -fsanitize=fuzzer-no-link $(FUZZ_SAN)" build/fuzz/libm2pt_engine.a
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libm2pt_engine.a
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -Wall -Wextra -Werror -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) $< \
	  build/fuzz/libm2pt_engine.a $(LDLIBS) -o $@
fuzz_run = mkdir -p build/fuzz/corpus/$(1) build/fuzz/artifacts && \
	nice build/fuzz/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
	  $(if $(filter experiment,$(1)),-dict=tests/fuzz/experiment.dict) -artifact_prefix=build/fuzz/artifacts/$(1)- \
	  build/fuzz/corpus/$(1) tests/fuzz/corpus/$(1)
fuzz-ci: fuzz
	$(call fuzz_run,experiment)
	$(call fuzz_run,checkpoint)
fuzz-long:
	@$(MAKE) --no-print-directory fuzz-ci FUZZ_SECONDS=600

# valgrind --leak-check=full on a short training run (tests/grid/tiny.yaml: an auxiliary model
# and two reparam cells). Valgrind does not know AVX-512: a build without -march=native
# (ARCH=) under build/valgrind, and OpenBLAS's Haswell (AVX2) kernels.
VG_DIR := build/valgrind/run
valgrind: deps
	@$(MAKE) --no-print-directory BUILD=build/valgrind ARCH= OPT=-O1 CFLAGS="-O1 -g" \
	  build/valgrind/m2pt $(PLUGIN_NAMES:%=build/valgrind/plugins/%.so)
	rm -rf $(VG_DIR) && mkdir -p $(VG_DIR)
	M2PT_CACHE_DIR=$(VG_DIR)/cache OPENBLAS_CORETYPE=Haswell valgrind --leak-check=full --show-leak-kinds=definite,indirect \
	  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no \
	  build/valgrind/m2pt run tests/grid/tiny.yaml --db $(VG_DIR)/m2pt.db --cache $(VG_DIR)/cache --threads 1

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
