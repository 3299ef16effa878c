//! `include/uapi/asm-generic/errno-base.h` / `errno.h`: the error numbers the modelled kernel functions return.

use std::fmt;

/// A kernel error number (returned negated, as `-EINVAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[allow(missing_docs)] // The variants are the kernel's names.
pub enum Errno {
    ENOENT,
    E2BIG,
    EAGAIN,
    ENOMEM,
    EFAULT,
    EBUSY,
    EEXIST,
    EINVAL,
    ENOSPC,
    ERANGE,
    EILSEQ,
    EOPNOTSUPP,
}

impl Errno {
    /// The positive number.
    #[must_use]
    pub fn value(self) -> i32 {
        match self {
            Errno::ENOENT => 2,
            Errno::E2BIG => 7,
            Errno::EAGAIN => 11,
            Errno::ENOMEM => 12,
            Errno::EFAULT => 14,
            Errno::EBUSY => 16,
            Errno::EEXIST => 17,
            Errno::EINVAL => 22,
            Errno::ENOSPC => 28,
            Errno::ERANGE => 34,
            Errno::EILSEQ => 84,
            Errno::EOPNOTSUPP => 95,
        }
    }

    /// The negated number as a helper or syscall returns it (`-EINVAL`).
    #[must_use]
    pub fn negated(self) -> i64 {
        -i64::from(self.value())
    }

    /// The name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Errno::ENOENT => "ENOENT",
            Errno::E2BIG => "E2BIG",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::EINVAL => "EINVAL",
            Errno::ENOSPC => "ENOSPC",
            Errno::ERANGE => "ERANGE",
            Errno::EILSEQ => "EILSEQ",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{} ({})", self.name(), -self.value())
    }
}
