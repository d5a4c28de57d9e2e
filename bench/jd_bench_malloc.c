/*
 * jd_bench_malloc: counts heap allocations, for "no per-event malloc".
 *
 * The executable defines malloc/calloc/realloc; the dynamic linker binds
 * every library's calls (avro-c, glibc's own strdup, ...) to these, which
 * count and forward to glibc's implementation (__libc_*, exported by glibc
 * for exactly this). free is forwarded too, so memory from any allocator
 * entry point is released by the one it came from. Only built for
 * jd_bench_micro and never in the sanitizer build, whose runtime
 * interposes malloc itself. Any thread; the counter is atomic.
 */
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

uint64_t jd_bench_malloc_count;

void *malloc(size_t n)
{
    __atomic_add_fetch(&jd_bench_malloc_count, 1, __ATOMIC_RELAXED);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    __atomic_add_fetch(&jd_bench_malloc_count, 1, __ATOMIC_RELAXED);
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    __atomic_add_fetch(&jd_bench_malloc_count, 1, __ATOMIC_RELAXED);
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}
