//! A short slice of the decoder fuzz loop, so that CI runs it: a few
//! thousand mutated inputs, no panic, no input over the allocation limit.

use cds_fuzz::alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn a_few_thousand_mutated_inputs_neither_panic_nor_overallocate() {
    let seeds = cds_fuzz::seeds::load(&cds_fuzz::seeds::fixture_dir()).unwrap();
    assert!(seeds.iter().filter(|s| s.fixture).count() >= 15);
    let summary = cds_fuzz::run(&seeds, 3000, 16, |_| {});
    let findings: Vec<_> = summary
        .findings
        .iter()
        .map(|f| format!("{} from {}: {}", f.iteration, f.seed, f.what))
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(summary.inputs, 3000);
    // The mutations reach both sides of every decoder, and the counting
    // allocator sees the decoders' buffers.
    for d in &summary.decoders {
        assert!(d.ok > 0 && d.errors > 0, "{d:?}");
    }
    assert!(summary.max_peak > 1000, "{summary}");
}
