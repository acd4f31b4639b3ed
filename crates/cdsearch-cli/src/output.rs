//! Printing a search report (table, JSON, CSV or NeuronBridge JSON) and what a job could not do, shared by
//! `cdsearch search` and `cdsearch submit`.

use anyhow::bail;
use cdsearch::neuronbridge::{custom_matches, CustomMatches, HitFiles};
use cdsearch::results::{CsvHit, Hit, SearchReport};
use clap::ValueEnum;
use std::io::Write;

/// Output format of the ranked hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for reading.
    Table,
    /// The whole report as JSON (NeuronBridge field names).
    Json,
    /// One row per hit: mask,rank,target,matchingPixels,matchingRatio,mirrored
    /// (and with `--shape`: shapeScored,gradientAreaGap,highExpressionArea,
    /// shapeScore,normalizedScore).
    Csv,
    /// NeuronBridge's own result JSON: a list with, per mask, `inputImage`
    /// and `results` (CDSMatch entries: image, files, mirrored,
    /// normalizedScore, matchingPixels), sorted by matchingPixels. Files are
    /// the mask path as given and target names within the library.
    Neuronbridge,
}

/// Prints the report on stdout in `format` and the unreadable targets on
/// stderr; fails when no target could be searched.
pub fn print_report(report: &SearchReport, format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Table => write_table(&mut out, report)?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        OutputFormat::Csv => write_csv(&mut out, report)?,
        OutputFormat::Neuronbridge => {
            serde_json::to_writer_pretty(&mut out, &neuronbridge_matches(report))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    report_unreadable(report);
    if report.searched == 0 {
        bail!("no target could be searched (see the reasons above)");
    }
    Ok(())
}

/// Lists, on stderr, the batches of a job that failed or gave no result.
pub fn warn_incomplete(outcome: &burst::JobOutcome) {
    for failure in &outcome.failed_batches {
        eprintln!(
            "batch {} failed after {} attempt(s): {}",
            failure.batch_id, failure.attempts, failure.cause
        );
    }
    if !outcome.missing_batches.is_empty() {
        eprintln!(
            "{} batch(es) without a result: {:?}",
            outcome.missing_batches.len(),
            outcome.missing_batches
        );
    }
}

/// The rows printed for each hit: mask, rank (1-based), target, pixels,
/// ratio, mirrored.
fn rows(report: &SearchReport) -> impl Iterator<Item = (&str, usize, &Hit)> {
    report.masks.iter().flat_map(|m| {
        m.results
            .iter()
            .enumerate()
            .map(move |(i, hit)| (m.mask_id.as_str(), i + 1, hit))
    })
}

fn write_table(out: &mut impl Write, report: &SearchReport) -> anyhow::Result<()> {
    for mask in &report.masks {
        writeln!(
            out,
            "mask {} ({} mask pixels): {} hits of {} targets",
            mask.mask_id,
            mask.mask_pixels,
            mask.results.len(),
            report.targets
        )?;
        let width = mask
            .results
            .iter()
            .map(|h| h.image_name.len())
            .max()
            .unwrap_or(0)
            .max("target".len());
        let shaped = mask.results.iter().any(|h| h.shape.is_some());
        write!(
            out,
            "{:>5}  {:<width$}  {:>14}  {:>8}  mirrored",
            "rank", "target", "matchingPixels", "ratio"
        )?;
        writeln!(
            out,
            "{}",
            if shaped {
                "  normalizedScore  shapeScore"
            } else {
                ""
            }
        )?;
        for (i, hit) in mask.results.iter().enumerate() {
            write!(
                out,
                "{:>5}  {:<width$}  {:>14}  {:>8.4}  {:<8}",
                i + 1,
                hit.image_name,
                hit.matching_pixels,
                hit.matching_ratio,
                if hit.mirrored { "yes" } else { "no" }
            )?;
            match &hit.shape {
                Some(s) if s.shape_scored => {
                    writeln!(out, "  {:>15.2}  {:>10}", s.normalized_score, s.shape_score)?
                }
                Some(_) => writeln!(out, "  not shape-scored")?,
                None => writeln!(out)?,
            }
        }
    }
    Ok(())
}

/// Library name of the hits of a CLI search that do not carry one.
const CLI_LIBRARY: &str = "library";

/// The report in NeuronBridge's result JSON, one entry per mask.
fn neuronbridge_matches(report: &SearchReport) -> Vec<CustomMatches> {
    report
        .masks
        .iter()
        .map(|mask| {
            custom_matches(
                &mask.mask_id,
                &mask.mask_id,
                mask.results.iter().map(|hit| {
                    let library = hit.library_name.as_deref().unwrap_or(CLI_LIBRARY);
                    HitFiles::of_hit(hit, library, &hit.image_name, None)
                }),
            )
        })
        .collect()
}

fn write_csv(out: &mut impl Write, report: &SearchReport) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let shaped = rows(report).any(|(_, _, h)| h.shape.is_some());
    w.write_record(CsvHit::header(&[], shaped))?;
    for (mask, rank, hit) in rows(report) {
        let row = CsvHit {
            mask,
            rank,
            image_name: &hit.image_name,
            matching_pixels: hit.matching_pixels,
            matching_ratio: hit.matching_ratio,
            mirrored: hit.mirrored,
            shape: hit.shape.as_ref(),
        };
        w.write_record(row.cells(&[], shaped))?;
    }
    w.flush()?;
    Ok(())
}

/// Lists the targets that could not be searched, on stderr.
fn report_unreadable(report: &SearchReport) {
    if report.unreadable.is_empty() {
        return;
    }
    eprintln!(
        "{} target(s) could not be searched:",
        report.unreadable.len()
    );
    for u in &report.unreadable {
        eprintln!("  {}: {}", u.image_name, u.reason);
    }
}
