//! `--source-ips`: outgoing connections bound round-robin to several local
//! addresses, so one target can take more connections than one source address's
//! ephemeral ports allow (each (source, target) pair has the whole port range).
//!
//! The socket is made here: `IP_BIND_ADDRESS_NO_PORT` before `bind(addr:0)` defers
//! the port choice to `connect`, which picks it knowing the full 4-tuple (without
//! it, bind would reserve a port per address and run out at the port range again).
//! The non-blocking connect is then awaited through monoio's writability wait.

use monoio::net::TcpStream;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The most addresses one `--source-ips` may name (a /16): each is checked by a bind.
pub const MAX_SOURCES: u64 = 65_536;

/// Parses `127.0.0.2-127.0.0.40`, `10.0.0.1,10.0.0.2`, `::1,fd00::2`, or a comma
/// list mixing addresses and IPv4 ranges. Order is kept; duplicates are refused
/// (they would double-count ports in the preflight).
pub fn parse(text: &str) -> Result<Vec<IpAddr>, String> {
    let mut out: Vec<IpAddr> = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("--source-ips {text:?}: empty item in the list"));
        }
        let bad = |what: &str| format!("--source-ips {text:?}: {what}");
        match item.split_once('-') {
            Some((lo, hi)) => {
                let lo: Ipv4Addr = lo.trim().parse().map_err(|_| {
                    bad(&format!(
                        "{item:?} is not an IPv4 range like 127.0.0.2-127.0.0.40 (IPv6: list the addresses)"
                    ))
                })?;
                let hi: Ipv4Addr = hi.trim().parse().map_err(|_| {
                    bad(&format!(
                        "{item:?} is not an IPv4 range like 127.0.0.2-127.0.0.40 (IPv6: list the addresses)"
                    ))
                })?;
                let (lo, hi) = (u32::from(lo), u32::from(hi));
                if hi < lo {
                    return Err(bad(&format!("range {item:?} ends before it starts")));
                }
                if u64::from(hi - lo) + 1 + out.len() as u64 > MAX_SOURCES {
                    return Err(bad(&format!("more than {MAX_SOURCES} addresses")));
                }
                out.extend((lo..=hi).map(|a| IpAddr::V4(Ipv4Addr::from(a))));
            }
            None => {
                let ip: IpAddr = item
                    .parse()
                    .map_err(|_| bad(&format!("{item:?} is not an IP address")))?;
                out.push(ip);
                if out.len() as u64 > MAX_SOURCES {
                    return Err(bad(&format!("more than {MAX_SOURCES} addresses")));
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    if let Some(dup) = out.iter().find(|ip| !seen.insert(**ip)) {
        return Err(format!("--source-ips {text:?}: {dup} is listed twice"));
    }
    Ok(out)
}

/// Checks the sources against the target before any load: same family, each
/// assigned to this machine (a bind to it succeeds). One line on failure.
pub fn validate(sources: &[IpAddr], target: SocketAddr) -> Result<(), String> {
    for &ip in sources {
        if ip.is_ipv4() != target.is_ipv4() {
            return Err(format!(
                "--source-ips: {ip} is {} but the target {target} is {}: use addresses of the target's family",
                family(ip),
                family(target.ip())
            ));
        }
        bound_socket(ip).map_err(|e| {
            format!("--source-ips: cannot bind to {ip} ({e}): is it assigned to a local interface? (ip addr add {ip}/32 dev lo)")
        })?;
    }
    Ok(())
}

/// Whether `ip` is this machine (loopback, unspecified, or assigned to an interface).
pub fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || bound_socket(ip).is_ok()
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// A non-blocking TCP socket (IPv4 or IPv6) with `TCP_NODELAY`: each request goes
/// out at once.
pub(crate) fn tcp_socket(ipv4: bool) -> io::Result<OwnedFd> {
    let domain = if ipv4 { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket(2); the fd is owned right away.
    let raw = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_one(&fd, libc::IPPROTO_TCP, libc::TCP_NODELAY)?;
    Ok(fd)
}

/// Sets the integer socket option `level`/`name` to 1.
fn set_one(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a c_int value of the right size on an open socket.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A non-blocking TCP socket bound to `ip` with the port left to `connect`.
pub(crate) fn bound_socket(ip: IpAddr) -> io::Result<OwnedFd> {
    let fd = tcp_socket(ip.is_ipv4())?;
    set_one(&fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT)?;
    let a = socket2::SockAddr::from(SocketAddr::new(ip, 0));
    // SAFETY: `a` holds a sockaddr of `a.len()` bytes.
    if unsafe { libc::bind(fd.as_raw_fd(), a.as_ptr(), a.len()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Connects to `addr`, from `source` when given (its port chosen by the kernel at
/// connect time), else as monoio does.
pub async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(ip) = source else {
        return TcpStream::connect_addr(addr).await;
    };
    let fd = bound_socket(ip)?;
    let a = socket2::SockAddr::from(addr);
    // SAFETY: `a` holds a sockaddr of `a.len()` bytes; fd is a socket.
    let r = unsafe { libc::connect(fd.as_raw_fd(), a.as_ptr(), a.len()) };
    let pending = if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        true
    } else {
        false
    };
    let stream = TcpStream::from_std(std::net::TcpStream::from(fd))?;
    if pending {
        // Not relaxed: on the epoll driver a fresh registration may look writable.
        stream.writable(false).await?;
        if let Some(e) = take_error(&stream)? {
            return Err(e);
        }
    }
    set_blocking_for_uring(&stream)?;
    Ok(stream)
}

/// io_uring drives blocking sockets (monoio makes its own that way): on a
/// non-blocking one a read or write would hand EAGAIN back instead of waiting.
/// The epoll driver needs it non-blocking, as it is.
fn set_blocking_for_uring(stream: &TcpStream) -> io::Result<()> {
    if monoio::utils::is_legacy() {
        return Ok(());
    }
    let fd = stream.as_raw_fd();
    // SAFETY: fcntl on a descriptor the stream owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// SO_ERROR: how the non-blocking connect ended.
fn take_error(stream: &TcpStream) -> io::Result<Option<io::Error>> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a c_int of the given size.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_and_lists() {
        let r = parse("127.0.0.2-127.0.0.4").unwrap();
        assert_eq!(r, vec![v4("127.0.0.2"), v4("127.0.0.3"), v4("127.0.0.4")]);
        let r = parse("10.0.0.255-10.0.1.0, 127.0.0.9").unwrap();
        assert_eq!(r, vec![v4("10.0.0.255"), v4("10.0.1.0"), v4("127.0.0.9")]);
        assert_eq!(parse("::1,fd00::2").unwrap().len(), 2);
        assert_eq!(parse("127.0.0.7").unwrap(), vec![v4("127.0.0.7")]);
    }

    #[test]
    fn bad_lists_are_refused() {
        for bad in [
            "",
            "127.0.0.4-127.0.0.2",
            "127.0.0.1,",
            "nope",
            "::1-::3",
            "127.0.0.1,127.0.0.1",
            "10.0.0.0-10.2.0.0",
            "127.0.0.1-",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn family_and_locality_are_checked() {
        let target: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert!(validate(&[v4("127.0.0.2")], target).is_ok());
        let e = validate(&["::1".parse().unwrap()], target).unwrap_err();
        assert!(e.contains("IPv6"), "{e}");
        // TEST-NET-3: never assigned here.
        let e = validate(&[v4("203.0.113.77")], target).unwrap_err();
        assert!(e.contains("cannot bind"), "{e}");
    }
}
