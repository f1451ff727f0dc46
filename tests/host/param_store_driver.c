/* Host driver of runtime/edgec_param_store.c (tests/host/test_param_store.py), built under ASan/UBSan.
 *
 * A RAM flash device whose erase and program are split in small operations (erase: 64-byte chunks, program:
 * 8-byte rows, as real flash), each counted; a power cut after N operations programs only the first t bytes of
 * operation N (byte t gets a value half-way between old and new), then the device is dead until the next boot.
 *
 *     driver cuts TRIALS SEED START_SEQUENCE   random saves, most of them cut at a random operation; after every
 *                                              one, a reboot must load the last complete save (or, if the cut hit
 *                                              the save's final operation and the slot is whole, the new one)
 *     driver flips                             every byte of the newest slot corrupted in turn: the older loads
 *     driver edge                              erased, garbage, another layout, bad version: EMPTY, untouched
 * Prints one line of counts; exits 1 with a message on the first wrong outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgec_param_store.h"

#define SECTOR 128u
#define SLOT 256u
#define ERASE_CHUNK 64u
#define PROGRAM_ROW 8u

typedef struct {
    uint8_t mem[2 * SLOT];
    uint32_t ops;      /* operations since boot */
    uint32_t cut_at;   /* the operation the power cut hits (UINT32_MAX: none) */
    uint32_t torn;     /* bytes of that operation that land */
    int dead;
} ram_flash;

static uint32_t rng = 1u;
static uint32_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* one operation: `n` bytes `src` onto mem[offset..]; erase: src NULL (0xFF) */
static int32_t operation(ram_flash *f, uint32_t offset, const uint8_t *src, uint32_t n) {
    if (f->dead) return -1;
    if (f->ops == f->cut_at) {
        uint32_t t = f->torn < n ? f->torn : n - 1u;
        for (uint32_t i = 0; i < t; i++) f->mem[offset + i] = src ? src[i] : 0xFFu;
        /* the cell being written when the power went: some bits switched, some not */
        const uint8_t old = f->mem[offset + t], target = src ? src[t] : 0xFFu;
        f->mem[offset + t] = src ? (uint8_t)(old & (target | 0x5Au)) : (uint8_t)(old | 0x5Au);
        f->dead = 1;
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) f->mem[offset + i] = src ? src[i] : 0xFFu;
    f->ops++;
    return 0;
}

static int32_t ram_erase(void *ctx, uint32_t offset) {
    ram_flash *f = (ram_flash *)ctx;
    if (offset % SECTOR != 0u || offset + SECTOR > sizeof f->mem) return -1;
    for (uint32_t k = 0; k < SECTOR; k += ERASE_CHUNK) {
        if (operation(f, offset + k, NULL, ERASE_CHUNK) != 0) return -1;
    }
    return 0;
}

static int32_t ram_program(void *ctx, uint32_t offset, const uint8_t *data, uint32_t nbytes) {
    ram_flash *f = (ram_flash *)ctx;
    if (offset % EDGEC_PARAM_STORE_UNIT != 0u || nbytes % EDGEC_PARAM_STORE_UNIT != 0u ||
        offset + nbytes > sizeof f->mem) {
        return -1;
    }
    for (uint32_t k = 0; k < nbytes; k += PROGRAM_ROW) {
        for (uint32_t i = 0; i < PROGRAM_ROW; i++) {
            if (f->mem[offset + k + i] != 0xFFu) return -1; /* programming never sets bits: erased first */
        }
        if (operation(f, offset + k, data + k, PROGRAM_ROW) != 0) return -1;
    }
    return 0;
}

static int32_t ram_read(void *ctx, uint32_t offset, uint8_t *data, uint32_t nbytes) {
    ram_flash *f = (ram_flash *)ctx;
    if (offset + nbytes > sizeof f->mem) return -1;
    memcpy(data, f->mem + offset, nbytes);
    return 0;
}

static ram_flash flash;
static const edgec_flash_device device = {&flash, SECTOR, SLOT, ram_erase, ram_program, ram_read};

/* three trained parameters of awkward sizes (payload 220 bytes: 32 + 220 spans both sectors of a slot) */
static uint8_t p0[13], p1[200], p2[7];
static uint8_t q0[100], q1[113], q2[7]; /* the same total in another layout */

static void *params(int32_t k, int32_t *nbytes) {
    switch (k) {
    case 0: *nbytes = (int32_t)sizeof p0; return p0;
    case 1: *nbytes = (int32_t)sizeof p1; return p1;
    case 2: *nbytes = (int32_t)sizeof p2; return p2;
    default: *nbytes = 0; return NULL;
    }
}

static void *other_params(int32_t k, int32_t *nbytes) {
    switch (k) {
    case 0: *nbytes = (int32_t)sizeof q0; return q0;
    case 1: *nbytes = (int32_t)sizeof q1; return q1;
    case 2: *nbytes = (int32_t)sizeof q2; return q2;
    default: *nbytes = 0; return NULL;
    }
}

#define PAYLOAD (sizeof p0 + sizeof p1 + sizeof p2)

static void get_params(uint8_t *out) {
    memcpy(out, p0, sizeof p0);
    memcpy(out + sizeof p0, p1, sizeof p1);
    memcpy(out + sizeof p0 + sizeof p1, p2, sizeof p2);
}

static void set_params(const uint8_t *in) {
    memcpy(p0, in, sizeof p0);
    memcpy(p1, in + sizeof p0, sizeof p1);
    memcpy(p2, in + sizeof p0 + sizeof p1, sizeof p2);
}

static void fail(const char *what, long trial) {
    printf("FAIL %s (trial %ld)\n", what, trial);
    exit(1);
}

static const uint8_t initial[PAYLOAD] = {0}; /* the "compiled-in" values: zeros */

static void boot(void) {
    flash.ops = 0u;
    flash.cut_at = UINT32_MAX;
    flash.dead = 0;
    set_params(initial);
}

/* operations of one complete save: 2 sectors erased in 64-byte chunks, 32 + 224 bytes programmed in 8-byte rows */
#define SAVE_OPS (2u * SECTOR / ERASE_CHUNK + (EDGEC_PARAM_STORE_HEADER_BYTES + 224u) / PROGRAM_ROW)

static int cuts(long trials, uint32_t seed, uint32_t start) {
    static uint8_t last[PAYLOAD], attempt[PAYLOAD], got[PAYLOAD];
    long loaded_last = 0, loaded_new = 0, loaded_initial = 0, complete = 0, cut = 0, wraps = 0;
    int have_last = 0;
    uint32_t last_seq = 0u;
    rng = seed;
    memset(flash.mem, 0xFF, sizeof flash.mem);
    edgec_param_store s;
    boot();
    if (edgec_param_store_load(&s, &device, params, 3) != EDGEC_PARAM_STORE_EMPTY) fail("erased: not EMPTY", -1);
    if (start != 1u) { /* pretend the other slot held start - 1: the chain of sequences wraps through 0 */
        s.slot = 1;
        s.sequence = start - 1u;
    }
    for (long trial = 0; trial < trials; trial++) {
        for (uint32_t i = 0; i < PAYLOAD; i++) attempt[i] = (uint8_t)next_random();
        set_params(attempt);
        const int cutting = next_random() % 4u != 0u;
        if (cutting) {
            flash.cut_at = next_random() % SAVE_OPS;
            flash.torn = next_random() % (ERASE_CHUNK + 1u);
        }
        const uint32_t before = s.sequence, cut_at = flash.cut_at;
        const int32_t r = edgec_param_store_save(&s, params, 3);
        if (!cutting) {
            if (r != EDGEC_PARAM_STORE_OK) fail("uncut save failed", trial);
            if (s.sequence == 0u && before == 0xFFFFFFFFu) wraps++;
            memcpy(last, attempt, PAYLOAD);
            have_last = 1;
            last_seq = s.sequence;
            complete++;
        } else {
            if (r != EDGEC_PARAM_STORE_EDEVICE) fail("cut save did not report the device error", trial);
            cut++;
        }
        /* power back on */
        boot();
        const int32_t l = edgec_param_store_load(&s, &device, params, 3);
        get_params(got);
        if (l == EDGEC_PARAM_STORE_EMPTY) {
            if (have_last) fail("a complete save was lost", trial);
            if (memcmp(got, initial, PAYLOAD) != 0) fail("EMPTY changed the parameters", trial);
            loaded_initial++;
            if (start != 1u) {
                s.slot = 1;
                s.sequence = start - 1u;
            }
        } else if (l != EDGEC_PARAM_STORE_OK) {
            fail("load error", trial);
        } else if (have_last && memcmp(got, last, PAYLOAD) == 0 && s.sequence == last_seq) {
            loaded_last++;
        } else if (cutting && cut_at == SAVE_OPS - 1u && memcmp(got, attempt, PAYLOAD) == 0) {
            /* the cut hit the header's last row and its torn byte already held its final value: whole */
            memcpy(last, attempt, PAYLOAD);
            have_last = 1;
            last_seq = s.sequence;
            loaded_new++;
        } else {
            fail("loaded neither the last complete save nor the new one", trial);
        }
    }
    printf("cuts=%ld complete=%ld loaded_last=%ld loaded_new=%ld loaded_initial=%ld wraps=%ld save_ops=%u\n",
           cut, complete, loaded_last, loaded_new, loaded_initial, wraps, SAVE_OPS);
    return 0;
}

static int flips(void) {
    static uint8_t older[PAYLOAD], newer[PAYLOAD], got[PAYLOAD];
    edgec_param_store s;
    memset(flash.mem, 0xFF, sizeof flash.mem);
    boot();
    (void)edgec_param_store_open(&s, &device, params, 3);
    for (uint32_t i = 0; i < PAYLOAD; i++) older[i] = (uint8_t)(i * 7u + 1u), newer[i] = (uint8_t)(i * 13u + 5u);
    set_params(older);
    if (edgec_param_store_save(&s, params, 3) != EDGEC_PARAM_STORE_OK) fail("save 1", -1);
    set_params(newer);
    if (edgec_param_store_save(&s, params, 3) != EDGEC_PARAM_STORE_OK) fail("save 2", -1);
    const uint32_t base = (uint32_t)s.slot * SLOT;
    long tested = 0;
    for (uint32_t pos = 0; pos < EDGEC_PARAM_STORE_HEADER_BYTES + PAYLOAD; pos++) {
        for (uint32_t bit = 0; bit < 8u; bit++) {
            flash.mem[base + pos] ^= (uint8_t)(1u << bit);
            boot();
            if (edgec_param_store_load(&s, &device, params, 3) != EDGEC_PARAM_STORE_OK) fail("flip: load", (long)pos);
            get_params(got);
            if (memcmp(got, older, PAYLOAD) != 0) fail("flip: the corrupted slot was loaded", (long)pos);
            flash.mem[base + pos] ^= (uint8_t)(1u << bit);
            tested++;
        }
    }
    boot();
    if (edgec_param_store_load(&s, &device, params, 3) != EDGEC_PARAM_STORE_OK) fail("restored: load", -1);
    get_params(got);
    if (memcmp(got, newer, PAYLOAD) != 0) fail("restored: the newer slot did not win", -1);
    printf("flips=%ld\n", tested);
    return 0;
}

static int edge(void) {
    static uint8_t got[PAYLOAD], marker[PAYLOAD];
    edgec_param_store s;
    for (uint32_t i = 0; i < PAYLOAD; i++) marker[i] = (uint8_t)(i ^ 0xA5u);
    /* erased */
    memset(flash.mem, 0xFF, sizeof flash.mem);
    boot();
    set_params(marker);
    if (edgec_param_store_load(&s, &device, params, 3) != EDGEC_PARAM_STORE_EMPTY) fail("erased", -1);
    get_params(got);
    if (memcmp(got, marker, PAYLOAD) != 0) fail("erased: parameters touched", -1);
    /* garbage */
    rng = 7u;
    for (uint32_t i = 0; i < sizeof flash.mem; i++) flash.mem[i] = (uint8_t)next_random();
    if (edgec_param_store_load(&s, &device, params, 3) != EDGEC_PARAM_STORE_EMPTY) fail("garbage", -1);
    get_params(got);
    if (memcmp(got, marker, PAYLOAD) != 0) fail("garbage: parameters touched", -1);
    /* a store of the same payload size in another layout is never loaded */
    memset(flash.mem, 0xFF, sizeof flash.mem);
    boot();
    (void)edgec_param_store_open(&s, &device, other_params, 3);
    if (edgec_param_store_save(&s, other_params, 3) != EDGEC_PARAM_STORE_OK) fail("other layout: save", -1);
    set_params(marker);
    if (edgec_param_store_load(&s, &device, params, 3) != EDGEC_PARAM_STORE_EMPTY) fail("other layout", -1);
    /* a valid CRC but another format version */
    memset(flash.mem, 0xFF, sizeof flash.mem);
    (void)edgec_param_store_open(&s, &device, params, 3);
    if (edgec_param_store_save(&s, params, 3) != EDGEC_PARAM_STORE_OK) fail("version: save", -1);
    flash.mem[4] = 2u;
    const uint32_t crc = edgec_crc32(edgec_crc32(0u, flash.mem, 28u), flash.mem + 32, (uint32_t)PAYLOAD);
    for (int i = 0; i < 4; i++) flash.mem[28 + i] = (uint8_t)(crc >> (8 * i));
    if (edgec_param_store_load(&s, &device, params, 3) != EDGEC_PARAM_STORE_EMPTY) fail("version 2 loaded", -1);
    /* too big for a slot */
    static const edgec_flash_device small = {&flash, SECTOR, 128u, ram_erase, ram_program, ram_read};
    (void)edgec_param_store_open(&s, &small, params, 3);
    if (edgec_param_store_save(&s, params, 3) != EDGEC_PARAM_STORE_ETOOBIG) fail("too big", -1);
    /* the CRC is zlib's: crc32(b"123456789") = 0xCBF43926 */
    if (edgec_crc32(0u, (const uint8_t *)"123456789", 9u) != 0xCBF43926u) fail("crc32 check value", -1);
    printf("edge=ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "cuts") == 0) {
        return cuts(strtol(argv[2], NULL, 10), (uint32_t)strtoul(argv[3], NULL, 10),
                    (uint32_t)strtoul(argv[4], NULL, 0));
    }
    if (argc >= 2 && strcmp(argv[1], "flips") == 0) return flips();
    if (argc >= 2 && strcmp(argv[1], "edge") == 0) return edge();
    fprintf(stderr, "usage: driver cuts TRIALS SEED START | flips | edge\n");
    return 2;
}
