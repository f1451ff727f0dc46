/* edgec_param_store.c - two-slot A/B store of the trained parameters (the layout, commit order and boot rule are
 * in edgec_param_store.h and docs/training.md).
 *
 *     save:  erase(other slot) -> program payload (32-byte units, crc accumulated) -> program header (last) -> verify
 *     load:  valid(slot) = magic, version, length, layout match and crc32(header[0..28) ++ payload) == header.crc;
 *            winner = the valid slot with the newer sequence (wrap-safe); copy its payload into the parameters
 *
 * Cost per save: ceil((32 + P) / sector) sector erases, 32 + 32 * ceil(P / 32) bytes programmed, 32 + P read back;
 * per load: ~3 P bytes read and ~2 P bytes CRC'd (~12 instructions per byte).
 */
#include "edgec_param_store.h"

#include <stddef.h>

/* CRC-32, reflected polynomial 0xEDB88320, four bits at a time: crc = (crc >> 4) ^ T[(crc ^ nibble) & 15], with
 * T[i] the CRC of the 4-bit value i (64 bytes of table instead of 1 KiB; two lookups per byte). */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t edgec_crc32(uint32_t crc, const uint8_t *data, uint32_t nbytes) {
    crc = ~crc;
    for (uint32_t i = 0; i < nbytes; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* header words */
enum { H_MAGIC = 0, H_VERSION = 4, H_SEQUENCE = 8, H_PAYLOAD = 12, H_LAYOUT = 16, H_COUNT = 20, H_ZERO = 24,
       H_CRC = 28 };

/* payload bytes and the layout word: CRC-32 of (count, nbytes of every parameter) as little-endian words */
static uint32_t describe(edgec_param_fn param, int32_t count, uint32_t *layout) {
    uint8_t word[4];
    uint32_t total = 0;
    put_u32(word, (uint32_t)count);
    uint32_t crc = edgec_crc32(0u, word, 4u);
    for (int32_t k = 0; k < count; k++) {
        int32_t nbytes = 0;
        (void)param(k, &nbytes);
        put_u32(word, (uint32_t)nbytes);
        crc = edgec_crc32(crc, word, 4u);
        total += (uint32_t)nbytes;
    }
    *layout = crc;
    return total;
}

uint32_t edgec_param_store_slot_bytes(edgec_param_fn param, int32_t count, uint32_t sector_bytes) {
    uint32_t layout;
    const uint32_t need = EDGEC_PARAM_STORE_HEADER_BYTES + describe(param, count, &layout);
    return (need + sector_bytes - 1u) / sector_bytes * sector_bytes;
}

/* 1 (valid, *sequence set), 0 (invalid) or EDEVICE */
static int32_t slot_valid(const edgec_flash_device *dev, int32_t slot, uint32_t payload, uint32_t layout,
                          int32_t count, uint32_t *sequence) {
    uint8_t h[EDGEC_PARAM_STORE_HEADER_BYTES];
    uint8_t piece[EDGEC_PARAM_STORE_UNIT];
    const uint32_t base = (uint32_t)slot * dev->slot_bytes;
    if (dev->read(dev->ctx, base, h, sizeof h) != 0) return EDGEC_PARAM_STORE_EDEVICE;
    if (get_u32(h + H_MAGIC) != EDGEC_PARAM_STORE_MAGIC || get_u32(h + H_VERSION) != EDGEC_PARAM_STORE_VERSION ||
        get_u32(h + H_PAYLOAD) != payload || get_u32(h + H_LAYOUT) != layout ||
        get_u32(h + H_COUNT) != (uint32_t)count || get_u32(h + H_ZERO) != 0u) {
        return 0;
    }
    uint32_t crc = edgec_crc32(0u, h, H_CRC);
    for (uint32_t done = 0; done < payload;) {
        const uint32_t n = payload - done < sizeof piece ? payload - done : (uint32_t)sizeof piece;
        if (dev->read(dev->ctx, base + EDGEC_PARAM_STORE_HEADER_BYTES + done, piece, n) != 0) {
            return EDGEC_PARAM_STORE_EDEVICE;
        }
        crc = edgec_crc32(crc, piece, n);
        done += n;
    }
    if (crc != get_u32(h + H_CRC)) return 0;
    *sequence = get_u32(h + H_SEQUENCE);
    return 1;
}

/* a newer than b, modulo 2^32: a - b in [1, 2^31 - 1] */
static int newer(uint32_t a, uint32_t b) { return (uint32_t)(a - b) - 1u < 0x7FFFFFFFu; }

int32_t edgec_param_store_open(edgec_param_store *s, const edgec_flash_device *dev, edgec_param_fn param,
                               int32_t count) {
    uint32_t layout;
    const uint32_t payload = describe(param, count, &layout);
    s->dev = dev;
    s->slot = -1;
    s->sequence = 0u;
    if (EDGEC_PARAM_STORE_HEADER_BYTES + payload > dev->slot_bytes) return EDGEC_PARAM_STORE_EMPTY;
    for (int32_t slot = 0; slot < 2; slot++) {
        uint32_t seq = 0u;
        const int32_t v = slot_valid(dev, slot, payload, layout, count, &seq);
        if (v < 0) return v;
        if (v == 1 && (s->slot < 0 || newer(seq, s->sequence))) {
            s->slot = slot;
            s->sequence = seq;
        }
    }
    return s->slot < 0 ? EDGEC_PARAM_STORE_EMPTY : EDGEC_PARAM_STORE_OK;
}

int32_t edgec_param_store_load(edgec_param_store *s, const edgec_flash_device *dev, edgec_param_fn param,
                               int32_t count) {
    const int32_t r = edgec_param_store_open(s, dev, param, count);
    if (r != EDGEC_PARAM_STORE_OK) return r;
    uint32_t offset = (uint32_t)s->slot * dev->slot_bytes + EDGEC_PARAM_STORE_HEADER_BYTES;
    for (int32_t k = 0; k < count; k++) {
        int32_t nbytes = 0;
        uint8_t *data = (uint8_t *)param(k, &nbytes);
        if (nbytes > 0 && dev->read(dev->ctx, offset, data, (uint32_t)nbytes) != 0) return EDGEC_PARAM_STORE_EDEVICE;
        offset += (uint32_t)nbytes;
    }
    return EDGEC_PARAM_STORE_OK;
}

int32_t edgec_param_store_save(edgec_param_store *s, edgec_param_fn param, int32_t count) {
    const edgec_flash_device *dev = s->dev;
    uint32_t layout;
    const uint32_t payload = describe(param, count, &layout);
    const uint32_t need = EDGEC_PARAM_STORE_HEADER_BYTES + payload;
    if (need > dev->slot_bytes) return EDGEC_PARAM_STORE_ETOOBIG;
    const int32_t target = s->slot == 0 ? 1 : 0;
    const uint32_t sequence = s->slot < 0 ? 1u : s->sequence + 1u;
    const uint32_t base = (uint32_t)target * dev->slot_bytes;
    /* 1. erase the sectors the new copy covers (the older copy, or garbage) */
    for (uint32_t off = 0; off < need; off += dev->sector_bytes) {
        if (dev->erase(dev->ctx, base + off) != 0) return EDGEC_PARAM_STORE_EDEVICE;
    }
    uint8_t h[EDGEC_PARAM_STORE_HEADER_BYTES];
    put_u32(h + H_MAGIC, EDGEC_PARAM_STORE_MAGIC);
    put_u32(h + H_VERSION, EDGEC_PARAM_STORE_VERSION);
    put_u32(h + H_SEQUENCE, sequence);
    put_u32(h + H_PAYLOAD, payload);
    put_u32(h + H_LAYOUT, layout);
    put_u32(h + H_COUNT, (uint32_t)count);
    put_u32(h + H_ZERO, 0u);
    uint32_t crc = edgec_crc32(0u, h, H_CRC);
    /* 2. the payload in whole units (the last one padded with 0xFF, as erased flash), CRC accumulated */
    uint8_t unit[EDGEC_PARAM_STORE_UNIT];
    uint32_t fill = 0, offset = base + EDGEC_PARAM_STORE_HEADER_BYTES;
    for (int32_t k = 0; k < count; k++) {
        int32_t nbytes = 0;
        const uint8_t *data = (const uint8_t *)param(k, &nbytes);
        crc = edgec_crc32(crc, data, (uint32_t)nbytes);
        for (int32_t i = 0; i < nbytes; i++) {
            unit[fill++] = data[i];
            if (fill == sizeof unit) {
                if (dev->program(dev->ctx, offset, unit, fill) != 0) return EDGEC_PARAM_STORE_EDEVICE;
                offset += fill;
                fill = 0;
            }
        }
    }
    if (fill > 0) {
        for (uint32_t i = fill; i < sizeof unit; i++) unit[i] = 0xFFu;
        if (dev->program(dev->ctx, offset, unit, sizeof unit) != 0) return EDGEC_PARAM_STORE_EDEVICE;
    }
    /* 3. the header last: until its final byte is programmed the slot fails its magic or CRC check */
    put_u32(h + H_CRC, crc);
    if (dev->program(dev->ctx, base, h, sizeof h) != 0) return EDGEC_PARAM_STORE_EDEVICE;
    /* 4. read it back */
    uint32_t check = 0u;
    const int32_t v = slot_valid(dev, target, payload, layout, count, &check);
    if (v < 0) return v;
    if (v == 0 || check != sequence) return EDGEC_PARAM_STORE_EVERIFY;
    s->slot = target;
    s->sequence = sequence;
    return EDGEC_PARAM_STORE_OK;
}
