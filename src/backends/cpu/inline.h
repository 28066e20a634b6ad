/* DL_INLINE: a kernel helper the compiler must inline (its vector accumulators stay in
 * registers only then). */
#ifndef DL_BACKENDS_CPU_INLINE_H
#define DL_BACKENDS_CPU_INLINE_H

#if defined(__GNUC__)
#define DL_INLINE static inline __attribute__((always_inline))
#else
#define DL_INLINE static inline
#endif

#endif
