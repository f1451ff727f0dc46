/* QEMU TCG plugin: deterministic guest instruction counts for edgec firmware.
 *
 *   qemu-system-arm ... -plugin libinsncount.so,begin=0x...,end=0x...[,layer=0x...][,exact=on] -d plugin -D log
 *
 * Counts every guest instruction (one inline add per translation block, or per instruction with exact=on),
 * and between the first instruction of `begin` (edgec_marker_start) and of `end` (edgec_marker_end) adds the
 * difference to the region of interest. With `layer` (edgec_trace in a -DEDGEC_LAYER_MARKERS build), the
 * instructions between consecutive markers are summed per position: position 0 = start..first layer marker,
 * k = marker k-1..marker k, and the last = last marker..end. At exit it prints
 *   insns_total=N
 *   roi_insns=N roi_calls=K
 *   layer_insns=a,b,c,...     (only with `layer`)
 * Marker addresses have the Thumb bit clear (as arm-none-eabi-nm prints them).
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
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);
/* ---- end of the QEMU API declarations ---- */

#define MAX_POSITIONS 4096

static uint64_t total;                 /* all guest instructions executed (inline adds) */
static uint64_t begin_addr, end_addr, layer_addr;
static bool have_begin, have_end, have_layer, exact;
static uint64_t roi_start, roi_insns, roi_calls, last_mark;
static bool in_roi;
static uint64_t layer_sums[MAX_POSITIONS];
static size_t position, positions_used;
static bool overflowed;

static void on_begin(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    roi_start = total;
    last_mark = total;
    position = 0;
    in_roi = true;
}

static void add_position(uint64_t now) {
    if (position < MAX_POSITIONS) {
        layer_sums[position] += now - last_mark;
        if (position + 1 > positions_used) {
            positions_used = position + 1;
        }
    } else {
        overflowed = true;
    }
    position++;
    last_mark = now;
}

static void on_layer(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    if (in_roi) {
        add_position(total);
    }
}

static void on_end(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    if (in_roi) {
        roi_insns += total - roi_start;
        roi_calls++;
        if (have_layer) {
            add_position(total);
        }
        in_roi = false;
    }
}

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (!exact) {
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1;
        if (exact) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
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
}

static void on_plugin_exit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    char line[160];
    snprintf(line, sizeof line, "insns_total=%" PRIu64 "\nroi_insns=%" PRIu64 " roi_calls=%" PRIu64 "\n", total,
             roi_insns, roi_calls);
    qemu_plugin_outs(line);
    if (have_layer) {
        size_t cap = 32 + positions_used * 21;
        char *buf = malloc(cap);
        if (buf != NULL) {
            size_t len = (size_t)snprintf(buf, cap, "layer_insns=");
            for (size_t i = 0; i < positions_used; i++) {
                len += (size_t)snprintf(buf + len, cap - len, i ? ",%" PRIu64 : "%" PRIu64, layer_sums[i]);
            }
            snprintf(buf + len, cap - len, "%s\n", overflowed ? " overflowed" : "");
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
        } else {
            fprintf(stderr, "insncount: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
