/*
 * The device SDK from C on a Cortex-M4F (QEMU mps2-an386), linked with the thumbv7em
 * staticlib of itc-device-ffi: the Rust firmware's scenario (firmware/src/main.rs) with the
 * same fixtures and verdicts — light client from the trust anchor, a header 3,600 blocks on
 * by a rotated validator set, the ownership proof, owner obeyed, stranger refused, replay
 * refused, cached-proof commands, one flash write; firmware accepted, tampered image and
 * downgrade refused — each step measured.
 *
 * Output (check.sh parses it), one line per operation:
 *   op=<name> verdict=<ITC_STATUS_...> expected=<ITC_STATUS_...> instructions=<n> stack=<bytes>
 * then peak_stack=<bytes> and result=PASS|FAIL; the exit status is the result (semihosting).
 * Instructions: QEMU -icount shift=0 and the 25 MHz SysTick: one tick = 40 instructions
 * (as in firmware/src/measure.rs). Stack: painted below the stack pointer before each step.
 */
#include <stddef.h>
#include <stdint.h>

#include "itc_device.h"

/* ---- semihosting ------------------------------------------------------------------------ */

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static char line[160];
static size_t line_len;

static void put(const char *s) {
    while (*s && line_len < sizeof line - 2) line[line_len++] = *s++;
}

static void put_u(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    put(&buf[i]);
}

static void end_line(void) {
    line[line_len++] = '\n';
    line[line_len] = 0;
    semihost(0x04 /* SYS_WRITE0 */, line);
    line_len = 0;
}

static void __attribute__((noreturn)) finish(int ok) {
    /* SYS_EXIT: ADP_Stopped_ApplicationExit → QEMU exits 0; RunTimeErrorUnknown → 1. */
    semihost(0x18, (const void *)(uintptr_t)(ok ? 0x20026 : 0x20023));
    for (;;) {
    }
}

/* ---- SysTick and stack painting ------------------------------------------------------- */

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
#define RELOAD 0x00FFFFFFu
#define INSTRUCTIONS_PER_TICK 40u
#define PAINT_BYTES (48u * 1024u)
#define PATTERN 0xC0FFEE11u

extern uint32_t _stack_top;

static void systick_start(void) {
    SYST_RVR = RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 0x5; /* core clock, enabled, no interrupt */
}

static void __attribute__((noinline)) paint(void) {
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    uint32_t *p = (uint32_t *)((uintptr_t)&_stack_top - PAINT_BYTES);
    while ((uintptr_t)(p + 16) < sp) *p++ = PATTERN;
}

static uint32_t __attribute__((noinline)) high_water(void) {
    uint32_t *p = (uint32_t *)((uintptr_t)&_stack_top - PAINT_BYTES);
    while ((uintptr_t)p < (uintptr_t)&_stack_top && *p == PATTERN) p++;
    return (uint32_t)((uintptr_t)&_stack_top - (uintptr_t)p);
}

static int failures;
static uint32_t peak_stack;
static uint64_t started;

static void op_begin(void) {
    paint();
    SYST_CVR = 0;
    (void)SYST_CSR; /* reading COUNTFLAG clears it */
}

static void op_end(const char *name, ItcStatus got, ItcStatus want) {
    uint32_t now = SYST_CVR;
    int wrapped = (SYST_CSR >> 16) & 1;
    uint64_t instr = wrapped ? UINT64_MAX : (uint64_t)(RELOAD - now + 1) * INSTRUCTIONS_PER_TICK;
    uint32_t stack = high_water();
    if (stack > peak_stack) peak_stack = stack;
    put("op=");
    put(name);
    put(" verdict=");
    put(itc_status_name(got));
    put(" expected=");
    put(itc_status_name(want));
    put(" instructions=");
    put_u(instr);
    put(" stack=");
    put_u(stack);
    if (got != want || wrapped) {
        failures++;
        put(" UNEXPECTED");
    }
    end_line();
}

#define RUN(name, want, call)                                                                \
    do {                                                                                     \
        op_begin();                                                                          \
        ItcStatus got_ = (call);                                                             \
        op_end(name, got_, want);                                                            \
    } while (0)

static void check(int ok, const char *what) {
    if (!ok) {
        failures++;
        put("check failed: ");
        put(what);
        end_line();
    }
}

/* ---- fixtures (fixtures.S) --------------------------------------------------------------- */

#define FIXTURE(n) extern const uint8_t n[], n##_end[];
FIXTURE(fx_device_key)
FIXTURE(fx_vendor_key)
FIXTURE(fx_anchor)
FIXTURE(fx_validators)
FIXTURE(fx_header)
FIXTURE(fx_cert)
FIXTURE(fx_record)
FIXTURE(fx_proof)
FIXTURE(fx_cmd_owner)
FIXTURE(fx_cmd_owner2)
FIXTURE(fx_cmd_grantee)
FIXTURE(fx_cmd_stranger)
FIXTURE(fx_cmd_grantee_max)
FIXTURE(fx_cmd_owner3)
FIXTURE(fx_manifest)
FIXTURE(fx_manifest_downgrade)
FIXTURE(fx_now)
#define BYTES(n) n, (size_t)(n##_end - n)

/* ---- the replay mark's "flash": two RAM pages with NOR semantics ------------------------ */

#define PAGE_SIZE 1024 /* at least ITC_FLASH_RECORD_LEN */
static uint8_t pages[2][PAGE_SIZE];
static uint32_t flash_erases;

static int32_t flash_read(void *ctx, uint32_t page, uint32_t offset, uint8_t *out, size_t len) {
    (void)ctx;
    if (page > 1 || offset + len > PAGE_SIZE) return -1;
    for (size_t i = 0; i < len; i++) out[i] = pages[page][offset + i];
    return 0;
}

static int32_t flash_erase(void *ctx, uint32_t page) {
    (void)ctx;
    if (page > 1) return -1;
    for (size_t i = 0; i < PAGE_SIZE; i++) pages[page][i] = 0xff;
    flash_erases++;
    return 0;
}

static int32_t flash_program(void *ctx, uint32_t page, uint32_t offset, const uint8_t *data,
                             size_t len) {
    (void)ctx;
    if (page > 1 || offset + len > PAGE_SIZE) return -1;
    for (size_t i = 0; i < len; i++) pages[page][offset + i] &= data[i];
    return 0;
}

/* ---- the scenario ------------------------------------------------------------------------ */

static _Alignas(ITC_DEVICE_ALIGN) uint8_t device[ITC_DEVICE_SIZE];
static _Alignas(ITC_IMAGE_VERIFIER_ALIGN) uint8_t verifier[ITC_IMAGE_VERIFIER_SIZE];
static ItcCommandResult result;

#define IMAGE_SIZE (32u * 1024u)
static uint8_t image_byte(uint32_t i) { return (uint8_t)((uint32_t)(i * 2654435761u) >> 24); }

static ItcStatus stream(int32_t flip) {
    uint8_t chunk[256];
    for (uint32_t i = 0; i < IMAGE_SIZE;) {
        for (size_t k = 0; k < sizeof chunk; k++, i++) {
            chunk[k] = image_byte(i) ^ (uint8_t)((int32_t)i == flip);
        }
        ItcStatus rc = itc_fw_image_update(verifier, chunk, sizeof chunk);
        if (rc != ITC_STATUS_OK) return rc;
    }
    ItcFirmwareInstall install;
    ItcStatus rc = itc_fw_image_finish(verifier, &install);
    if (rc == ITC_STATUS_OK && (install.version != 3 || install.image_size != IMAGE_SIZE)) {
        return ITC_STATUS_FIRMWARE_REJECTED;
    }
    return rc;
}

static uint64_t be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

int main(void) {
    systick_start();
    uint64_t now = be64(fx_now);
    for (size_t i = 0; i < sizeof pages; i++) ((uint8_t *)pages)[i] = 0xff;
    ItcFlash flash = {NULL, flash_read, flash_erase, flash_program, PAGE_SIZE, 2};
    ItcDeviceConfig cfg;
    check(itc_device_config_default(&cfg) == ITC_STATUS_OK, "config");
    cfg.epoch_length = 100;

    RUN("boot_identity", ITC_STATUS_OK,
        itc_device_init_with_key(device, sizeof device, &cfg, fx_device_key, &flash));
    RUN("boot_light_client", ITC_STATUS_OK,
        itc_device_set_trust_anchor(device, BYTES(fx_anchor), now));
    uint64_t height = 0;
    RUN("header", ITC_STATUS_OK,
        itc_device_verify_header(device, BYTES(fx_header), BYTES(fx_cert), BYTES(fx_validators),
                                 NULL, 0, now, &height));
    check(height == 3600, "tip at 3600");
    RUN("ownership_proof", ITC_STATUS_OK,
        itc_device_update_ownership(device, ITC_HEIGHT_TIP, BYTES(fx_record), BYTES(fx_proof)));

    RUN("cmd_owner", ITC_STATUS_OK,
        itc_device_handle_command(device, BYTES(fx_cmd_owner), now, &result));
    check(result.access == ITC_ACCESS_OWNER && result.counter == 1, "owner, counter 1");
    RUN("cmd_stranger", ITC_STATUS_NOT_AUTHORIZED,
        itc_device_handle_command(device, BYTES(fx_cmd_stranger), now, &result));
    RUN("cmd_replay", ITC_STATUS_REPLAYED,
        itc_device_handle_command(device, BYTES(fx_cmd_owner), now, &result));
    check(result.replay_floor == 1, "replay floor 1");
    RUN("cmd_owner_cached", ITC_STATUS_OK,
        itc_device_handle_command(device, BYTES(fx_cmd_owner2), now, &result));
    RUN("cmd_grantee_cached", ITC_STATUS_OK,
        itc_device_handle_command(device, BYTES(fx_cmd_grantee), now, &result));
    check(result.access == ITC_ACCESS_DELEGATE, "grantee is a delegate");
    /* Issue 16.5: the grantee sends counter UINT64_MAX; only its own counters are used up. */
    RUN("cmd_grantee_max", ITC_STATUS_OK,
        itc_device_handle_command(device, BYTES(fx_cmd_grantee_max), now, &result));
    RUN("cmd_owner_after_max", ITC_STATUS_OK,
        itc_device_handle_command(device, BYTES(fx_cmd_owner3), now, &result));
    check(result.access == ITC_ACCESS_OWNER && result.counter == 3, "owner, counter 3");
    /* Replay state per issuer: the owner's slot, the grantee's, the grantee's UINT64_MAX. */
    check(flash_erases == 3, "one flash write per issuer slot and per used-up window");

    ItcUpdatePolicy policy = {{0}, 42, 2, 64 * 1024, 0};
    for (int i = 0; i < 32; i++) policy.vendor_key[i] = fx_vendor_key[i];
    RUN("fw_manifest", ITC_STATUS_OK,
        itc_fw_check_manifest(&policy, BYTES(fx_manifest), verifier, sizeof verifier));
    RUN("fw_image_32k", ITC_STATUS_OK, stream(-1));
    check(itc_fw_check_manifest(&policy, BYTES(fx_manifest), verifier, sizeof verifier) ==
              ITC_STATUS_OK,
          "manifest again");
    RUN("fw_image_tampered", ITC_STATUS_IMAGE_HASH_MISMATCH, stream(12345));
    RUN("fw_downgrade", ITC_STATUS_DOWNGRADE,
        itc_fw_check_manifest(&policy, BYTES(fx_manifest_downgrade), verifier, sizeof verifier));

    /* The boundary, from C on the MCU too. */
    RUN("null_command", ITC_STATUS_NULL_POINTER,
        itc_device_handle_command(device, NULL, 10, now, &result));
    RUN("short_buffer", ITC_STATUS_BUFFER_TOO_SMALL,
        itc_device_init_with_key(device, ITC_DEVICE_SIZE - 1, &cfg, fx_device_key, &flash));

    put("device_state_bytes=");
    put_u(itc_device_state_size());
    put(" of ITC_DEVICE_SIZE=");
    put_u(ITC_DEVICE_SIZE);
    end_line();
    put("peak_stack=");
    put_u(peak_stack);
    end_line();
    put(failures == 0 ? "result=PASS" : "result=FAIL");
    end_line();
    (void)started;
    finish(failures == 0);
}

/* ---- startup ----------------------------------------------------------------------------- */

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss;

void __attribute__((noreturn)) reset_handler(void) {
    /* The staticlib is built for thumbv7em-none-eabihf: enable the FPU (CP10, CP11). */
    *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20);
    __asm__ volatile("dsb\n isb");
    for (uint32_t *s = &_sidata, *d = &_sdata; d < &_edata;) *d++ = *s++;
    for (uint32_t *d = &_sbss; d < &_ebss;) *d++ = 0;
    main();
    finish(0);
}

static void __attribute__((noreturn)) fault_handler(void) {
    put("result=FAIL (fault)");
    end_line();
    finish(0);
}

__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &_stack_top,   reset_handler, fault_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, 0,             0,             0,             0,             fault_handler,
    fault_handler, 0,             fault_handler, fault_handler,
};
