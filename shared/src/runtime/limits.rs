//! Process limits a load test runs into: open files (one per connection).

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft open-files limit to the hard one and returns the new soft limit.
/// Many distributions start processes at 1024 while allowing far more.
pub fn raise_open_files() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_never_lowers() {
        let before = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .unwrap()
            .0;
        assert!(super::raise_open_files() >= before);
    }
}
