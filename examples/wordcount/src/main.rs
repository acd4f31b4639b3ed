//! `wordcount DIR [BATCH_SIZE]`: counts the words of DIR's files on the local burst runtime.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use burst::LocalRuntime;
use wordcount::{request, WordCountCombiner, WordCountWorker, COMBINER, WORKER};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        bail!("usage: wordcount DIR [BATCH_SIZE]");
    };
    let batch_size = args
        .next()
        .map(|s| s.parse())
        .transpose()
        .context("BATCH_SIZE must be a number")?
        .unwrap_or(10);
    let runtime = LocalRuntime::builder()
        .worker(WORKER, Arc::new(WordCountWorker))
        .combiner(COMBINER, Arc::new(WordCountCombiner))
        .build()?;
    let outcome = runtime.run(request(&dir, batch_size, 20)?).await?;
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    Ok(())
}
