#include "base/heap_policy.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fedge {

void KeepFreedHeap() {
#if defined(__GLIBC__)
  // Setting either value also stops glibc from moving them. 4 MB covers
  // model-sized blocks (an mlp is 0.8 MB); a local data set as one tensor
  // (19 MB for 6,000 images) still gets a mapping of its own, returned when
  // freed (with 32 MB a 10,000-client process peaked at 560 MB, with 4 MB
  // at 547 MB: one run each).
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace fedge
