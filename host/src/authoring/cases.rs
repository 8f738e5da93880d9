//! Saved cases (`cases/*.json`): an input, the binding configuration and
//! the expected output, run through the real runtime by `plugin test`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::invoke::{Input, error_json, invoke};
use super::request_file::RequestFile;
use crate::domain::Direction;
use crate::runtime::{LoadedPlugin, PluginRuntime};

/// One saved case. Adapters give `request`; guardrails and personas give
/// `message` (and a guardrail its `direction`, inbound by default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    request: Option<RequestFile>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    direction: Option<Direction>,
    /// What `plugin run` prints for this input (without `fuel_consumed`),
    /// or `{"error": …}` for a call that must fail.
    expect: Value,
}

/// The result of one case.
#[derive(Debug)]
pub struct CaseOutcome {
    pub case: PathBuf,
    pub expected: Value,
    pub actual: Value,
    /// Why the case could not run (unreadable file, wrong input kind).
    pub broken: Option<String>,
}

impl CaseOutcome {
    pub fn passed(&self) -> bool {
        self.broken.is_none() && self.expected == self.actual
    }

    /// A line diff of the pretty-printed JSON: `-` expected, `+` actual.
    pub fn diff(&self) -> String {
        let expected = serde_json::to_string_pretty(&self.expected).unwrap_or_default();
        let actual = serde_json::to_string_pretty(&self.actual).unwrap_or_default();
        line_diff(&expected, &actual)
    }
}

/// Run every case file against `plugin`.
pub fn run_cases(
    rt: &PluginRuntime,
    plugin: &Arc<LoadedPlugin>,
    name: &str,
    cases: &[PathBuf],
) -> Vec<CaseOutcome> {
    cases
        .iter()
        .map(|path| match run_case(rt, plugin, name, path) {
            Ok((expected, actual)) => CaseOutcome {
                case: path.clone(),
                expected,
                actual,
                broken: None,
            },
            Err(e) => CaseOutcome {
                case: path.clone(),
                expected: Value::Null,
                actual: Value::Null,
                broken: Some(format!("{e:#}")),
            },
        })
        .collect()
}

fn run_case(
    rt: &PluginRuntime,
    plugin: &Arc<LoadedPlugin>,
    name: &str,
    path: &Path,
) -> anyhow::Result<(Value, Value)> {
    let case: Case = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let input = match (case.request, case.message) {
        (Some(req), None) => Input::Request(req.into_request()?),
        (None, Some(text)) => Input::Message {
            text,
            direction: case.direction.unwrap_or(Direction::Inbound),
        },
        _ => anyhow::bail!("a case has either `request` or `message`"),
    };
    let call = invoke(rt, plugin, name, case.config, input)?;
    let actual = match call.outcome {
        Ok(v) => v,
        Err(e) => error_json(&e),
    };
    Ok((case.expect, actual))
}

/// The longest-common-subsequence diff of two short texts, line by line.
fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals before additions, as `diff -u` shows them.
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn diff_marks_removed_and_added_lines() {
        let d = super::line_diff("a\nb\nc", "a\nx\nc");
        assert_eq!(d, "  a\n- b\n+ x\n  c\n");
    }
}
