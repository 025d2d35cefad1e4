#include "base/heap_policy.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fedge {

void KeepFreedHeap() {
#if defined(__GLIBC__)
  // 32 MB is glibc's largest mmap threshold on 64-bit; setting either value
  // also stops glibc from moving them.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace fedge
