#ifndef EDGEC_SVDF_S8_H
#define EDGEC_SVDF_S8_H
#include <stdint.h>

/* int8 SVDF with an int16 state [batches, filters * memory] kept by the caller between invocations. */
typedef struct {
    int32_t batches, input_size, filters, memory, rank;
    int32_t input_offset;   /* -zp_x */
    int32_t state_offset;   /* zp of the state */
    int32_t output_offset;  /* zp_y */
    int32_t feature_multiplier, feature_shift; /* s_x * s_Wf / s_S */
    int32_t output_multiplier, output_shift;   /* s_S * s_Wt / s_y */
    const int8_t *weights_feature;  /* [filters, input_size] */
    const int16_t *weights_time;    /* [filters, memory] */
    const int32_t *bias;            /* [filters / rank] */
} edgec_svdf_s8_params;

void edgec_svdf_s8(const edgec_svdf_s8_params *p, const int8_t *input, int16_t *state, int8_t *output);

#endif
