//! Every flag of every generator subcommand fed random strings and extreme
//! values: no panic, and only the documented outcomes of checking (Ok: the
//! command would run, exit 0 or 1; bad usage: exit 2), never "could not
//! complete" before any load. In process, each command as far as its checks go
//! ([`Reach::Checks`]): nothing is sent, no server started, no setting changed.
//! The flags come from each command's own clap declaration, so a new flag is
//! covered without touching this file.

use crate::campaign::{self, Reach};
use crate::distributed::{merge, plan_cmd};
use crate::error::CliError;
use clap::{ArgAction, CommandFactory};
use proptest::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;

/// Values that broke load generators: out of range, non-finite, negative,
/// sub-tick, overflowing, empty.
const EXTREMES: [&str; 30] = [
    "0",
    "-1",
    "1",
    "1e20",
    "1e300",
    "-1e300",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "4294967296",
    "2147483648",
    "1e-300",
    "0.0000001",
    "500us",
    "1ns",
    "0s",
    "10ms",
    "1e20s",
    "99999999999999999999s",
    "584942417355y",
    "",
    " ",
    "-",
    "1,2,0",
    "p99<1e300s",
    "a=b",
];

/// A scratch directory for the file flags: a path in it may be created; the
/// directory itself cannot be written as a file.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ceiling-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A value for `arg`: files only inside the scratch directory, target URLs only
/// on loopback port 1 (nothing listens; nothing is sent anyway), anything else
/// random or extreme.
fn value_for(arg: &clap::Arg) -> BoxedStrategy<String> {
    let name = arg
        .get_value_names()
        .and_then(|v| v.first().map(|s| s.to_string()))
        .unwrap_or_default();
    let id = arg.get_id().as_str();
    if name.contains("FILE") || id == "file" || id == "files" || id == "plan" {
        let dir = scratch();
        let inside = dir.join("out").to_string_lossy().into_owned();
        let missing = dir.join("no-such").join("f").to_string_lossy().into_owned();
        let itself = dir.to_string_lossy().into_owned();
        return prop_oneof![
            Just("-".to_string()),
            Just(inside),
            Just(missing),
            Just(itself)
        ]
        .boxed();
    }
    if id == "target" || id == "targets" || id == "url" {
        return prop_oneof![
            Just("http://127.0.0.1:1/".to_string()),
            Just("a=http://127.0.0.1:1/".to_string()),
            Just("http://u:p%zz@127.0.0.1:1/".to_string()),
            Just("https://127.0.0.1:1/".to_string()),
            Just("=".to_string()),
        ]
        .boxed();
    }
    prop_oneof![
        proptest::sample::select(&EXTREMES[..]).prop_map(String::from),
        "\\PC{0,16}",
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        (
            any::<u32>(),
            proptest::sample::select(&["ns", "us", "ms", "s", "m", "h", "d", "y"][..])
        )
            .prop_map(|(n, u)| format!("{n}{u}")),
    ]
    .boxed()
}

/// Up to three of `cmd`'s flags (never its positionals), each with a value.
fn flags_of(cmd: clap::Command) -> BoxedStrategy<Vec<String>> {
    let flags: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional())
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
        .cloned()
        .collect();
    let one = proptest::sample::select(flags).prop_flat_map(|arg| {
        let flag = match (arg.get_long(), arg.get_short()) {
            (Some(l), _) => format!("--{l}"),
            (_, Some(s)) => format!("-{s}"),
            _ => unreachable!("a flag has a name"),
        };
        if arg.get_action().takes_values() {
            value_for(&arg)
                .prop_map(move |v| vec![flag.clone(), v])
                .boxed()
        } else {
            Just(vec![flag]).boxed()
        }
    });
    proptest::collection::vec(one, 1..=3)
        .prop_map(|v| v.into_iter().flatten().collect())
        .boxed()
}

/// Runs a command's checks on `argv`; fails on an outcome it may not have.
fn check(
    call: fn(&[OsString], Reach) -> Result<(), CliError>,
    argv: Vec<String>,
) -> Result<(), TestCaseError> {
    let os: Vec<OsString> = argv.iter().map(OsString::from).collect();
    match call(&os, Reach::Checks) {
        Ok(()) | Err(CliError::Usage(_)) => Ok(()),
        Err(e @ CliError::Failed(_)) => Err(TestCaseError::fail(format!(
            "{argv:?}: a check ended as 'could not complete': {e}"
        ))),
    }
}

fn with(head: &[&str], flags: Vec<String>, tail: &[&str]) -> Vec<String> {
    head.iter()
        .map(|s| s.to_string())
        .chain(flags)
        .chain(tail.iter().map(|s| s.to_string()))
        .collect()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn run_flags(flags in flags_of(crate::options::RunArgs::command())) {
        check(crate::command, with(&["ceiling"], flags, &["http://127.0.0.1:1/"]))?;
    }

    /// The same flags against an https:// URL: the certificate flags are read
    /// and checked; the preflight finds nothing listening (as a run would), so
    /// a check never ends as "could not complete".
    #[test]
    fn run_flags_over_https(flags in flags_of(crate::options::RunArgs::command())) {
        check(crate::command, with(&["ceiling"], flags, &["https://127.0.0.1:1/"]))?;
    }

    #[test]
    fn plan_flags(flags in flags_of(plan_cmd::PlanArgs::command())) {
        let out = scratch().join("plan.json").to_string_lossy().into_owned();
        check(plan_cmd::command, with(&["plan", "--nodes", "2", "-o", &out], flags, &["http://127.0.0.1:1/"]))?;
    }

    /// `ceiling plan` of an https:// URL reads no certificate file and makes
    /// no handshake: any flag's outcome is a plan or bad usage.
    #[test]
    fn plan_flags_over_https(flags in flags_of(plan_cmd::PlanArgs::command())) {
        let out = scratch().join("plan-https.json").to_string_lossy().into_owned();
        check(plan_cmd::command, with(&["plan", "--nodes", "2", "-o", &out], flags, &["https://127.0.0.1:1/"]))?;
    }

    #[test]
    fn merge_flags(flags in flags_of(merge::MergeArgs::command())) {
        check(merge::command, with(&["merge"], flags, &["/nonexistent/node.jsonl"]))?;
    }

    #[test]
    fn ramp_flags(flags in flags_of(campaign::ramp::Args::command())) {
        check(campaign::ramp::command, with(&["ramp", "http://127.0.0.1:1/"], flags, &[]))?;
    }

    #[test]
    fn compare_flags(flags in flags_of(campaign::compare::Args::command())) {
        check(campaign::compare::command, with(&["compare"], flags, &["a=http://127.0.0.1:1/", "b=http://127.0.0.1:1/x"]))?;
    }

    #[test]
    fn tune_flags(flags in flags_of(campaign::tune::Args::command())) {
        let file = scratch().join("profiles.toml");
        // Server-side profiles only: no kernel setting is involved.
        std::fs::write(&file, "[profiles.a]\n[profiles.b]\nio_engine = \"epoll\"\n").unwrap();
        let file = file.to_string_lossy().into_owned();
        check(campaign::tune::command, with(&["tune", &file], flags, &[]))?;
    }

    #[test]
    fn machine_flags(flags in flags_of(campaign::machine::Args::command())) {
        check(campaign::machine::command, with(&["machine"], flags, &[]))?;
    }

    #[test]
    fn matrix_flags(flags in flags_of(campaign::matrix::Args::command())) {
        let file = scratch().join("matrix.toml");
        std::fs::write(&file, "args = [\"-c\", \"1\"]\n[[targets]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\n[[endpoints]]\nname = \"e\"\npath = \"/\"\n").unwrap();
        let file = file.to_string_lossy().into_owned();
        check(campaign::matrix::command, with(&["matrix", &file], flags, &[]))?;
    }

    /// A matrix cell's own flags come from its file: random ones there too.
    #[test]
    fn matrix_cell_flags(flags in flags_of(crate::options::RunArgs::command())) {
        let file = scratch().join(format!("cell-{}.toml", std::process::id()));
        let args: Vec<String> = flags.iter().map(|f| format!("{f:?}")).collect();
        let text = format!("args = [{}]\n[[targets]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\n[[endpoints]]\nname = \"e\"\npath = \"/\"\n", args.join(", "));
        // A value TOML cannot hold is not a case.
        prop_assume!(toml::from_str::<toml::Value>(&text).is_ok());
        std::fs::write(&file, text).unwrap();
        let file = file.to_string_lossy().into_owned();
        check(campaign::matrix::command, vec!["matrix".into(), file])?;
    }
}
