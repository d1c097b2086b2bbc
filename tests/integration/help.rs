//! `--help` of every command, as the binary prints it: a snapshot each
//! (tests/integration/snapshots/help/, `CEILING_UPDATE_SNAPSHOTS=1` rewrites
//! them), and no flag or argument without a line that says what it does.

use std::process::Command;

use crate::support::ceiling_bin;

const COMMANDS: [&[&str]; 10] = [
    &[],
    &["run"],
    &["serve"],
    &["machine"],
    &["ramp"],
    &["compare"],
    &["matrix"],
    &["tune"],
    &["plan"],
    &["merge"],
];

fn help(command: &[&str]) -> String {
    let out = Command::new(ceiling_bin())
        .args(command)
        .arg("--help")
        // clap wraps at the terminal's width: the same width everywhere.
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{command:?} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The entries of the `Arguments:` and `Options:` sections of a long help:
/// (the flag line, its description), the description empty when there is none.
fn entries(text: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut in_section = false;
    for line in text.lines() {
        if line == "Arguments:" || line == "Options:" {
            in_section = true;
            continue;
        }
        if !line.starts_with(' ') && !line.is_empty() {
            in_section = false;
            continue;
        }
        if !in_section || line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent <= 6 {
            // `  -t, --threads <THREADS>`, `      --cpus <LIST>`, `  [URL]`; a short
            // help (`-h`) has the description on the same line.
            let trimmed = line.trim();
            let (flag, text) = match trimmed.find("  ") {
                Some(i) => (&trimmed[..i], trimmed[i..].trim()),
                None => (trimmed, ""),
            };
            entries.push((flag.to_string(), text.to_string()));
        } else if let Some(last) = entries.last_mut() {
            if !last.1.is_empty() {
                last.1.push(' ');
            }
            last.1.push_str(line.trim());
        }
    }
    entries
}

#[test]
fn every_flag_of_every_command_says_what_it_does() {
    for command in COMMANDS {
        let text = help(command);
        let entries = entries(&text);
        assert!(
            entries.len() > 1,
            "{command:?}: no options found in\n{text}"
        );
        for (flag, description) in &entries {
            assert!(
                !description.is_empty(),
                "{command:?}: {flag} has no description\n{text}"
            );
        }
        // The usage line names the command as typed.
        let usage = text
            .lines()
            .find(|l| l.starts_with("Usage: "))
            .unwrap_or_else(|| panic!("{command:?}: no usage line"));
        let name = ["ceiling"]
            .iter()
            .chain(command.iter())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            usage.starts_with(&format!("Usage: {name} ")),
            "{command:?}: {usage}"
        );
        snapshot(command, &text);
    }
    // The top-level help lists every command.
    let top = help(&[]);
    for command in COMMANDS.iter().filter(|c| !c.is_empty()) {
        assert!(
            top.contains(&format!("\n  ceiling {} ", command[0])),
            "{command:?} missing from\n{top}"
        );
    }
}

#[test]
fn the_entry_reader_finds_a_flag_without_description() {
    let text = "Usage: x\n\nOptions:\n  -a <A>\n          Does a\n\n      --b <B>\n\n  -h, --help\n          Print help\n";
    let e = entries(text);
    assert_eq!(e.len(), 3);
    assert_eq!(e[0], ("-a <A>".to_string(), "Does a".to_string()));
    assert_eq!(e[1].1, "");
    let short = "Options:\n      --bind <ADDR>   Address to listen on\n      --cpus <LIST>\n";
    let e = entries(short);
    assert_eq!(e[0].1, "Address to listen on");
    assert_eq!(e[1].1, "");
}

fn snapshot(command: &[&str], actual: &str) {
    let name = if command.is_empty() {
        "ceiling".to_string()
    } else {
        command.join("-")
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/snapshots/help")
        .join(format!("{name}.txt"));
    if std::env::var_os("CEILING_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).expect("write the snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == actual,
        "{name} --help changed (CEILING_UPDATE_SNAPSHOTS=1 rewrites {}):\n--- want\n{want}\n--- got\n{actual}",
        path.display()
    );
}
