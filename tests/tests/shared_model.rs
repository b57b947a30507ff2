//! whisper-local's instances share one loaded model: the daemon the operator runs (its own
//! process, the default config) holds one copy of the weights however many instances
//! transcribe, and each further instance costs only its working memory.

use scribe_tests::process::memory_after;

const MIB: u64 = 1024 * 1024;
/// The least an instance that loads its own tiny.en adds; it is about 300 MiB, so less means
/// the comparison measured nothing.
const LEAST_MODEL: u64 = 100 * MIB;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_instance_costs_less_than_half_a_model() {
    let work = tempfile::tempdir().expect("tempdir");
    let clips = scribe_tests::human_speech().await.expect("clips").with_file_name("");
    // Builds the shared snapshot into the suite's cache if it is not there yet, so that no
    // measured daemon carries the build's leftovers.
    memory_after(&work.path().join("warm-up"), &clips.join("beckett.wav"), "instances = 1").await;
    // 44 s of reading: two chunks, so two instances work at once.
    let reading = clips.join("two_cities.wav");
    let one = memory_after(&work.path().join("one"), &reading, "instances = 1").await;
    let two = memory_after(&work.path().join("two"), &reading, "instances = 2").await;
    let two_unshared = memory_after(&work.path().join("two-unshared"), &reading, "instances = 2\nshare_model = false").await;
    let model = two_unshared.proportional.saturating_sub(one.proportional);
    let second = two.proportional.saturating_sub(one.proportional);
    eprintln!(
        "memory (PSS / VmRSS): 1 instance {} / {} MiB, 2 sharing {} / {} MiB, 2 not sharing {} / {} MiB",
        one.proportional / MIB,
        one.resident / MIB,
        two.proportional / MIB,
        two.resident / MIB,
        two_unshared.proportional / MIB,
        two_unshared.resident / MIB
    );
    assert!(model > LEAST_MODEL, "a second instance with its own model adds {} MiB", model / MIB);
    assert!(second < model / 2, "a second sharing instance adds {} MiB; one with its own model adds {} MiB", second / MIB, model / MIB);
}
