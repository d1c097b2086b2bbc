//! A gunicorn-like pre-fork server for the campaigns' `--server-pid` tests:
//! `forking_server.py`, a master that only waits and workers that do the work.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// The master process, stopped with SIGTERM (it ends its workers) on drop.
pub struct Forking {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Forking {
    /// Starts `forking_server.py ARGS` and waits for its "listening on" line.
    pub fn start(args: &[&str]) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/integration/support/forking_server.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the pre-fork test server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the server's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("an address");
        Self { child, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Forking {
    fn drop(&mut self) {
        // SIGTERM to this PID only: the master ends its own workers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
