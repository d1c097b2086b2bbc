//! Views of a [`crate::result::RunResult`]: wrk's (and wrk2's) text layout, the JSON
//! document, the `.hgrm` percentile table, the HdrHistogram interval log and an HTML page.
//! Each is a function of the result alone (its `config` says how the run was set up
//! and what to show); none reads a Plan.

pub mod hgrm;
pub mod hlog;
pub mod html;
pub mod json;
pub mod text;

use crate::result::{Config, RunResult};
use std::io::Write as _;
use std::path::PathBuf;

/// Where a document goes: standard output or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    File(PathBuf),
}

/// Every view a run or a merge asks for.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// No text report.
    pub quiet: bool,
    /// The text report goes to stderr, because stdout carries data (`--json -`,
    /// `--out -`).
    pub text_to_stderr: bool,
    pub json: Option<Sink>,
    pub hgrm: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub hlog: Option<PathBuf>,
}

impl Outputs {
    /// Creates every output file now, so one that cannot be written is found
    /// before the work rather than after; the error names the flag and the file.
    pub fn check(&self) -> Result<(), String> {
        let json = match &self.json {
            Some(Sink::File(p)) => Some(("--json", p)),
            _ => None,
        };
        let files = [
            ("--hgrm", self.hgrm.as_ref()),
            ("--html", self.html.as_ref()),
            ("--hlog", self.hlog.as_ref()),
        ];
        for (flag, path) in files
            .into_iter()
            .filter_map(|(f, p)| p.map(|p| (f, p)))
            .chain(json)
        {
            std::fs::File::create(path)
                .map_err(|e| format!("cannot write {flag} {}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// Prints the text report and writes every other view of `result`. Each
    /// failure is one line (the flag and the cause); the rest are still written.
    pub fn write(&self, result: &RunResult) -> Vec<String> {
        self.write_with(result, text::render(result))
    }

    /// Prints wrk's two header lines (`Running 10.00s test @ URL`, threads and
    /// connections) as a run starts, where the report will go; the run then
    /// ends with [`Outputs::finish`], so the text reads as wrk's, printed once.
    pub fn start(&self, cfg: &Config) -> std::io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        self.print(&text::header(cfg))
    }

    /// [`Outputs::write`] after [`Outputs::start`]: the text without its header.
    pub fn finish(&self, result: &RunResult) -> Vec<String> {
        self.write_with(result, text::body(result))
    }

    fn print(&self, text: &str) -> std::io::Result<()> {
        if self.text_to_stderr {
            std::io::stderr().write_all(text.as_bytes())
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()
        }
    }

    fn write_with(&self, result: &RunResult, text: String) -> Vec<String> {
        let mut failed = Vec::new();
        if !self.quiet {
            if let Err(e) = self.print(&text) {
                failed.push(format!("could not print the report: {e}"));
            }
        }
        if let Some(path) = &self.hgrm {
            let text = shared::stats::codec::decode_base64(&result.latency.histogram)
                .map(|h| hgrm::spectrum(&h))
                .map_err(std::io::Error::other);
            if let Err(e) = text.and_then(|t| std::fs::write(path, t)) {
                failed.push(format!("could not write --hgrm {}: {e}", path.display()));
            }
        }
        if let Some(path) = &self.html {
            if let Err(e) = std::fs::write(path, html::render(result)) {
                failed.push(format!("could not write --html {}: {e}", path.display()));
            }
        }
        if let Some(path) = &self.hlog {
            if let Err(e) = hlog::write(path, result) {
                failed.push(format!("could not write --hlog {}: {e}", path.display()));
            }
        }
        if let Some(out) = &self.json {
            if let Err(e) = json::write(out, result) {
                failed.push(format!("could not write the JSON result: {e}"));
            }
        }
        failed
    }
}
