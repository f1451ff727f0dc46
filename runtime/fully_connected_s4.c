#include "edgec_fixedpoint.h"
#include "edgec_int4.h"
#include "fully_connected_s4.h"

/* out[b,o] = clamp(zp_out + MBQM(bias[o] + sum_d w[o,d] * (in[b,d] - zp_in))) as in fully_connected_s8.c, with
 * the output as the OUTER loop: row o of the weights (depth values) is unpacked once into `row`, then used for
 * every batch. Cost per MAC: the int8 MAC plus 1 / batches unpack (one unpack per MAC at batch 1: an FC reads
 * each weight once per inference, so int4 costs it about 4 operations per MAC more than int8). */
void edgec_fully_connected_s4(const edgec_fully_connected_s8_params *p, const uint8_t *packed, int8_t *row,
                              const int8_t *input, int8_t *output) {
    for (int32_t o = 0; o < p->out_c; o++) {
        edgec_s4_unpack(packed, o * p->depth, 1, p->depth, row);
        const int32_t c = p->per_channel ? o : 0;
        for (int32_t b = 0; b < p->batches; b++) {
            const int8_t *in = input + b * p->depth;
            int32_t acc = 0;
            for (int32_t d = 0; d < p->depth; d++) {
                acc += (int32_t)row[d] * ((int32_t)in[d] + p->input_offset);
            }
            if (p->bias) acc += p->bias[o];
            acc = edgec_requantize(acc, p->multiplier[c], p->shift[c], p->rounding) + p->output_offset;
            output[b * p->out_c + o] = (int8_t)edgec_clamp(acc, p->act_min, p->act_max);
        }
    }
}
