#ifndef FEDGE_BASE_CPU_FEATURES_H_
#define FEDGE_BASE_CPU_FEATURES_H_

// x86-64 vector instructions a kernel may use, found at run time (the
// binaries are built for the baseline x86-64, so one build serves every
// machine). False on other architectures.

namespace fedge {

// AVX and F16C, with the OS saving the YMM registers.
bool CpuHasF16c();
// AVX2, with the OS saving the YMM registers.
bool CpuHasAvx2();

}  // namespace fedge

#endif  // FEDGE_BASE_CPU_FEATURES_H_
