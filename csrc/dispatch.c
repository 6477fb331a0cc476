/* Run-time dispatch: which compiled target serves the kernels.
 *
 * One table lists the targets, each with the instruction sets it was compiled
 * for (LEAKY_ISA_* in kernels.h, the same string its target_*.c hands the
 * compiler).  A target can run where the CPU has every feature in that string;
 * Python reads the same answer through leaky_target_requires, so show_config()
 * and LEAKY_C_DISABLE_CPU_FEATURES cannot disagree with what runs.  Python
 * (leaky_c/_backend.py) picks the best runnable target at import. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include "cpu.h"
#include "kernels.h"
#include "leaky_c_api.h"

struct leaky_target {
    const char *name;
    const char *isa; /* comma-separated features, "" for none */
    const struct leaky_kernels *kernels;
};

static const struct leaky_target targets[] = {
    {"baseline", "", &leaky_kernels_baseline},
#ifdef LEAKY_X86_TARGETS
    {"avx2", LEAKY_ISA_avx2, &leaky_kernels_avx2},
    {"avx512", LEAKY_ISA_avx512, &leaky_kernels_avx512},
#endif
};
#define N_TARGETS ((int)(sizeof(targets) / sizeof(targets[0])))

static const char *const feature_names[LEAKY_FEATURE_COUNT] = {
#define LEAKY_FEATURE_NAME(name) #name,
    LEAKY_FEATURES(LEAKY_FEATURE_NAME)
#undef LEAKY_FEATURE_NAME
};

int leaky_feature_count(void) { return LEAKY_FEATURE_COUNT; }

const char *leaky_feature_name(int feature)
{
    return (feature >= 0 && feature < LEAKY_FEATURE_COUNT) ? feature_names[feature] : "";
}

/* Does the ISA word isa[0..len) name this feature ("avx512bf16" ~ "AVX512_BF16")? */
static int names_feature(const char *isa, size_t len, const char *name)
{
    size_t i = 0;
    for (; *name; name++) {
        if (*name == '_')
            continue;
        if (i == len || tolower((unsigned char)isa[i]) != tolower((unsigned char)*name))
            return 0;
        i++;
    }
    return i == len;
}

int leaky_target_requires(int target, int feature)
{
    if (target < 0 || target >= N_TARGETS || feature < 0 || feature >= LEAKY_FEATURE_COUNT)
        return 0;
    for (const char *word = targets[target].isa; *word;) {
        size_t len = 0;
        while (word[len] && word[len] != ',')
            len++;
        if (names_feature(word, len, feature_names[feature]))
            return 1;
        word += word[len] ? len + 1 : len;
    }
    return 0;
}

/* Every word of the target's ISA string must be a known feature the CPU has:
 * a word no feature matches makes the target unrunnable (and a test fails). */
int leaky_target_supported(int target)
{
    if (target < 0 || target >= N_TARGETS)
        return 0;
    size_t words = 0, found = 0;
    for (const char *p = targets[target].isa; *p; p++)
        words += (p == targets[target].isa || p[-1] == ',');
    for (int f = 0; f < LEAKY_FEATURE_COUNT; f++)
        if (leaky_target_requires(target, f)) {
            if (!leaky_cpu_has(f))
                return 0;
            found++;
        }
    return found == words;
}

int leaky_target_count(void) { return N_TARGETS; }

const char *leaky_target_name(int target)
{
    return (target >= 0 && target < N_TARGETS) ? targets[target].name : "";
}

static atomic_int active_target = 0;
_Atomic(const struct leaky_kernels *) leaky_active = &leaky_kernels_baseline;

int leaky_get_target(void) { return atomic_load(&active_target); }

int leaky_set_target(int target)
{
    if (!leaky_target_supported(target))
        return -1;
    atomic_store(&leaky_active, targets[target].kernels);
    atomic_store(&active_target, target);
    return 0;
}

/* The compiler that built this module, as show_config() reports it: a rebuild
 * with another CC must not reuse another compiler's objects (setup.py forces
 * the rebuild; tools/check_rebuild.sh checks this string after each one). */
#define LEAKY_STR_(x) #x
#define LEAKY_STR(x) LEAKY_STR_(x)
const char *leaky_compiler(void)
{
#if defined(__clang__)
    return "Clang " __clang_version__;
#elif defined(__GNUC__)
    return "GCC " __VERSION__;
#elif defined(_MSC_VER)
    return "MSVC " LEAKY_STR(_MSC_FULL_VER);
#else
    return "unknown compiler";
#endif
}
