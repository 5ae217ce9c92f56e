# device/device.mk - the Cortex-M side (included by the Makefile):
#   make device-eval MODEL=F.iotc TARGET=cortex-m4 DATA=mnist LIMIT=N
#   make device-test     freestanding builds for every target, the nm check,
#                        the counting calibration, the DSP kernels under QEMU,
#                        CI's model on M4, M7, M33 and M55 and CI's mnist_tiny
#                        on the micro:bit (cortex-m0plus) (identical or fail)
#   make bench-device    the ResNet-8 models on every board beside the TFLM
#                        anchor (bench/device.sh; LIMIT=1000 by default)
# Needs `scripts/deps.sh device` (gcc-arm-none-eabi, libnewlib-arm-none-eabi,
# qemu-system-arm).
.PHONY: device-eval device-test device-runtime bench-device
MODEL  ?= runs/mnist.iotc
TARGET ?= cortex-m4
DATA   ?= mnist
LIMIT  ?= 200

$(BUILD)/device/devprep: device/devprep.c $(BUILD)/libiotcnn.a
	@mkdir -p $(@D)
	@echo "  LD    $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $^ $(LDLIBS)

device-eval: all $(BUILD)/device/devprep
	BUILD=$(BUILD) device/eval.sh "$(MODEL)" "$(TARGET)" "$(DATA)" "$(LIMIT)"

# the runtime alone, every target: freestanding, -Werror, nothing but
# memcpy/memset/memmove and compiler helpers undefined, no static data
device-runtime:
	BUILD=$(BUILD) device/check_runtime.sh

device-test: all $(BUILD)/device/devprep $(BUILD)/device/ktestgen
	BUILD=$(BUILD) device/test.sh

$(BUILD)/device/ktestgen: device/ktestgen.c $(BUILD)/libiotcnn.a
	@mkdir -p $(@D)
	@echo "  LD    $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $^ $(LDLIBS)

bench-device: all $(BUILD)/device/devprep
	BUILD=$(BUILD) LIMIT=$(if $(filter command line,$(origin LIMIT)),$(LIMIT),1000) bench/device.sh
