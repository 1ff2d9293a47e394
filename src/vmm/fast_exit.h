// Ending a VMM process without waiting for KVM to tear the VM down.
//
// Destroying a VM with an in-kernel irqchip takes 20-30 ms on this host
// (measured: KVM_CREATE_IRQCHIP alone makes close(vm_fd) take ~19 ms; the
// whole machine ~28 ms), most of a one-shot run's wall time. The teardown
// needs no help from us, so a child that holds the last references to the
// KVM file descriptors does it after we have exited.
#pragma once

namespace insula::vmm {

// Exits the process with `status` now. Only the calling thread may be
// running. stdout/stderr are flushed; no destructors run.
[[noreturn]] void exit_leaving_teardown_to_child(int status);

}  // namespace insula::vmm
