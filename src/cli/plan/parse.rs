//! Plan text to a [`Plan`]: defaults filled in, every phase checked, and every error named
//! by file, line, phase and field.

use super::Plan;
use super::file::PlanFile;
use super::validate::validate_phase;
use crate::cli::error::{CliError, CliResult};
use crate::cli::store::SyncSetting;
use std::path::Path;

/// Where a plan came from, for error messages.
struct Source<'a> {
    name: &'a str,
    text: &'a str,
}

impl Source<'_> {
    /// 1-based line of byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// The line of `field = ...` inside byte range `within`, or of the range's start.
    fn field_line(&self, within: std::ops::Range<usize>, field: &str) -> usize {
        let start = within.start.min(self.text.len());
        let end = within.end.min(self.text.len());
        let mut offset = start;
        for line in self.text[start..end].split_inclusive('\n') {
            let trimmed = line.trim_start();
            if trimmed.starts_with(field) && trimmed[field.len()..].trim_start().starts_with('=') {
                return self.line_of(offset);
            }
            offset += line.len();
        }
        self.line_of(start)
    }

    fn error(&self, line: usize, message: String) -> CliError {
        CliError::Plan(format!("{}:{line}: {message}", self.name))
    }
}

impl Plan {
    /// Read and parse a plan file.
    pub fn load(path: &Path) -> CliResult<Plan> {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::io(path, source))?;
        Plan::parse(&text, &path.display().to_string())
    }

    /// Parse and validate plan text; `name` is the file name for messages.
    pub fn parse(text: &str, name: &str) -> CliResult<Plan> {
        let source = Source { name, text };
        let file: PlanFile = toml::from_str(text).map_err(|error| {
            let line = error
                .span()
                .map(|span| source.line_of(span.start))
                .unwrap_or(1);
            let message = error.message().trim().to_string();
            source.error(line, format!("{message}\n{error}"))
        })?;
        let mut plan = Plan {
            name: file.name.unwrap_or_else(|| "plan".to_string()),
            description: file.description.unwrap_or_default(),
            keys: file.keys.unwrap_or(100_000),
            value_size: file.value_size.unwrap_or(100),
            threads: file.threads.unwrap_or(1),
            sync: file.sync.unwrap_or(SyncSetting::Off),
            seed: file.seed.unwrap_or(42),
            phases: Vec::with_capacity(file.phase.len()),
        };
        let header_end = file
            .phase
            .first()
            .map(|phase| phase.span().start)
            .unwrap_or(text.len());
        plan.validate_settings().map_err(|(field, message)| {
            source.error(
                source.field_line(0..header_end, field),
                format!("field `{field}`: {message}"),
            )
        })?;
        if file.phase.is_empty() {
            return Err(source.error(
                1,
                "the plan has no phases (add a `[[phase]]` table)".to_string(),
            ));
        }
        for (index, spanned) in file.phase.into_iter().enumerate() {
            let span = spanned.span();
            let phase_file = spanned.into_inner();
            let kind = phase_file.kind.clone();
            let phase = phase_file.into_phase().map_err(|(field, message)| {
                source.error(
                    source.field_line(span.clone(), field),
                    format!("phase {} ({kind}): field `{field}`: {message}", index + 1),
                )
            })?;
            validate_phase(&phase).map_err(|(field, message)| {
                source.error(
                    source.field_line(span.clone(), field),
                    format!(
                        "phase {} ({}): field `{field}`: {message}",
                        index + 1,
                        phase.kind()
                    ),
                )
            })?;
            plan.phases.push(phase);
        }
        Ok(plan)
    }
}
