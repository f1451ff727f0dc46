/* edgec_param_store.h - trained parameters in flash that survive power loss: two slots (A/B), a sequence number,
 * a CRC-32; at boot the newest valid slot wins (docs/training.md, "Saved parameters survive power loss").
 *
 * Layout: slot k (0 = A, 1 = B) starts at k * slot_bytes of the device and holds
 *     header (32 bytes, little-endian words)            payload (at offset 32)
 *     magic "EPST" | version 1 | sequence | payload bytes | layout | parameter count | 0 | crc
 * where payload = every trained parameter's bytes concatenated in <prefix>_param order, layout = CRC-32 of
 * (count, byte count of each parameter) so another model's store is never loaded, and crc = CRC-32 (IEEE,
 * reflected 0xEDB88320, as zlib's crc32) of the first 28 header bytes followed by the payload.
 *
 * Commit (save): erase the slot that does NOT hold the newest valid copy, program the payload, then the header
 * LAST, then read the slot back and check it. A power cut anywhere before the header's last byte is programmed
 * leaves a slot whose magic or CRC fails: the other slot (the previous save) still wins. Erased flash reads 0xFF
 * (magic 0xFFFFFFFF: invalid); a partly programmed header leaves its crc word erased or wrong.
 * Boot (load): validate both slots (magic, version, length, layout, CRC), take the valid one with the newer
 * sequence number, comparing wrap-safe ((int32_t)(a - b) > 0: 0 is newer than 0xFFFFFFFF), copy its payload into
 * the parameters; no valid slot leaves the compiled-in initial values untouched.
 *
 * Cost: a save erases ceil((32 + P) / sector) sectors and programs 32 + ceil(P / 32) * 32 bytes (P = payload
 * bytes), then reads them back; CRC-32 costs ~12 instructions per byte (a 16-entry table, two lookups). A load
 * reads both slots once (2 * (32 + P) bytes, CRC'd in 32-byte pieces on the stack) and the winner's payload once
 * more into the parameters: ~3 * P bytes read, no RAM buffer beyond 64 bytes of stack.
 *
 * Portable C99, no vendor HAL: the flash is a struct of function pointers (erase a sector, program, read), given
 * by the board (targets/cortexm: a semihosting host file; tests: RAM).
 */
#ifndef EDGEC_PARAM_STORE_H
#define EDGEC_PARAM_STORE_H

#include <stdint.h>

#define EDGEC_PARAM_STORE_MAGIC 0x54535045u /* "EPST" in memory order */
#define EDGEC_PARAM_STORE_VERSION 1u
#define EDGEC_PARAM_STORE_HEADER_BYTES 32u
/* every program call is whole units at unit-aligned offsets: the device's program granularity must divide it */
#define EDGEC_PARAM_STORE_UNIT 32u

/* results; < 0 are errors */
#define EDGEC_PARAM_STORE_OK 0
#define EDGEC_PARAM_STORE_EMPTY 1        /* load: no valid slot, the parameters keep their initial values */
#define EDGEC_PARAM_STORE_EDEVICE (-1)   /* the device reported an error (erase, program or read) */
#define EDGEC_PARAM_STORE_ETOOBIG (-2)   /* header + payload do not fit a slot */
#define EDGEC_PARAM_STORE_EVERIFY (-3)   /* save: the slot read back does not validate */

/* The flash: two slots of slot_bytes each (a whole number of sectors) from offset 0. Each call returns 0 on
 * success. erase: the sector at `offset` (a multiple of sector_bytes) reads 0xFF afterwards. program: writes
 * `nbytes` onto erased bytes (offset and nbytes multiples of EDGEC_PARAM_STORE_UNIT). */
typedef struct edgec_flash_device {
    void *ctx;
    uint32_t sector_bytes;
    uint32_t slot_bytes;
    int32_t (*erase)(void *ctx, uint32_t offset);
    int32_t (*program)(void *ctx, uint32_t offset, const uint8_t *data, uint32_t nbytes);
    int32_t (*read)(void *ctx, uint32_t offset, uint8_t *data, uint32_t nbytes);
} edgec_flash_device;

/* the k-th trained parameter's bytes (the generated <prefix>_param) */
typedef void *(*edgec_param_fn)(int32_t index, int32_t *nbytes);

typedef struct edgec_param_store {
    const edgec_flash_device *dev;
    int32_t slot;      /* the slot holding the newest valid copy, -1: none */
    uint32_t sequence; /* its sequence number (valid when slot >= 0) */
} edgec_param_store;

/* CRC-32 (IEEE 802.3, reflected, as zlib): crc = edgec_crc32(0, ...) then chain with the previous result. */
uint32_t edgec_crc32(uint32_t crc, const uint8_t *data, uint32_t nbytes);

/* Slot bytes needed for the parameters: header + payload rounded up to whole sectors. */
uint32_t edgec_param_store_slot_bytes(edgec_param_fn param, int32_t count, uint32_t sector_bytes);

/* Find the newest valid slot (no parameter is touched). Returns OK, EMPTY or EDEVICE. */
int32_t edgec_param_store_open(edgec_param_store *s, const edgec_flash_device *dev, edgec_param_fn param,
                               int32_t count);

/* open, then copy the winner's payload into the parameters. Returns OK (loaded), EMPTY or an error. */
int32_t edgec_param_store_load(edgec_param_store *s, const edgec_flash_device *dev, edgec_param_fn param,
                               int32_t count);

/* Commit the parameters to the other slot with sequence + 1 (1 on an empty store). Returns OK or an error; on an
 * error the store still names the previous winner (a later save retries the same slot). */
int32_t edgec_param_store_save(edgec_param_store *s, edgec_param_fn param, int32_t count);

#endif
