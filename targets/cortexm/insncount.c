/* QEMU TCG plugin: deterministic guest instruction counts for edgec firmware, split into instruction classes.
 *
 *   qemu-system-arm ... -plugin libinsncount.so,begin=0x...,end=0x...[,layer=0x...][,exact=on][,listing=on]
 *                       -d plugin -D log
 *
 * Counts every guest instruction (one inline add per translation block, or per instruction with exact=on),
 * and between the first instruction of `begin` (edgec_marker_start) and of `end` (edgec_marker_end) adds the
 * difference to the region of interest. With `layer` (edgec_trace in a -DEDGEC_LAYER_MARKERS build), the
 * instructions between consecutive markers are summed per position: position 0 = start..first layer marker,
 * k = marker k-1..marker k, and the last = last marker..end.
 *
 * Each instruction is also classified once, when QEMU translates it, by decoding its Thumb/Thumb-2 encoding
 * (classify() below; the Debian QEMU's disassembler is Capstone 4, which knows no Armv8.1-M MVE): load, store,
 * multiply (MUL/MLA/MLS, SMUL/SMLA/SMLAD/SMLAL/UMULL/UMLAL/SMMUL/SMMLA, USAD8), divide (SDIV/UDIV), branch
 * (B, BL, BX, BLX, CBZ/CBNZ, TBB/TBH, POP/LDM/LDR loading the PC, WLS/LE low-overhead loop branches; IT is not a
 * branch), fp (scalar floating point, VLDR/VSTR/VPUSH/VPOP counted as load/store), mve (Helium vector
 * instructions, their loads and stores included) and other. Each translated block keeps its class counts and
 * counts its executions with one inline add; the per-class totals are summed over the blocks at the markers only
 * (exact=on: one inline add per instruction and class), so the classes of a region sum exactly to its instruction
 * count and cost about as much as the plain count. `xfer` counts, for the multi-register transfers (LDM/STM/PUSH/POP/LDRD/STRD/VLDM/VSTM),
 * the registers (32-bit words) moved beyond the first: the cycle model charges them separately.
 * At exit it prints
 *   insns_total=N
 *   roi_insns=N roi_calls=K
 *   roi_classes=load:N,store:N,...,xfer:N
 *   layer_insns=a,b,c,...               (only with `layer`)
 *   layer_classes=a0/a1/.../aX,b0/...   (only with `layer`: each position's counts in roi_classes' order)
 * With listing=on it also prints `insn=ADDR,CLASS` once per translated instruction (for cross-checking classify()
 * against a disassembler). Marker addresses have the Thumb bit clear (as arm-none-eabi-nm prints them).
 *
 * Built by edgec with the host gcc: gcc -O2 -shared -fPIC -o libinsncount.so insncount.c
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The subset of QEMU's plugin API this plugin uses, declared here because Debian ships no qemu-plugin.h.
 * These match include/qemu/qemu-plugin.h of QEMU 7.2 (QEMU_PLUGIN_VERSION 1). Later QEMU releases raise the API
 * version and rework the inline operations: recheck these declarations when QEMU changes. ---- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);
/* ---- end of the QEMU API declarations ---- */

#define MAX_POSITIONS 4096

/* Instruction classes, in the order printed; XFER is not a class but the extra-register count (see above). */
enum { C_LOAD, C_STORE, C_MUL, C_DIV, C_BRANCH, C_FP, C_MVE, C_OTHER, N_CLASSES, XFER = N_CLASSES, N_COUNTERS };
static const char *const counter_names[N_COUNTERS] = {"load", "store", "multiply", "divide",
                                                     "branch", "fp", "mve", "other", "xfer"};

static uint64_t total;                 /* all guest instructions executed (inline adds) */
static uint64_t counts[N_COUNTERS];    /* with exact=on: per class (inline adds), and the extra transfer registers */

/* Without exact=on, each translated block keeps its class counts and one execution counter (one inline add per
 * execution, as cheap as the plain count); the per-class totals are summed over the blocks only at the markers. */
struct tb_record {
    uint64_t executions;
    uint32_t counts[N_COUNTERS];
};
#define RECORDS_PER_CHUNK 1024
struct record_chunk {
    struct tb_record records[RECORDS_PER_CHUNK];
    size_t used;
    struct record_chunk *next;
};
static struct record_chunk *chunks; /* newest first; records never move (QEMU holds pointers to them) */

static struct tb_record *new_record(void) {
    if (chunks == NULL || chunks->used == RECORDS_PER_CHUNK) {
        struct record_chunk *chunk = calloc(1, sizeof *chunk);
        if (chunk == NULL) {
            return NULL;
        }
        chunk->next = chunks;
        chunks = chunk;
    }
    return &chunks->records[chunks->used++];
}
static uint64_t begin_addr, end_addr, layer_addr;
static bool have_begin, have_end, have_layer, exact, listing;
static uint64_t roi_start, roi_insns, roi_calls, last_mark;
static uint64_t roi_start_counts[N_COUNTERS], roi_counts[N_COUNTERS], last_mark_counts[N_COUNTERS];
static bool in_roi;
static uint64_t layer_sums[MAX_POSITIONS];
static uint64_t layer_counts[MAX_POSITIONS][N_COUNTERS];
static size_t position, positions_used;
static bool overflowed;

static unsigned popcount16(unsigned v) { return (unsigned)__builtin_popcount(v & 0xFFFFu); }

/* One Thumb instruction's class from its encoding (ARMv7-M / ARMv8-M / ARMv8.1-M Architecture Reference Manuals,
 * "Thumb instruction set encoding"); *xfer = 32-bit words a multi-register transfer moves beyond the first. */
static int classify(const uint8_t *data, size_t size, unsigned *xfer) {
    *xfer = 0;
    if (size < 2) {
        return C_OTHER;
    }
    unsigned hw1 = (unsigned)data[0] | (unsigned)data[1] << 8;
    /* the width comes from the first halfword, not from `size`: near the end of a (1 KiB, PMSA) page QEMU peeks at
     * the next halfword to see whether the next instruction crosses the page, and that peek lands in this
     * instruction's bytes */
    if ((hw1 >> 11) < 0x1D || size < 4) { /* ---- 16-bit encodings */
        if ((hw1 & 0xFFC0) == 0x4340) {
            return C_MUL; /* MULS */
        }
        if ((hw1 & 0xFF00) == 0x4700) {
            return C_BRANCH; /* BX, BLX (register) */
        }
        if ((hw1 & 0xFC00) == 0x4400) { /* ADD/CMP/MOV high registers: a branch when they write the PC */
            unsigned rd = (hw1 & 7) | (hw1 >> 4 & 8);
            return ((hw1 & 0x0300) != 0x0100 && rd == 15) ? C_BRANCH : C_OTHER;
        }
        if ((hw1 & 0xF800) == 0x4800) {
            return C_LOAD; /* LDR (literal) */
        }
        if ((hw1 & 0xF000) == 0x5000) {
            return ((hw1 >> 9 & 7) < 3) ? C_STORE : C_LOAD; /* STR/STRH/STRB | LDRSB/LDR/LDRH/LDRB/LDRSH (reg) */
        }
        if ((hw1 & 0xE000) == 0x6000 || (hw1 & 0xE000) == 0x8000) {
            return (hw1 & 0x0800) ? C_LOAD : C_STORE; /* LDR/STR(B) imm, LDRH/STRH imm, LDR/STR SP-relative */
        }
        if ((hw1 & 0xF500) == 0xB100) {
            return C_BRANCH; /* CBZ, CBNZ */
        }
        if ((hw1 & 0xFE00) == 0xB400) { /* PUSH {..., lr} */
            unsigned n = popcount16(hw1 & 0x1FF);
            *xfer = n - 1;
            return C_STORE;
        }
        if ((hw1 & 0xFE00) == 0xBC00) { /* POP {..., pc} */
            unsigned n = popcount16(hw1 & 0x1FF);
            *xfer = n - 1;
            return (hw1 & 0x100) ? C_BRANCH : C_LOAD;
        }
        if ((hw1 & 0xF000) == 0xC000) { /* STMIA, LDMIA */
            unsigned n = popcount16(hw1 & 0xFF);
            *xfer = n ? n - 1 : 0;
            return (hw1 & 0x0800) ? C_LOAD : C_STORE;
        }
        if ((hw1 & 0xF000) == 0xD000) {
            return ((hw1 & 0x0E00) == 0x0E00) ? C_OTHER : C_BRANCH; /* B<c> (UDF, SVC excluded) */
        }
        if ((hw1 & 0xF800) == 0xE000) {
            return C_BRANCH; /* B */
        }
        return C_OTHER; /* shifts, ALU, MOV/CMP, ADR, SP adjust, extend, REV, IT, hints, ... */
    }
    /* ---- 32-bit encodings */
    unsigned hw2 = (unsigned)data[2] | (unsigned)data[3] << 8;
    if ((hw1 & 0xFE40) == 0xE800) { /* LDM/STM (PUSH/POP .W) */
        unsigned n = popcount16(hw2 & 0xDFFF);
        *xfer = n ? n - 1 : 0;
        if (hw1 & 0x0010) {
            return (hw2 & 0x8000) ? C_BRANCH : C_LOAD;
        }
        return C_STORE;
    }
    if ((hw1 & 0xFE40) == 0xE840) { /* load/store dual or exclusive, table branch */
        if ((hw1 & 0xFFF0) == 0xE8D0 && (hw2 & 0xFFE0) == 0xF000) {
            return C_BRANCH; /* TBB, TBH */
        }
        if ((hw1 & 0x0100) || (hw1 & 0x0020)) {
            *xfer = 1; /* LDRD, STRD */
        }
        return (hw1 & 0x0010) ? C_LOAD : C_STORE;
    }
    if ((hw1 & 0xEC00) == 0xEC00) { /* coprocessor space: floating point and (Armv8.1-M) MVE */
        unsigned coproc = hw2 >> 8 & 0xF;
        if ((hw1 & 0xEF00) == 0xEF00) {
            return C_MVE; /* the A-profile Advanced SIMD slot, MVE's data processing on M-profile */
        }
        if ((coproc & 0xE) != 0xA) {
            return C_MVE; /* coprocessors other than 10/11: MVE (VLDR/VSTR Q, VMLADAV, VPST, ...) */
        }
        if ((hw1 & 0xFF90) == 0xEE80 && (hw2 & 0x0F5F) == 0x0B10) {
            return C_MVE; /* VDUP */
        }
        if ((hw1 & 0xFE00) == 0xEC00 && (hw1 & 0xFFA0) != 0xEC00 && (hw1 & 0xFFE0) != 0xEC40) {
            /* extension register load/store: VLDR/VSTR, VLDM/VSTM, VPUSH/VPOP (imm8 = words for VLDM/VSTM) */
            bool single = (hw1 & 0x0120) == 0x0100; /* P=1, W=0: VLDR/VSTR */
            unsigned words = hw2 & 0xFF;
            *xfer = (!single && words) ? words - 1 : 0;
            return (hw1 & 0x0010) ? C_LOAD : C_STORE;
        }
        return C_FP; /* data processing, VMOV/VMRS/VMSR transfers, VSEL/VMAXNM/VRINT/VCVT */
    }
    if ((hw1 & 0xF800) == 0xF000) {
        if (!(hw2 & 0x8000)) {
            return C_OTHER; /* data processing (immediate) */
        }
        switch (hw2 & 0x5000) {
        case 0x0000:
            return ((hw1 & 0x0380) == 0x0380) ? C_OTHER : C_BRANCH; /* B<c>.W | MSR/MRS, hints, barriers */
        case 0x1000:
        case 0x5000:
            return C_BRANCH; /* B.W, BL */
        default: /* Armv8.1-M: WLS/LE/LETP (branches), DLS/DLSTP/LCTP (loop setup), VCTP */
            if ((hw2 & 0xF000) == 0xC000) {
                return C_BRANCH;
            }
            return ((hw2 & 0xF800) == 0xE800) ? C_MVE : C_OTHER;
        }
    }
    if ((hw1 & 0xFF10) == 0xF800) {
        return C_STORE; /* STR/STRH/STRB (imm, reg) */
    }
    if ((hw1 & 0xFE10) == 0xF810) { /* LDR/LDRH/LDRB/LDRSH/LDRSB (and PLD/PLI) */
        return ((hw1 & 0x0060) == 0x0040 && (hw2 >> 12) == 15) ? C_BRANCH : C_LOAD; /* LDR pc, [...] */
    }
    if ((hw1 & 0xFF80) == 0xFB00) {
        return C_MUL; /* MUL, MLA, MLS, SMLA<x><y>, SMLAD, SMLSD, SMUL<x><y>, SMUAD, SMMUL, SMMLA, USAD8, ... */
    }
    if ((hw1 & 0xFF80) == 0xFB80) { /* long multiply, long multiply-accumulate, divide */
        if (((hw1 & 0xFFF0) == 0xFB90 || (hw1 & 0xFFF0) == 0xFBB0) && (hw2 & 0x00F0) == 0x00F0) {
            return C_DIV; /* SDIV, UDIV */
        }
        return C_MUL; /* SMULL, UMULL, SMLAL, UMLAL, SMLALD, UMAAL, ... */
    }
    return C_OTHER; /* data processing (shifted register, register): SXTB16, SSAT, QADD, shifts, ... */
}

/* the per-class totals so far: the exact=on counters plus every block's executions x its class counts */
static void snapshot(uint64_t *into) {
    memcpy(into, counts, sizeof counts);
    for (const struct record_chunk *chunk = chunks; chunk != NULL; chunk = chunk->next) {
        for (size_t i = 0; i < chunk->used; i++) {
            const struct tb_record *r = &chunk->records[i];
            if (r->executions) {
                for (int c = 0; c < N_COUNTERS; c++) {
                    into[c] += r->executions * r->counts[c];
                }
            }
        }
    }
}

static void on_begin(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    roi_start = total;
    last_mark = total;
    snapshot(roi_start_counts);
    memcpy(last_mark_counts, roi_start_counts, sizeof last_mark_counts);
    position = 0;
    in_roi = true;
}

static void add_position(uint64_t now, const uint64_t *now_counts) {
    if (position < MAX_POSITIONS) {
        layer_sums[position] += now - last_mark;
        for (int c = 0; c < N_COUNTERS; c++) {
            layer_counts[position][c] += now_counts[c] - last_mark_counts[c];
        }
        if (position + 1 > positions_used) {
            positions_used = position + 1;
        }
    } else {
        overflowed = true;
    }
    position++;
    last_mark = now;
    memcpy(last_mark_counts, now_counts, sizeof last_mark_counts);
}

static void on_layer(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    if (in_roi) {
        uint64_t now_counts[N_COUNTERS];
        snapshot(now_counts);
        add_position(total, now_counts);
    }
}

static void on_end(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    if (in_roi) {
        uint64_t now_counts[N_COUNTERS];
        snapshot(now_counts);
        roi_insns += total - roi_start;
        for (int c = 0; c < N_COUNTERS; c++) {
            roi_counts[c] += now_counts[c] - roi_start_counts[c];
        }
        roi_calls++;
        if (have_layer) {
            add_position(total, now_counts);
        }
        in_roi = false;
    }
}

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    uint32_t tb_counts[N_COUNTERS] = {0};
    if (!exact) {
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1;
        unsigned xfer;
        int cls = classify(qemu_plugin_insn_data(insn), qemu_plugin_insn_size(insn), &xfer);
        tb_counts[cls]++;
        tb_counts[XFER] += xfer;
        if (exact) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counts[cls], 1);
            if (xfer) {
                qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counts[XFER], xfer);
            }
        }
        if (listing) {
            char line[64];
            snprintf(line, sizeof line, "insn=%" PRIx64 ",%s\n", pc, counter_names[cls]);
            qemu_plugin_outs(line);
        }
        if (have_begin && pc == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        if (have_end && pc == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        if (have_layer && pc == layer_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_layer, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
    if (!exact) {
        struct tb_record *record = new_record();
        if (record == NULL) {
            fprintf(stderr, "insncount: out of memory\n");
            abort();
        }
        memcpy(record->counts, tb_counts, sizeof tb_counts);
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &record->executions, 1);
    }
}

/* "a/b/c" or "name:a,name:b" for one set of counters, appended at buf+len (cap bytes in all) */
static size_t put_counters(char *buf, size_t len, size_t cap, const uint64_t *values, bool named) {
    for (int c = 0; c < N_COUNTERS; c++) {
        if (named) {
            len += (size_t)snprintf(buf + len, cap - len, "%s%s:%" PRIu64, c ? "," : "", counter_names[c], values[c]);
        } else {
            len += (size_t)snprintf(buf + len, cap - len, c ? "/%" PRIu64 : "%" PRIu64, values[c]);
        }
    }
    return len;
}

static void on_plugin_exit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    char line[512];
    size_t len = (size_t)snprintf(line, sizeof line, "insns_total=%" PRIu64 "\nroi_insns=%" PRIu64
                                  " roi_calls=%" PRIu64 "\nroi_classes=", total, roi_insns, roi_calls);
    len = put_counters(line, len, sizeof line, roi_counts, true);
    snprintf(line + len, sizeof line - len, "\n");
    qemu_plugin_outs(line);
    if (have_layer) {
        size_t cap = 64 + positions_used * 21 * (N_COUNTERS + 1);
        char *buf = malloc(cap);
        if (buf != NULL) {
            len = (size_t)snprintf(buf, cap, "layer_insns=");
            for (size_t i = 0; i < positions_used; i++) {
                len += (size_t)snprintf(buf + len, cap - len, i ? ",%" PRIu64 : "%" PRIu64, layer_sums[i]);
            }
            len += (size_t)snprintf(buf + len, cap - len, "%s\nlayer_classes=", overflowed ? " overflowed" : "");
            for (size_t i = 0; i < positions_used; i++) {
                len += (size_t)snprintf(buf + len, cap - len, i ? "," : "");
                len = put_counters(buf, len, cap, layer_counts[i], false);
            }
            snprintf(buf + len, cap - len, "\n");
            qemu_plugin_outs(buf);
            free(buf);
        }
    }
}

static bool parse_addr(const char *arg, const char *key, uint64_t *out) {
    size_t k = strlen(key);
    if (strncmp(arg, key, k) != 0 || arg[k] != '=') {
        return false;
    }
    *out = strtoull(arg + k + 1, NULL, 0) & ~(uint64_t)1;
    return true;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        uint64_t v;
        if (parse_addr(argv[i], "begin", &v)) {
            begin_addr = v;
            have_begin = true;
        } else if (parse_addr(argv[i], "end", &v)) {
            end_addr = v;
            have_end = true;
        } else if (parse_addr(argv[i], "layer", &v)) {
            layer_addr = v;
            have_layer = true;
        } else if (strcmp(argv[i], "exact=on") == 0) {
            exact = true;
        } else if (strcmp(argv[i], "exact=off") == 0) {
            exact = false;
        } else if (strcmp(argv[i], "listing=on") == 0) {
            listing = true;
        } else {
            fprintf(stderr, "insncount: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
