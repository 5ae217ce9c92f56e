# iotcnn - build, test, benchmark, install.
#   make            bin/iotcnn (and the dataset tools): portable x86-64, the SIMD
#                   kernels chosen at run time from what the CPU has
#   make MPI=1      bin/iotcnn with MPI (mpicc, in build-mpi/): mpirun -np P bin/iotcnn train
#                   (docs/distributed.md); the default build needs no MPI
#   make NATIVE=1   the same for this machine only (-march=native); outputs are
#                   bit-identical to the portable build (ISO C: no FMA contraction)
#   make test       the layering check (scripts/check_layers.sh), no call loops between files
#                   or folders (scripts/check_cycles.sh), the cmd/ function lengths
#                   (scripts/check_fn_length.sh), the Markdown's fences and links
#                   (scripts/check_docs.sh), the portable build on an emulated CPU
#                   without AVX (scripts/check_portable.sh), a C++ program against the
#                   installed library (scripts/check_install.sh), the Criterion suite
#   make test-mpi   bin/iotcnn with MPI (make MPI=1), then training over 2 and 3 processes
#                   against one (the same bytes), resume, a killed rank, refusals
#                   (scripts/check_mpi.sh; scripts/deps.sh mpi installs Open MPI)
#   make asan       the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#                   (with float-cast-overflow: a float->int or double->float cast out of range)
#   make deps       install the Debian packages needed (when missing)
#   make bench      training throughput against PyTorch, sgemm peak; deployment speed
#                   (int8 vs float, pruned vs unpruned, iotcnn int8 vs PyTorch int8)
#   make bench-device   the CIFAR-10 models (ResNet-8, MobileNet) on the emulated Cortex-M
#                   boards beside the TFLite Micro + CMSIS-NN anchor (bench/device.sh;
#                   device/device.mk)
#   make install PREFIX=/usr/local   bin/iotcnn, libiotcnn (static and shared), the headers
#                   (include/iotcnn/FOLDER/*.h, extern "C"), iotcnn.pc for pkg-config
#   make fuzz       libFuzzer targets for every parser (clang-14), build-fuzz/fuzz/*
#   make fuzz-smoke each fuzz target for a bounded time on its seed corpus
#   make fuzz-seeds regenerate the seed corpora fuzz/corpus/*/seed-*

PREFIX   ?= /usr/local
CC       ?= cc
# MPI=1: training over several processes (mpirun; pipeline/pl_dist_mpi.c,
# docs/distributed.md), built with mpicc in build-mpi/. The default build
# needs no MPI: pipeline/pl_dist_none.c is one process alone.
ifeq ($(MPI),1)
ifeq ($(shell command -v mpicc),)
$(error make MPI=1 needs mpicc (Open MPI): scripts/deps.sh mpi installs it)
endif
CC       := mpicc
BUILD    ?= build-mpi
DIST_OFF := pipeline/pl_dist_none.c
# What a program linking the static libiotcnn.a also needs (iotcnn.pc).
DIST_LIBS := $(shell mpicc --showme:link 2>/dev/null)
else
DIST_OFF := pipeline/pl_dist_mpi.c
endif
# NATIVE=1: -march=native. The default runs on any x86-64 (test: scripts/check_portable.sh).
ARCH     := $(if $(filter 1,$(NATIVE)),-march=native -DIOTCNN_NATIVE)
OPT      ?= -O2 $(ARCH)
BUILD    ?= build
BIN      ?= bin
PKGS     := libpng libjpeg libcjson zlib
# The benchmarks' peers only: libnn does its own arithmetic (libnn/nn_gemm.h).
BENCH_PKGS := openblas
# V=1 shows the full commands.
Q        := $(if $(filter 1,$(V)),,@)

# -fPIC: the same objects make the shared library (no measurable cost on x86-64).
CFLAGS   += -std=c11 $(OPT) -g -fPIC -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -pthread
CPPFLAGS += -D_GNU_SOURCE -iquote $(CURDIR) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread

LIB_SRCS  := $(filter-out $(DIST_OFF),$(wildcard libnn/*.c datasets/*.c augment/*.c config/*.c format/*.c prune/*.c quantize/*.c runtime/*.c export/*.c pipeline/*.c)) \
             $(filter-out cmd/main.c,$(wildcard cmd/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/rt_sources.o
# The installed library: every folder but cmd/ (which exits and prints).
PUB_OBJS  := $(filter-out $(BUILD)/cmd/%,$(LIB_OBJS))
PUB_DIRS  := libnn datasets augment config format prune quantize runtime export pipeline
# Headers: all of those folders' (nn_vec.h: kernel-internal C99, not C++-clean).
PUB_HDRS  := $(filter-out libnn/nn_vec.h,$(wildcard $(PUB_DIRS:%=%/*.h)))
VERSION   := $(shell sed -n 's/^\#define IOTCNN_VERSION "\(.*\)"/\1/p' cmd/cli.h)
SONAME    := libiotcnn.so.$(firstword $(subst ., ,$(VERSION)))
TESTS     ?= $(wildcard tests/*.c)
TEST_SRCS := $(TESTS)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)
TOOL_SRCS := $(wildcard datasets/tools/*.c)
TOOLS     := $(TOOL_SRCS:datasets/tools/%.c=$(BIN)/%)
BENCH_SRCS:= $(wildcard bench/*.c)
BENCHES   := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test test-mpi check-layers asan deps bench install library clean fuzz fuzz-bins fuzz-smoke fuzz-seeds
# Keep intermediate objects (the tools' .o files) instead of deleting them.
.SECONDARY:
all: $(BIN)/iotcnn $(TOOLS)

# bin/ is shared by the builds (build/, build-mpi/): a binary from the
# other one is relinked (BIN_STAMP names the build it came from).
BIN_STAMP := $(BIN)/.build
$(shell mkdir -p $(BIN) && printf '%s\n' '$(BUILD)' | cmp -s - $(BIN_STAMP) || \
        printf '%s\n' '$(BUILD)' > $(BIN_STAMP))

$(BIN)/iotcnn: $(BUILD)/cmd/main.o $(BUILD)/libiotcnn.a $(BIN_STAMP)
	@mkdir -p $(@D)
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $(filter-out $(BIN_STAMP),$^) $(LDLIBS)

$(BIN)/%: $(BUILD)/datasets/tools/%.o $(BUILD)/libiotcnn.a
	@mkdir -p $(@D)
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libiotcnn.a: $(LIB_OBJS)
	@rm -f $@
	@echo "  AR    $@"
	$(Q)ar rcs $@ $^

# Objects depend on the compiler command: switching NATIVE=1 (or OPT, CC)
# rebuilds them rather than mixing two builds in one binary.
FLAGS_STAMP := $(BUILD)/.cflags
FLAGS_NOW   := $(CC) $(CPPFLAGS) $(CFLAGS)
$(shell mkdir -p $(BUILD) && printf '%s\n' '$(FLAGS_NOW)' | cmp -s - $(FLAGS_STAMP) || \
        printf '%s\n' '$(FLAGS_NOW)' > $(FLAGS_STAMP))

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC    $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# The runtime's sources, embedded for `iotcnn export`.
RT_FILES := $(sort $(wildcard runtime/*.c runtime/*.h))
$(BUILD)/gen/rt_sources.c: $(RT_FILES) scripts/embed_sources.sh
	@mkdir -p $(@D)
	@echo "  GEN   $@"
	$(Q)scripts/embed_sources.sh $(RT_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/iotcnn_tests: $(TEST_OBJS) $(BUILD)/libiotcnn.a
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

# Training over MPI processes, on loopback (docs/distributed.md).
test-mpi:
	$(Q)$(MAKE) --no-print-directory MPI=1 all
	$(Q)IOTCNN_BIN=$(BIN)/iotcnn scripts/check_mpi.sh

# Which folder may include from which (ARCHITECTURE.md), no "../", no exit
# in the libraries; no function of cmd/ over 80 lines: each script's
# self-test first (it must catch planted violations), then the tree.
check-layers:
	$(Q)scripts/check_layers.sh --self-test
	$(Q)scripts/check_layers.sh
	$(Q)scripts/check_fn_length.sh --self-test
	$(Q)scripts/check_fn_length.sh
	$(Q)scripts/check_docs.sh --self-test
	$(Q)scripts/check_docs.sh

# The end-to-end tests run bin/iotcnn, so it is built first.
# TEST_WRAPPER runs the suite (make asan: tests/leak_gate.sh).
test: check-layers all $(BUILD)/tests/iotcnn_tests
	$(Q)scripts/check_cycles.sh --self-test
	$(Q)scripts/check_cycles.sh $(BUILD) $(filter-out $(BUILD)/gen/%,$(LIB_OBJS))
	$(Q)$(if $(filter 1,$(NATIVE) $(NO_PORTABLE_CHECK)),echo "check_portable: skip (NATIVE=1 or sanitizer build)",scripts/check_portable.sh $(BIN)/iotcnn)
	$(Q)$(if $(filter 1,$(NO_PORTABLE_CHECK)),echo "check_install: skip (sanitizer build)",BUILD=$(BUILD) MPI=$(MPI) scripts/check_install.sh)
	IOTCNN_BIN=$(abspath $(BIN)/iotcnn) $(TEST_WRAPPER) $(BUILD)/tests/iotcnn_tests $(TEST_ARGS)

# Same suite, own build tree, sanitizers fatal on the first report; leaks in
# the tests' worker processes fail it too (tests/leak_gate.sh says why).
asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	$(MAKE) BUILD=build-asan BIN=build-asan/bin TEST_WRAPPER=tests/leak_gate.sh NO_PORTABLE_CHECK=1 \
	    OPT="-O1 $(ARCH) -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all" test

# bench/*.h (shared timing code) are prerequisites, not compiler inputs.
$(BUILD)/bench/%: bench/%.c $(BUILD)/libiotcnn.a $(wildcard bench/*.h)
	@mkdir -p $(@D)
	@echo "  CC    $<"
	$(Q)$(CC) $(CPPFLAGS) $(shell pkg-config --cflags $(BENCH_PKGS) 2>/dev/null) $(CFLAGS) -o $@ \
	    $(filter-out %.h,$^) $(LDLIBS) $(shell pkg-config --libs $(BENCH_PKGS) 2>/dev/null)

bench: all $(BENCHES)
	BUILD=$(BUILD) bench/run.sh

# Fuzzing (docs/reliability.md): clang with libFuzzer, ASan and UBSan (fatal;
# clang's -fsanitize=undefined includes float-cast-overflow). The library is
# instrumented for coverage (fuzzer-no-link); fuzz/fuzz_NAME.c is target NAME,
# linked to $(FUZZ_BUILD)/fuzz/NAME. The targets that build their inputs with
# a generator (FUZZ_GEN_TARGETS) use a second build of the library without
# comparison tracing: it costs them half their speed and guides nothing there.
FUZZ_CC      ?= clang-14
FUZZ_BUILD   ?= build-fuzz
# FUZZ_DEFS: extra -D flags for an experiment, in its own FUZZ_BUILD.
FUZZ_OPT     := -O2 -g $(ARCH) -fsanitize=fuzzer-no-link -fsanitize=address,undefined \
                -fno-sanitize-recover=all -fno-omit-frame-pointer $(FUZZ_DEFS)
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_GEN_TARGETS := qdiff quantize
FUZZ_HELPERS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard fuzz/fz_*.c))
FUZZ_OUT     ?= $(BUILD)/fuzz

fuzz:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="$(FUZZ_OPT)" \
	    FUZZ_BINS="$(filter-out $(FUZZ_GEN_TARGETS),$(FUZZ_TARGETS))" fuzz-bins
	$(MAKE) BUILD=$(FUZZ_BUILD)/gen FUZZ_OUT=$(FUZZ_BUILD)/fuzz CC=$(FUZZ_CC) \
	    OPT="$(FUZZ_OPT) -fno-sanitize-coverage=trace-cmp" FUZZ_BINS="$(FUZZ_GEN_TARGETS)" fuzz-bins

fuzz-bins: $(FUZZ_BINS:%=$(FUZZ_OUT)/%)

$(FUZZ_OUT)/%: $(BUILD)/fuzz/fuzz_%.o $(FUZZ_HELPERS) $(BUILD)/libiotcnn.a
	@mkdir -p $(@D)
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-smoke: fuzz
	FUZZ_BUILD=$(FUZZ_BUILD) fuzz/smoke.sh

# The seed corpora (fuzz/corpus/*/seed-*), regenerated by the ordinary build;
# the regress-* inputs next to them are kept.
$(BUILD)/fuzz/make_seeds: $(BUILD)/fuzz/make_seeds.o $(FUZZ_HELPERS) $(BUILD)/libiotcnn.a
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

fuzz-seeds: $(BUILD)/fuzz/make_seeds
	rm -f fuzz/corpus/*/seed-*
	$(BUILD)/fuzz/make_seeds fuzz/corpus
	for f in configs/*.json; do cp $$f fuzz/corpus/config/seed-$$(basename $$f .json); done

deps:
	@./scripts/deps.sh $(DEPS)

# The library to link (static and shared, without cmd/) and its pkg-config file.
$(BUILD)/pub/libiotcnn.a: $(PUB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	@echo "  AR    $@"
	$(Q)ar rcs $@ $^

$(BUILD)/pub/libiotcnn.so.$(VERSION): $(PUB_OBJS)
	@mkdir -p $(@D)
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)

LIBRARY := $(BUILD)/pub/libiotcnn.a $(BUILD)/pub/libiotcnn.so.$(VERSION)
library: $(LIBRARY)

install: all $(LIBRARY)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BIN)/iotcnn $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/pub/libiotcnn.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/pub/libiotcnn.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libiotcnn.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libiotcnn.so
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	    'Name: iotcnn' 'Description: train, compress and deploy small CNNs for IoT devices' \
	    'Version: $(VERSION)' 'Requires.private: $(PKGS)' \
	    'Cflags: -I$${includedir}/iotcnn' 'Libs: -L$${libdir} -liotcnn' \
	    'Libs.private: -lm -pthread $(DIST_LIBS)' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/iotcnn.pc
	for d in $(PUB_DIRS); do install -d $(DESTDIR)$(PREFIX)/include/iotcnn/$$d; done
	for h in $(PUB_HDRS); do install -m 644 $$h $(DESTDIR)$(PREFIX)/include/iotcnn/$$h; done

clean:
	rm -rf build build-asan build-fuzz bin

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(BUILD)/cmd/main.d \
         $(TOOL_SRCS:%.c=$(BUILD)/%.d) $(patsubst %.c,$(BUILD)/%.d,$(wildcard fuzz/*.c))
include device/device.mk
