//! `include/uapi/asm-generic/errno-base.h` / `errno.h`: the error numbers the modelled kernel functions return.

use std::fmt;

/// A kernel error number (returned negated, as `-EINVAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[allow(missing_docs)] // The variants are the kernel's names.
pub enum Errno {
    EPERM,
    ENOENT,
    ESRCH,
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
    EADDRNOTAVAIL,
}

/// Every errno the model knows.
const ALL: [Errno; 15] = [
    Errno::EPERM,
    Errno::ENOENT,
    Errno::ESRCH,
    Errno::E2BIG,
    Errno::EAGAIN,
    Errno::ENOMEM,
    Errno::EFAULT,
    Errno::EBUSY,
    Errno::EEXIST,
    Errno::EINVAL,
    Errno::ENOSPC,
    Errno::ERANGE,
    Errno::EILSEQ,
    Errno::EOPNOTSUPP,
    Errno::EADDRNOTAVAIL,
];

impl Errno {
    /// The positive number.
    #[must_use]
    pub fn value(self) -> i32 {
        match self {
            Errno::EPERM => 1,
            Errno::ENOENT => 2,
            Errno::ESRCH => 3,
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
            Errno::EADDRNOTAVAIL => 99,
        }
    }

    /// The negated number as a helper or syscall returns it (`-EINVAL`).
    #[must_use]
    pub fn negated(self) -> i64 {
        -i64::from(self.value())
    }

    /// The errno whose number is `value` (positive), if the model knows it.
    #[must_use]
    pub fn from_value(value: i32) -> Option<Errno> {
        ALL.into_iter().find(|e| e.value() == value)
    }

    /// The name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::ESRCH => "ESRCH",
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
            Errno::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{} ({})", self.name(), -self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_round_trip() {
        for e in ALL {
            assert_eq!(Errno::from_value(e.value()), Some(e));
        }
        assert_eq!(Errno::from_value(22), Some(Errno::EINVAL));
        assert_eq!(Errno::from_value(4), None);
        assert_eq!(Errno::EADDRNOTAVAIL.to_string(), "-EADDRNOTAVAIL (-99)");
    }
}
