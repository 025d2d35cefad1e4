#include "base/cpu_features.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FEDGE_X86_64 1
#endif

namespace fedge {

#ifdef FEDGE_X86_64
namespace {

struct Features {
  bool f16c = false;
  bool avx2 = false;
};

// By hand rather than __builtin_cpu_supports, which clang 14 lacks "f16c" for.
Features Detect() {
  Features f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return f;
  constexpr unsigned kOsxsave = 1u << 27, kAvx = 1u << 28, kF16c = 1u << 29;
  if ((c & (kOsxsave | kAvx)) != (kOsxsave | kAvx)) return f;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 0x6) != 0x6) return f;  // XMM and YMM state saved by the OS
  f.f16c = (c & kF16c) != 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) != 0) f.avx2 = (b & (1u << 5)) != 0;
  return f;
}

const Features& Cached() {
  static const Features f = Detect();
  return f;
}

}  // namespace

bool CpuHasF16c() { return Cached().f16c; }
bool CpuHasAvx2() { return Cached().avx2; }

#else

bool CpuHasF16c() { return false; }
bool CpuHasAvx2() { return false; }

#endif

}  // namespace fedge
