/*
 * Drives the C API of itc-device-ffi on the host, built with -fsanitize=address,undefined
 * (run-c-tests.sh). Same fixtures and verdicts as the Rust firmware (firmware/src/main.rs):
 * owner obeyed, stranger refused, replay refused, firmware accepted, tampered image and
 * downgrade refused — plus the boundary: NULL pointers, short and misaligned buffers,
 * uninitialised handles. Exits 0 only if every check holds.
 *
 * Usage: test_device <fixtures-dir>
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itc_device.h"

static int failures;
static int checks;

#define CHECK_STATUS(call, want)                                                             \
    do {                                                                                     \
        ItcStatus got_ = (call);                                                             \
        checks++;                                                                            \
        if (got_ != (want)) {                                                                \
            failures++;                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s\n  got %s (%d), want %s (%d)\n", __FILE__,       \
                    __LINE__, #call, itc_status_name(got_), (int)got_, itc_status_name(want), \
                    (int)(want));                                                            \
        }                                                                                    \
    } while (0)

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        checks++;                                                                            \
        if (!(cond)) {                                                                       \
            failures++;                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                  \
        }                                                                                    \
    } while (0)

/* ---- fixtures -------------------------------------------------------------------------- */

typedef struct {
    uint8_t *bytes;
    size_t len;
} Blob;

static const char *fixture_dir;

static Blob load(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    Blob b = {malloc((size_t)n), (size_t)n};
    if (!b.bytes || fread(b.bytes, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return b;
}

static uint64_t be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

/* ---- flash pages in RAM (NOR semantics) -------------------------------------------------- */

#define PAGE_SIZE 1024
typedef struct {
    uint8_t pages[2][PAGE_SIZE];
    int erases;
    int fail_writes;
} RamFlash;

static int32_t flash_read(void *ctx, uint32_t page, uint32_t offset, uint8_t *out, size_t len) {
    RamFlash *f = ctx;
    if (page > 1 || offset + len > PAGE_SIZE) return -1;
    memcpy(out, &f->pages[page][offset], len);
    return 0;
}

static int32_t flash_erase(void *ctx, uint32_t page) {
    RamFlash *f = ctx;
    if (page > 1 || f->fail_writes) return -1;
    memset(f->pages[page], 0xff, PAGE_SIZE);
    f->erases++;
    return 0;
}

static int32_t flash_program(void *ctx, uint32_t page, uint32_t offset, const uint8_t *data,
                             size_t len) {
    RamFlash *f = ctx;
    if (page > 1 || offset + len > PAGE_SIZE || f->fail_writes) return -1;
    for (size_t i = 0; i < len; i++) f->pages[page][offset + i] &= data[i];
    return 0;
}

/* ---- a "secure element": counts calls, may fail ---------------------------------------- */

typedef struct {
    int calls;
    int fail;
} FakeSe;

static int32_t se_sign(void *ctx, const uint8_t *digest, uint8_t *signature_out) {
    FakeSe *se = ctx;
    se->calls++;
    if (se->fail) return 1;
    memcpy(signature_out, digest, 32);
    memset(signature_out + 32, 0x5a, 32);
    return 0;
}

/* ---- the scenario ------------------------------------------------------------------------ */

static alignas(ITC_DEVICE_ALIGN) uint8_t device[ITC_DEVICE_SIZE];
static alignas(ITC_IMAGE_VERIFIER_ALIGN) uint8_t verifier[ITC_IMAGE_VERIFIER_SIZE];

#define IMAGE_SIZE (32u * 1024u)
static uint8_t image_byte(uint32_t i) { return (uint8_t)((uint32_t)(i * 2654435761u) >> 24); }

static ItcStatus stream_image(int32_t flip, ItcFirmwareInstall *out) {
    uint8_t chunk[256];
    for (uint32_t i = 0; i < IMAGE_SIZE;) {
        for (size_t k = 0; k < sizeof chunk; k++, i++) {
            chunk[k] = image_byte(i) ^ (uint8_t)((int32_t)i == flip);
        }
        ItcStatus rc = itc_fw_image_update(verifier, chunk, sizeof chunk);
        if (rc != ITC_STATUS_OK) return rc;
    }
    return itc_fw_image_finish(verifier, out);
}

static ItcStatus command(const Blob *cmd, uint64_t now, ItcCommandResult *r) {
    return itc_device_handle_command(device, cmd->bytes, cmd->len, now, r);
}

static void scenario(void) {
    Blob key = load("device_key.bin"), vendor = load("vendor_key.bin");
    Blob anchor = load("anchor.bin"), validators = load("validators.bin");
    Blob header = load("header.bin"), cert = load("cert.bin");
    Blob record = load("record.bin"), proof = load("proof.bin");
    Blob owner = load("cmd_owner.bin"), owner2 = load("cmd_owner2.bin");
    Blob grantee = load("cmd_grantee.bin"), stranger = load("cmd_stranger.bin");
    Blob grantee_max = load("cmd_grantee_max.bin"), owner3 = load("cmd_owner3.bin");
    Blob manifest = load("manifest.bin"), downgrade = load("manifest_downgrade.bin");
    Blob nowb = load("now.bin");
    uint64_t now = be64(nowb.bytes);

    static RamFlash flash;
    memset(flash.pages, 0xff, sizeof flash.pages);
    ItcFlash fl = {&flash, flash_read, flash_erase, flash_program, PAGE_SIZE, 2};
    ItcDeviceConfig cfg;
    CHECK_STATUS(itc_device_config_default(&cfg), ITC_STATUS_OK);
    cfg.epoch_length = 100;
    CHECK(cfg.max_command_lifetime_ms == 3600000); /* one hour */

    CHECK_STATUS(itc_device_init_with_key(device, sizeof device, &cfg, key.bytes, &fl),
                 ITC_STATUS_OK);
    CHECK(itc_device_state_size() <= ITC_DEVICE_SIZE);
    ItcCommandResult r;
    CHECK_STATUS(command(&owner, now, &r), ITC_STATUS_NO_VERIFIED_STATE);

    CHECK_STATUS(itc_device_set_trust_anchor(device, anchor.bytes, anchor.len, now),
                 ITC_STATUS_OK);
    uint64_t height = 1;
    CHECK_STATUS(itc_device_tip_height(device, &height), ITC_STATUS_OK);
    CHECK(height == 0);
    CHECK_STATUS(itc_device_verify_header(device, header.bytes, header.len, cert.bytes, cert.len,
                                          validators.bytes, validators.len, NULL, 0, now,
                                          &height),
                 ITC_STATUS_OK);
    CHECK(height == 3600);
    CHECK_STATUS(itc_device_update_ownership(device, ITC_HEIGHT_TIP, record.bytes, record.len,
                                             proof.bytes, proof.len),
                 ITC_STATUS_OK);

    /* Owner obeyed, stranger refused, replay refused, cached-proof commands obeyed. */
    CHECK_STATUS(command(&owner, now, &r), ITC_STATUS_OK);
    CHECK(r.access == ITC_ACCESS_OWNER && r.counter == 1 && r.action == ITC_ACTION_CONTROL);
    CHECK(r.argument_len == 2 && memcmp(r.argument, "on", 2) == 0);
    CHECK_STATUS(command(&stranger, now, &r), ITC_STATUS_NOT_AUTHORIZED);
    CHECK_STATUS(command(&owner, now, &r), ITC_STATUS_REPLAYED);
    CHECK(r.replay_floor == 1);
    CHECK_STATUS(command(&owner2, now, &r), ITC_STATUS_OK);
    CHECK(r.argument_len == 8 && memcmp(r.argument, "level=40", 8) == 0);
    CHECK_STATUS(command(&grantee, now, &r), ITC_STATUS_OK);
    CHECK(r.access == ITC_ACCESS_DELEGATE && r.grant_expires_at == 1000000);
    CHECK(flash.erases == 2); /* replay state per issuer: the owner's slot, the grantee's */
    /* Issue 16.5: the grantee sends counter UINT64_MAX; the owner's next counter still works. */
    CHECK_STATUS(command(&grantee_max, now, &r), ITC_STATUS_OK);
    CHECK_STATUS(command(&owner3, now, &r), ITC_STATUS_OK);
    CHECK(r.access == ITC_ACCESS_OWNER && r.counter == 3);
    CHECK(flash.erases == 3);
    /* Expired: the commands expire five minutes after `now`. */
    CHECK_STATUS(command(&owner, now + 301000, &r), ITC_STATUS_EXPIRED);

    /* Firmware: accepted, tampered refused, downgrade refused. */
    ItcUpdatePolicy policy = {{0}, 42, 2, 64 * 1024, 0};
    memcpy(policy.vendor_key, vendor.bytes, 32);
    ItcFirmwareInstall install;
    CHECK_STATUS(itc_fw_check_manifest(&policy, manifest.bytes, manifest.len, verifier,
                                       sizeof verifier),
                 ITC_STATUS_OK);
    CHECK_STATUS(stream_image(-1, &install), ITC_STATUS_OK);
    CHECK(install.version == 3 && install.image_size == IMAGE_SIZE);
    CHECK_STATUS(itc_fw_image_finish(verifier, NULL), ITC_STATUS_NOT_INITIALIZED);
    CHECK_STATUS(itc_fw_check_manifest(&policy, manifest.bytes, manifest.len, verifier,
                                       sizeof verifier),
                 ITC_STATUS_OK);
    CHECK_STATUS(stream_image(12345, &install), ITC_STATUS_IMAGE_HASH_MISMATCH);
    CHECK_STATUS(itc_fw_check_manifest(&policy, downgrade.bytes, downgrade.len, verifier,
                                       sizeof verifier),
                 ITC_STATUS_DOWNGRADE);

    /* Power cycle over the same flash: the used counters stay used. */
    CHECK_STATUS(itc_device_deinit(device), ITC_STATUS_OK);
    CHECK_STATUS(itc_device_init_with_key(device, sizeof device, &cfg, key.bytes, &fl),
                 ITC_STATUS_OK);
    CHECK_STATUS(itc_device_set_trust_anchor(device, anchor.bytes, anchor.len, now),
                 ITC_STATUS_OK);
    CHECK_STATUS(itc_device_verify_header(device, header.bytes, header.len, cert.bytes, cert.len,
                                          validators.bytes, validators.len, NULL, 0, now, NULL),
                 ITC_STATUS_OK);
    CHECK_STATUS(itc_device_update_ownership(device, 3600, record.bytes, record.len, proof.bytes,
                                             proof.len),
                 ITC_STATUS_OK);
    CHECK_STATUS(command(&grantee, now, &r), ITC_STATUS_REPLAYED);
    CHECK(r.replay_floor == UINT64_MAX); /* the grantee's own floor */
    CHECK_STATUS(command(&owner2, now, &r), ITC_STATUS_REPLAYED);
    CHECK(r.replay_floor == 65); /* the owner's counter 1 plus the window */

    /* ---- boundary: NULL, short, misaligned, uninitialised -------------------------------- */
    CHECK_STATUS(command(&owner, now, NULL), ITC_STATUS_REPLAYED); /* result is optional */
    CHECK_STATUS(itc_device_handle_command(device, NULL, 10, now, &r), ITC_STATUS_NULL_POINTER);
    CHECK_STATUS(itc_device_handle_command(NULL, owner.bytes, owner.len, now, &r),
                 ITC_STATUS_NULL_POINTER);
    CHECK_STATUS(itc_device_handle_command(device, owner.bytes, owner.len - 1, now, &r),
                 ITC_STATUS_MALFORMED);
    CHECK_STATUS(itc_device_handle_command(device, device + 64, 100, now, &r),
                 ITC_STATUS_BUFFER_OVERLAP);
    CHECK_STATUS(itc_device_verify_header(device, NULL, 0, cert.bytes, cert.len, NULL, 0, NULL, 0,
                                          now, NULL),
                 ITC_STATUS_NULL_POINTER);
    CHECK_STATUS(itc_device_update_ownership(device, ITC_HEIGHT_TIP, record.bytes, record.len,
                                             NULL, 0),
                 ITC_STATUS_NULL_POINTER);
    CHECK_STATUS(itc_device_tip_height(device, NULL), ITC_STATUS_NULL_POINTER);
    CHECK_STATUS(itc_device_deinit(device), ITC_STATUS_OK);
    CHECK_STATUS(command(&owner, now, &r), ITC_STATUS_NOT_INITIALIZED);

    CHECK_STATUS(itc_device_init_with_key(device, ITC_DEVICE_SIZE - 1, &cfg, key.bytes, &fl),
                 ITC_STATUS_BUFFER_TOO_SMALL);
    CHECK_STATUS(itc_device_init_with_key(device + 1, ITC_DEVICE_SIZE - 8, &cfg, key.bytes, &fl),
                 ITC_STATUS_BAD_ALIGNMENT);
    CHECK_STATUS(itc_device_init_with_key(NULL, ITC_DEVICE_SIZE, &cfg, key.bytes, &fl),
                 ITC_STATUS_NULL_POINTER);
    CHECK_STATUS(itc_device_init_with_key(device, sizeof device, &cfg, NULL, &fl),
                 ITC_STATUS_NULL_POINTER);
    CHECK_STATUS(itc_device_init_with_key(device, sizeof device, NULL, key.bytes, &fl),
                 ITC_STATUS_NULL_POINTER);
    ItcFlash no_erase = fl;
    no_erase.erase = NULL;
    CHECK_STATUS(itc_device_init_with_key(device, sizeof device, &cfg, key.bytes, &no_erase),
                 ITC_STATUS_NULL_POINTER);
    ItcDeviceConfig bad = cfg;
    bad.epoch_length = 0;
    CHECK_STATUS(itc_device_init_with_key(device, sizeof device, &bad, key.bytes, &fl),
                 ITC_STATUS_INVALID_CONFIG);
    CHECK_STATUS(itc_fw_check_manifest(&policy, manifest.bytes, manifest.len, verifier,
                                       ITC_IMAGE_VERIFIER_SIZE - 1),
                 ITC_STATUS_BUFFER_TOO_SMALL);
    CHECK_STATUS(itc_fw_check_manifest(&policy, manifest.bytes, manifest.len - 1, verifier,
                                       sizeof verifier),
                 ITC_STATUS_MALFORMED);
    CHECK_STATUS(itc_fw_image_update(verifier, NULL, 0), ITC_STATUS_NOT_INITIALIZED);

    /* ---- a secure element instead of a key ------------------------------------------------ */
    uint8_t pk[32];
    CHECK_STATUS(itc_device_init_with_key(device, sizeof device, &cfg, key.bytes, &fl),
                 ITC_STATUS_OK);
    CHECK_STATUS(itc_device_public_key(device, pk), ITC_STATUS_OK);
    uint8_t id_key[32], id_se[32];
    CHECK_STATUS(itc_device_id(device, id_key), ITC_STATUS_OK);
    CHECK_STATUS(itc_device_deinit(device), ITC_STATUS_OK);
    FakeSe se = {0, 0};
    ItcSigner signer = {&se, {0}, se_sign};
    memcpy(signer.public_key, pk, 32);
    CHECK_STATUS(itc_device_init_with_signer(device, sizeof device, &cfg, &signer, &fl),
                 ITC_STATUS_OK);
    CHECK_STATUS(itc_device_id(device, id_se), ITC_STATUS_OK);
    CHECK(memcmp(id_key, id_se, 32) == 0); /* same key, same device id */
    uint8_t digest[32] = {1, 2, 3}, sig[64];
    CHECK_STATUS(itc_device_sign_digest(device, digest, sig), ITC_STATUS_OK);
    CHECK(se.calls == 1 && memcmp(sig, digest, 32) == 0);
    se.fail = 1;
    CHECK_STATUS(itc_device_sign_digest(device, digest, sig), ITC_STATUS_SIGNER_FAILED);
    CHECK_STATUS(itc_device_deinit(device), ITC_STATUS_OK);

    CHECK(strcmp(itc_status_name(ITC_STATUS_REPLAYED), "ITC_STATUS_REPLAYED") == 0);
    CHECK(strcmp(itc_status_name(ITC_STATUS_EXPIRY_BELOW_FLOOR), "ITC_STATUS_EXPIRY_BELOW_FLOOR") == 0);
    CHECK(strcmp(itc_status_name(ITC_STATUS_EXPIRES_TOO_LATE), "ITC_STATUS_EXPIRES_TOO_LATE") == 0);
    CHECK(ITC_STATUS_REPLAY_TABLE_FULL == 112);
    CHECK(strcmp(itc_status_name(12345), "ITC_STATUS_UNKNOWN") == 0);
    CHECK(itc_api_version() == ITC_API_VERSION);

    Blob all[] = {key, vendor, anchor, validators, header, cert, record, proof,
                  owner, owner2, grantee, stranger, grantee_max, owner3, manifest, downgrade,
                  nowb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i].bytes);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <fixtures-dir>\n", argv[0]);
        return 2;
    }
    fixture_dir = argv[1];
    scenario();
    printf("%d checks, %d failures\n", checks, failures);
    printf("result=%s\n", failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : 1;
}
