/* The CPU features leaky_c knows, declared once: the enum and the names that
 * show_config() and LEAKY_C_DISABLE_CPU_FEATURES use are both made from this
 * list (Python reads the names through leaky_feature_name). */
#ifndef LEAKY_CPU_H
#define LEAKY_CPU_H

#define LEAKY_FEATURES(X) \
    X(SSE2) X(AVX2) X(FMA) X(F16C) X(AVX512F) X(AVX512BW) X(AVX512VL) \
    X(AVX512_BF16) X(AVX512_FP16) X(NEON)

enum leaky_feature {
#define LEAKY_FEATURE_ENUM(name) LEAKY_FEATURE_##name,
    LEAKY_FEATURES(LEAKY_FEATURE_ENUM)
#undef LEAKY_FEATURE_ENUM
    LEAKY_FEATURE_COUNT
};

#endif
