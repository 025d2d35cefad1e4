#ifndef FEDGE_BASE_HEAP_POLICY_H_
#define FEDGE_BASE_HEAP_POLICY_H_

// How a process hosting many logical clients (a simulation's client
// process) keeps its heap.
//
// glibc serves a block above its mmap threshold with a fresh mapping and
// unmaps it when freed, and trims the heap's top above its trim threshold;
// both thresholds move with what the process last freed. A client process
// frees model-sized blocks all the time (gradients, deltas, encoded updates
// freed by ZeroMQ's thread), so each of its 0.8 MB blocks was often faulted
// in page by page again: 7,400 page faults per round of 200 mlp tasks, most
// of them in the training thread (measured with perf, docs/scale.md).
//
// KeepFreedHeap fixes the thresholds: blocks below 4 MB come from the heap
// and freed memory stays there for the next task (274-320 page faults in
// the same window). The process's resident size then stays near its peak
// instead of shrinking between rounds, and the peak of a 10,000-client
// process (1,000 a round over CURVE) rose from 506-512 MB to 533-547 MB. A single device
// does not call it: it returns its training heap between tasks (TorchTrainer
// without keep_models).

namespace fedge {

// Process-wide; call before the threads start. No-op outside glibc.
void KeepFreedHeap();

}  // namespace fedge

#endif  // FEDGE_BASE_HEAP_POLICY_H_
