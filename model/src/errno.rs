//! The errno values livepatch returns, by name (include/uapi/asm-generic/errno-base.h).

const TABLE: &[(u8, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (4, "EINTR"),
    (5, "EIO"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (14, "EFAULT"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (19, "ENODEV"),
    (22, "EINVAL"),
    (28, "ENOSPC"),
    (38, "ENOSYS"),
    (98, "EADDRINUSE"),
];

/// Also `EWOULDBLOCK` (the same number on Linux).
pub const EAGAIN: u8 = 11;
pub const EBUSY: u8 = 16;
pub const EEXIST: u8 = 17;
pub const EINVAL: u8 = 22;

/// The symbolic name of an errno, or its number when it has none here.
pub fn name(errno: u8) -> String {
    TABLE
        .iter()
        .find(|(n, _)| *n == errno)
        .map(|(_, s)| s.to_string())
        .unwrap_or_else(|| errno.to_string())
}

/// Parses `ENODEV`, `-19` or `19` (the sign is ignored: the kernel returns -errno).
pub fn parse(text: &str) -> Option<u8> {
    if let Some((n, _)) = TABLE.iter().find(|(_, s)| *s == text) {
        return Some(*n);
    }
    let n: i64 = text.trim().parse().ok()?;
    u8::try_from(n.unsigned_abs()).ok()
}

/// What userspace prints for an errno (strerror; insmod's text for EINVAL).
pub fn strerror(errno: u8) -> &'static str {
    match errno {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        11 => "Resource temporarily unavailable",
        12 => "Cannot allocate memory",
        16 => "Device or resource busy",
        17 => "File exists",
        19 => "No such device",
        22 => "Invalid argument",
        _ => "Unknown error",
    }
}
