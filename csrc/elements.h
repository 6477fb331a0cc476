/* One element of each dtype: load as the compute type, store from it.
 * Shared by the strided loops and PReLU, which address elements by byte. */
#ifndef LEAKY_ELEMENTS_H
#define LEAKY_ELEMENTS_H

#include <stdint.h>
#include "half.h"

#define LOAD_f32(p) (*(const float *)(p))
#define STORE_f32(p, v) (*(float *)(p) = (v))
#define LOAD_f64(p) (*(const double *)(p))
#define STORE_f64(p, v) (*(double *)(p) = (v))
#define LOAD_f16(p) leaky_f16_to_f32(*(const uint16_t *)(p))
#define STORE_f16(p, v) (*(uint16_t *)(p) = leaky_f32_to_f16(v))
#define LOAD_bf16(p) leaky_bf16_to_f32(*(const uint16_t *)(p))
#define STORE_bf16(p, v) (*(uint16_t *)(p) = leaky_f32_to_bf16(v))
/* The stored form of a computed value. */
#define STORE_VALUE_f32(v) (v)
#define STORE_VALUE_f64(v) (v)
#define STORE_VALUE_f16(v) leaky_f32_to_f16(v)
#define STORE_VALUE_bf16(v) leaky_f32_to_bf16(v)

#endif
