//! Listening sockets: one per worker, all bound to the same address with
//! SO_REUSEPORT, so the kernel spreads incoming connections over the workers and
//! no accept queue or lock is shared between them.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The kernel's accept-queue cap, used as the default backlog (monoio's own
/// default of 1024 would silently cap it lower).
pub fn somaxconn() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// Checks that no other socket holds `addr`'s port, by binding a probe socket
/// without SO_REUSEPORT (SO_REUSEADDR only, so connections of an earlier run in
/// TIME_WAIT do not count); with port 0 the probe picks a free port. Returns
/// the address to bind the workers' listeners to; the probe is closed first.
/// `AddrInUse` when the port is taken.
pub fn exclusive(addr: SocketAddr) -> io::Result<SocketAddr> {
    let probe = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())?;
    probe
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("the probe socket has no IP address"))
}

/// Binds `count` listeners to `addr`. With port 0 the first socket picks the
/// ephemeral port and the others join it. Returns them and the bound address.
pub fn bind_all(
    addr: SocketAddr,
    count: usize,
    backlog: u32,
) -> io::Result<(Vec<TcpListener>, SocketAddr)> {
    let mut listeners = Vec::with_capacity(count);
    let mut bound = addr;
    for _ in 0..count.max(1) {
        let l = bind_one(bound, backlog)?;
        if bound.port() == 0 {
            bound = l.local_addr()?;
        }
        listeners.push(l);
    }
    Ok((listeners, bound))
}

fn bind_one(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // Non-blocking because monoio's epoll driver needs it; io_uring does not mind.
    let fd = cvt(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // Owned from here on, so every early return closes it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    // Accepted sockets inherit TCP_NODELAY on Linux; the connection sets it again
    // anyway so the behaviour does not hang on that.
    set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    let a = socket2::SockAddr::from(addr);
    // SAFETY: `a` holds a sockaddr of `a.len()` bytes; fd is our socket.
    cvt(unsafe { libc::bind(fd, a.as_ptr(), a.len()) })?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    cvt(unsafe { libc::listen(fd, backlog) })?;
    Ok(TcpListener::from(owned))
}

fn set_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn cvt(ret: i32) -> io::Result<i32> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_listeners_share_the_ephemeral_port() {
        let (ls, addr) = bind_all("127.0.0.1:0".parse().unwrap(), 3, 128).unwrap();
        assert_eq!(ls.len(), 3);
        assert_ne!(addr.port(), 0);
        for l in &ls {
            assert_eq!(l.local_addr().unwrap(), addr);
        }
    }

    #[test]
    fn the_probe_sees_a_port_held_by_reuseport_listeners() {
        let (_held, addr) = bind_all("127.0.0.1:0".parse().unwrap(), 2, 128).unwrap();
        let e = exclusive(addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        // Port 0 gives a free port, which the workers then take.
        let free = exclusive("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(free.port(), 0);
        assert!(bind_all(free, 2, 128).is_ok());
    }

    #[test]
    fn a_port_taken_without_reuseport_is_an_error() {
        // std does not set SO_REUSEPORT, so our sockets cannot join its port.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(bind_all(taken.local_addr().unwrap(), 1, 128).is_err());
    }
}
