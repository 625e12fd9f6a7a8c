#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The number of files (sockets included) this process may have open.
///
/// Every connection to an endpoint, to the benchmark's sink and from an API client is a descriptor. Running out is
/// not an error the process can report well: connections fail at random, and libdispatch's thread pool monitor
/// traps when it cannot open `/proc`. So commands that open many connections first raise the soft limit as far as
/// the hard limit allows (as servers commonly do; `ulimit -n` often starts at 1024) and refuse to start, with one
/// line, when it still falls short.
public enum OpenFileLimit {
    #if canImport(Glibc)
    private static let resource = Int32(RLIMIT_NOFILE.rawValue)
    /// The most the soft limit is raised to.
    private static let ceiling = rlim_t(1 << 20)
    #else
    private static let resource = RLIMIT_NOFILE
    /// Darwin refuses a soft limit above `OPEN_MAX` even when the hard limit is unlimited.
    private static let ceiling = rlim_t(OPEN_MAX)
    #endif

    /// The soft and hard limits now in force.
    public static func current() -> (soft: Int, hard: Int) {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return (Int.max, Int.max) }
        return (Int(clamping: limit.rlim_cur), Int(clamping: limit.rlim_max))
    }

    /// The soft limit `raise()` aims for: the hard limit, at most 1,048,576 (`OPEN_MAX` on Darwin); never lower
    /// than the soft limit already is.
    public static var target: Int {
        let (soft, hard) = current()
        return max(soft, min(hard, Int(ceiling)))
    }

    /// Raises the soft limit to `target` and returns the limit now in force.
    @discardableResult
    public static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return Int.max }
        let target = rlim_t(Self.target)
        if limit.rlim_cur < target {
            limit.rlim_cur = target
            _ = setrlimit(resource, &limit)
        }
        return current().soft
    }

    /// Raises the limit, then throws when fewer than `needed` files may be open; `reason` says what needs them.
    public static func require(_ needed: Int, for reason: String) throws {
        let limit = raise()
        guard limit >= needed else {
            throw HooktopError.invalid(
                "\(reason) needs \(needed) open files, but this process may open only \(limit) (see ulimit -n)")
        }
    }
}
