// SPDX-License-Identifier: MIT OR Apache-2.0
//! The crate's only `unsafe` code: `getsockopt`/`setsockopt` on a borrowed descriptor, and the
//! byte views of the uapi structs they pass. Everything else is safe code over `set`, `get`,
//! `get_bytes` and `Pod`.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::uapi::{SockLevelHash, SockLevelHashInfo, SockLevelHashQueue, SOL_SOCKET};

/// Plain integer structs that any byte pattern is a valid value of.
///
/// # Safety
/// Implement only for `#[repr(C)]` structs made of integers, without padding.
pub(crate) unsafe trait Pod: Copy {
    /// Reads a value from the start of `bytes`, or `None` when `bytes` is too short.
    fn read_from(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < size_of::<Self>() {
            return None;
        }
        // SAFETY: `bytes` holds at least `size_of::<Self>()` bytes (checked above), the read is
        // unaligned-safe, and by the trait's contract every bit pattern is a valid `Self`.
        Some(unsafe { bytes.as_ptr().cast::<Self>().read_unaligned() })
    }

    /// The value's bytes, as the kernel reads them.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `self` is a live value of `size_of::<Self>()` bytes; by the trait's contract
        // it has no padding, so every byte is initialised.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast::<u8>(), size_of::<Self>()) }
    }
}

// SAFETY: the three structs are `#[repr(C)]`, all-integer, and the asserts in uapi.rs prove their
// sizes equal the sums of their fields (no padding).
unsafe impl Pod for SockLevelHash {}
// SAFETY: as above.
unsafe impl Pod for SockLevelHashInfo {}
// SAFETY: as above.
unsafe impl Pod for SockLevelHashQueue {}
// SAFETY: a plain integer.
unsafe impl Pod for i32 {}

/// `setsockopt(fd, SOL_SOCKET, name)` with `value`'s bytes.
pub(crate) fn set<T: Pod>(fd: BorrowedFd<'_>, name: libc::c_int, value: &T) -> io::Result<()> {
    let bytes = value.as_bytes();
    // SAFETY: `bytes` is a live buffer of `bytes.len()` bytes that the kernel only reads, and
    // `fd` is a descriptor borrowed for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_SOCKET,
            name,
            bytes.as_ptr().cast(),
            bytes.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt` into `value`; returns the length the kernel wrote.
pub(crate) fn get<T: Pod>(
    fd: BorrowedFd<'_>,
    name: libc::c_int,
    value: &mut T,
) -> io::Result<usize> {
    // SAFETY: `T: Pod` has no padding and accepts any bit pattern, so its bytes may be viewed
    // and overwritten as a byte slice for as long as `value` is mutably borrowed.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut((value as *mut T).cast::<u8>(), size_of::<T>()) };
    get_bytes(fd, name, bytes)
}

/// `getsockopt(fd, SOL_SOCKET, name)` into `buf`; returns the length the kernel wrote.
pub(crate) fn get_bytes(
    fd: BorrowedFd<'_>,
    name: libc::c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `buf` is writable for `len` bytes, the kernel writes at most `len` bytes and
    // stores the written length in `len`; `fd` is borrowed for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            SOL_SOCKET,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(len as usize)
    } else {
        Err(io::Error::last_os_error())
    }
}
