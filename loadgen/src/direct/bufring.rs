//! A provided-buffer ring (IORING_REGISTER_PBUF_RING): one pool of receive
//! buffers per worker, shared by every connection's multishot receive. The kernel
//! picks a buffer only when data arrives, so an idle connection holds none; the
//! loop hands each buffer back as soon as its bytes are framed.
//!
//! Both the ring and the buffers are anonymous mappings: page-aligned as the
//! kernel wants, and untouched pages cost no memory (a 64 KiB buffer that only
//! ever holds a 150-byte response costs one page).

use io_uring::types::BufRingEntry;
use io_uring::{IoUring, Submitter};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

/// One anonymous private mapping, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from mmap above and are unmapped once. Owners make
        // sure the kernel no longer uses the memory (the ring is drained or gone,
        // or the owner is leaked instead of dropped).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// The buffer group's ring and its buffers.
pub struct BufRing {
    ring: Mapping,
    bufs: Mapping,
    entries: u16,
    buf_size: usize,
    /// Our tail, published to the kernel by [`BufRing::publish`].
    tail: u16,
    pub bgid: u16,
}

impl BufRing {
    /// `entries` buffers of `buf_size` bytes each; `entries` is a power of two
    /// (at most 32768), `buf_size` at most u32::MAX.
    pub fn new(entries: u16, buf_size: usize, bgid: u16) -> io::Result<Self> {
        assert!(entries.is_power_of_two());
        let ring = Mapping::new(entries as usize * std::mem::size_of::<BufRingEntry>())?;
        let bufs = Mapping::new(entries as usize * buf_size)?;
        let mut r = Self {
            ring,
            bufs,
            entries,
            buf_size,
            tail: 0,
            bgid,
        };
        for bid in 0..entries {
            r.recycle(bid);
        }
        r.publish();
        Ok(r)
    }

    /// Registers the ring with `submitter`'s io_uring.
    ///
    /// # Safety
    /// The ring must stay mapped until it is unregistered or the io_uring is gone,
    /// and the buffers until no operation can write to them: the owner drops this
    /// only after draining every receive, or leaks it.
    pub unsafe fn register(&self, submitter: &Submitter<'_>) -> io::Result<()> {
        submitter.register_buf_ring(self.ring.ptr as u64, self.entries, self.bgid)
    }

    /// Unregisters the ring (before the buffers go away with the io_uring still open).
    pub fn unregister(&self, ring: &IoUring) {
        let _ = ring.submitter().unregister_buf_ring(self.bgid);
    }

    /// The first `len` bytes of buffer `bid`, as the kernel filled them.
    ///
    /// # Safety
    /// `bid` must come from a completion that handed that buffer to us, with `len`
    /// its result, and must not have been recycled yet: until then the kernel does
    /// not write to it. The slice must be dropped before [`BufRing::recycle`].
    pub unsafe fn filled<'a>(&self, bid: u16, len: usize) -> &'a [u8] {
        debug_assert!(bid < self.entries && len <= self.buf_size);
        std::slice::from_raw_parts(self.bufs.ptr.add(bid as usize * self.buf_size), len)
    }

    /// Gives buffer `bid` back to the kernel (seen after the next publish).
    pub fn recycle(&mut self, bid: u16) {
        let slot = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: slot < entries, inside the ring mapping; the kernel only reads
        // entries between its head and the published tail, and this one is past it.
        let entry = unsafe { &mut *(self.ring.ptr as *mut BufRingEntry).add(slot) };
        // SAFETY: bid < entries, so the buffer lies inside the buffers mapping.
        let addr = unsafe { self.bufs.ptr.add(bid as usize * self.buf_size) };
        entry.set_addr(addr as u64);
        entry.set_len(self.buf_size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every recycled buffer visible to the kernel (one release store).
    pub fn publish(&self) {
        // SAFETY: the tail field sits inside the ring mapping (entry 0's reserved
        // field); the kernel reads it with acquire semantics, so a release store of
        // the u16 publishes the entries written before it.
        unsafe {
            let tail = BufRingEntry::tail(self.ring.ptr as *const BufRingEntry) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}
