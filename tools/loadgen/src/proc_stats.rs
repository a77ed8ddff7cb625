//! What Linux says about a process: memory from `/proc/PID/status`, CPU time from
//! `/proc/PID/stat`. Also the open-file limit, which thousands of sockets need raised.

use std::fs;
use std::io;

use serde::Serialize;

/// A process's memory at one moment, in KiB as the kernel reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
    /// The highest resident set size so far (`VmHWM`, the "high water mark").
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid` (`"self"` works too).
pub fn memory(pid: &str) -> io::Result<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/status has no VmRSS/VmHWM lines"),
        )
    })
}

fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    Some(Memory {
        rss_kib: field("VmRSS")?,
        hwm_kib: field("VmHWM")?,
    })
}

/// CPU time `pid` has used so far, user plus system, in clock ticks (see
/// [`clock_ticks_per_second`]).
pub fn cpu_ticks(pid: &str) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat is not in the expected format"),
        )
    })
}

fn parse_stat(stat: &str) -> Option<u64> {
    // Field 2, the command name, is in parentheses and may itself hold spaces and
    // parentheses, so counting starts after the last `)`. Fields 14 and 15 are utime
    // and stime; after the `)` field 3 is the first, so they are the 12th and 13th.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// How many clock ticks make a second in `/proc/PID/stat`. Almost always 100 on Linux,
/// but asked rather than assumed.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// Raises this process's soft limit on open files to at least `wanted` if the hard
/// limit allows. Returns the soft limit in force afterwards; an error says why it could
/// not be raised far enough.
// `rlim_t` is `u64` here but not on every platform libc supports, so the casts stay.
#[allow(clippy::unnecessary_cast)]
pub fn raise_open_file_limit(wanted: u64) -> Result<u64, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!(
            "could not read the open-file limit: {}",
            io::Error::last_os_error()
        ));
    }
    let current = limit.rlim_cur as u64;
    if current >= wanted {
        return Ok(current);
    }
    let hard = limit.rlim_max as u64;
    let target = wanted.min(hard);
    limit.rlim_cur = target as libc::rlim_t;
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(format!(
            "could not raise the open-file limit from {current} to {target}: {}",
            io::Error::last_os_error()
        ));
    }
    if target < wanted {
        return Err(format!(
            "the open-file limit is {target} (the hard limit), but {wanted} are wanted; \
             raise it with `ulimit -Hn` as root or in limits.conf"
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read() {
        let status = "Name:\tstep-4\nVmHWM:\t   10240 kB\nVmRSS:\t    8192 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(status),
            Some(Memory {
                rss_kib: 8192,
                hwm_kib: 10240
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn stat_survives_a_name_with_spaces_and_parentheses() {
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0";
        assert_eq!(parse_stat(stat), Some(325));
    }

    #[test]
    fn this_process_can_be_read() {
        let memory = memory("self").unwrap();
        assert!(memory.rss_kib > 0 && memory.hwm_kib >= memory.rss_kib);
        cpu_ticks("self").unwrap();
        assert!(clock_ticks_per_second() > 0);
    }
}
