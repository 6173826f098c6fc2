/* nghttp2's allocations from free lists of the worker, one per size class.
 *
 * A session allocates and frees a stream, its outbound items and a copy of
 * the response's field array for every request: six mallocs and ten frees,
 * about 800 instructions through glibc. A block here carries its class in a
 * 16-byte header and goes back to its list when freed, at most
 * SL_H2_MEM_KEEP blocks a class; larger blocks, and blocks past that, go to
 * malloc and free. The largest class is 1 KiB: a session's own buffers,
 * larger, rounded up to a class would cost an idle connection 3 KiB more
 * (18.5 against 15.3). A worker is one thread, so the lists take no lock.
 *
 * Under AddressSanitizer a block on a list is poisoned, so that a use after
 * free still stops the build's tests. */
#ifndef SL_H2_MEM_H
#define SL_H2_MEM_H

#include <nghttp2/nghttp2.h>

/* Blocks kept per class: with the classes' sizes (64 to 1024 bytes), at
 * most about 0.5 MiB a worker stays allocated after a burst of streams. */
#define SL_H2_MEM_KEEP 256

/* The allocator to give nghttp2_session_*_new3; the same for every session
 * of the worker. */
nghttp2_mem *sl_h2_mem(void);

/* Returns the kept blocks to malloc (a worker's exit, and the unit tests). */
void sl_h2_mem_release(void);

#endif
