//! Word counts of a small generated corpus, through the local runtime's full state machine.

use std::sync::Arc;
use std::time::Duration;

use burst::{JobState, LocalRuntime};
use serde_json::json;
use wordcount::{request, WordCountCombiner, WordCountWorker, COMBINER, WORKER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_words_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..25 {
        let text = format!("The cat sat. the DOG ran!\nfile{i} {}", "fly ".repeat(i));
        std::fs::write(dir.path().join(format!("f{i:02}.txt")), text).unwrap();
    }
    let runtime = LocalRuntime::builder()
        .worker(WORKER, Arc::new(WordCountWorker))
        .combiner(COMBINER, Arc::new(WordCountCombiner))
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let req = request(dir.path(), 4, 3).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), runtime.run(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.state, JobState::Succeeded);
    assert_eq!(outcome.num_batches, 7);
    // Per file: the x2, cat, sat, dog, ran, fileN = 7 words, plus i times "fly".
    let flies: u64 = (0..25).sum();
    assert_eq!(
        outcome.result.unwrap(),
        json!({
            "words": 25 * 7 + flies,
            "top": [{"word": "fly", "count": flies}, {"word": "the", "count": 50}, {"word": "cat", "count": 25}],
            "missingBatches": [],
        })
    );
}
