//! Which loop a run gets: the direct io_uring loop when the kernel does what the
//! loop needs (registered files, a provided-buffer ring, multishot receive), else
//! monoio's worker, saying why in the engine's reason. Closed-loop and paced
//! (`-R`) runs alike: both drivers run the same core.

use super::bufring::BufRing;
use io_uring::{cqueue, opcode, types};
use shared::runtime::{EngineChoice, IoEngine, RingFlags};
use std::sync::OnceLock;

/// Decides whether `choice` runs the generator's direct loop. `_paced` (a `-R`
/// run) no longer matters: paced runs take the direct loop too, on its
/// nanosecond ring timeouts.
pub fn choose(mut choice: EngineChoice, _paced: bool) -> EngineChoice {
    let Some(flags) = choice.ring_flags else {
        return choice;
    };
    if choice.requested == IoEngine::Monoio {
        return choice;
    }
    match probe(flags) {
        Ok(()) => {
            choice.direct = true;
            choice
                .reason
                .push_str("; multishot receive, provided buffers, registered files");
        }
        Err(why) => {
            choice.reason.push_str(&format!(
                "; direct loop unavailable ({why}), monoio's io_uring driver instead"
            ));
        }
    }
    choice
}

/// Tries, once per process, the operations the direct loop uses on a socket pair.
fn probe(flags: RingFlags) -> Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT.get_or_init(|| try_ops(flags)).clone()
}

fn try_ops(flags: RingFlags) -> Result<(), String> {
    let mut ring = flags
        .builder()
        .build(8)
        .map_err(|e| format!("ring setup: {e}"))?;
    ring.submitter()
        .register_files_sparse(1)
        .map_err(|e| format!("registered files (kernel 5.19+): {e}"))?;
    let pool = BufRing::new(1, 64, 0).map_err(|e| format!("buffer mapping: {e}"))?;
    // SAFETY: the pool outlives the registration: it is unregistered below, or
    // leaked when a receive may still be pending.
    unsafe { pool.register(&ring.submitter()) }
        .map_err(|e| format!("provided buffer rings (kernel 5.19+): {e}"))?;
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors socketpair writes.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        pool.unregister(&ring);
        return Err(format!("socketpair: {}", std::io::Error::last_os_error()));
    }
    let mut armed = false;
    let result = recv_once(&mut ring, fds, &mut armed);
    // SAFETY: both descriptors came from socketpair above and are closed once.
    unsafe {
        libc::close(fds[1]);
    }
    // The peer is gone: an armed receive ends with end-of-file. Wait for it (a few
    // tries) so the buffers outlive it; else leak them.
    for _ in 0..4 {
        if !armed || ring.submit_and_wait(1).is_err() {
            break;
        }
        for c in ring.completion() {
            armed &= cqueue::more(c.flags());
        }
    }
    let _ = ring.submitter().register_files_update(0, &[-1]);
    // SAFETY: fds[0] came from socketpair and is closed once.
    unsafe {
        libc::close(fds[0]);
    }
    if armed {
        drop(ring);
        std::mem::forget(pool);
    } else {
        pool.unregister(&ring);
        drop(ring);
        drop(pool);
    }
    result
}

/// Arms one multishot receive on a registered socket and checks its first
/// completion; `armed` says whether it may still be pending.
fn recv_once(ring: &mut io_uring::IoUring, fds: [i32; 2], armed: &mut bool) -> Result<(), String> {
    ring.submitter()
        .register_files_update(0, &[fds[0]])
        .map_err(|e| format!("registered files update: {e}"))?;
    let recv = opcode::RecvMulti::new(types::Fixed(0), 0)
        .build()
        .user_data(1);
    // SAFETY: the receive writes only into the registered pool, which outlives it.
    unsafe { ring.submission().push(&recv) }.map_err(|_| "submission queue full".to_string())?;
    *armed = true;
    // SAFETY: writes one byte from a static buffer to a descriptor we own.
    if unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) } != 1 {
        return Err(format!(
            "socketpair write: {}",
            std::io::Error::last_os_error()
        ));
    }
    ring.submit_and_wait(1)
        .map_err(|e| format!("io_uring_enter: {e}"))?;
    let Some(c) = ring.completion().next() else {
        return Err("no completion".into());
    };
    *armed = cqueue::more(c.flags());
    if c.result() < 0 {
        let e = std::io::Error::from_raw_os_error(-c.result());
        return Err(format!("multishot receive (kernel 6.0+): {e}"));
    }
    if c.result() != 1 || cqueue::buffer_select(c.flags()).is_none() || !*armed {
        return Err("multishot receive did not stay armed (kernel 6.0+)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::runtime::choose_engine;

    #[test]
    fn epoll_and_monoio_never_run_direct() {
        let epoll = choose(choose_engine(IoEngine::Epoll).unwrap(), false);
        assert!(!epoll.direct);
        if let Ok(c) = choose_engine(IoEngine::Monoio) {
            assert!(!choose(c, false).direct);
        }
    }

    #[test]
    fn paced_runs_take_the_direct_loop_too() {
        if let Ok(c) = choose_engine(IoEngine::Uring) {
            let probed = probe(c.ring_flags.unwrap());
            assert_eq!(choose(c, true).direct, probed.is_ok());
        }
    }

    #[test]
    fn closed_loop_uring_is_direct_when_the_probe_passes() {
        if let Ok(c) = choose_engine(IoEngine::Uring) {
            let probed = probe(c.ring_flags.unwrap());
            let c = choose(c, false);
            assert_eq!(c.direct, probed.is_ok(), "{}", c.reason);
            assert!(c.describe().contains(if c.direct {
                "direct loop"
            } else {
                "unavailable"
            }));
        }
    }
}
