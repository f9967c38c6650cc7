//! CPU time read from `/proc`: a thread's own, or a server process's by its pid.

use std::fs;
use std::io;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`), which Linux fixes at 100 on every
/// architecture it exposes to user space.
const TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU seconds of the calling thread.
pub(crate) fn this_thread() -> io::Result<f64> {
    stat_seconds(&fs::read_to_string("/proc/thread-self/stat")?)
}

/// User plus system CPU seconds of process `pid`.
pub(crate) fn process(pid: u32) -> io::Result<f64> {
    stat_seconds(&fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// `utime + stime` from a `stat` line. The command name in parentheses may hold spaces, so the
/// fields are counted from the last `)`: state is field 3, utime 14 and stime 15.
fn stat_seconds(stat: &str) -> io::Result<f64> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed /proc stat line");
    let (_, fields) = stat.rsplit_once(')').ok_or_else(malformed)?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let ticks = |index: usize| -> io::Result<f64> {
        let field = fields.get(index - 3).ok_or_else(malformed)?;
        field.parse::<f64>().map_err(|_| malformed())
    };
    Ok((ticks(14)? + ticks(15)?) / TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let line = "42 (postgres: (x) y) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0";
        assert_eq!(stat_seconds(line).unwrap(), 4.0);
    }

    #[test]
    fn the_calling_threads_cpu_time_reads_from_proc() {
        assert!(this_thread().unwrap() >= 0.0);
    }
}
