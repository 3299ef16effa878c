//! The BPF object loader (`bpf_object__open_mem`), then loading it into a runtime: maps created (`map_create`),
//! programs relocated and verified.
#![no_main]

use kernel_model::bpf::runtime::BpfRuntime;
use kernel_model::bpf::BpfObject;
use kernel_model::profile::KernelProfile;
use kernel_model::Isa;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(obj) = BpfObject::parse("fuzz.bpf.o", data) else { return };
    let mut rt = BpfRuntime::new(KernelProfile::V6_12, Isa::Aarch64, 2);
    let _ = rt.load(&obj);
});
